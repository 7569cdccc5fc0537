"""A recorded session replays: record, then ``dmamon run`` the file, and the final machine
state is the same (issue 9: no header, lost set-up, ``expect CMD`` run twice)."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from dmamon.cli import MachineOptions, build_machine, make_monitor, script_options
from dmamon.monitor import Monitor

SETUP = st.lists(
    st.sampled_from(
        [
            "fix reentrancy-guard off",
            "fix bh-guard off",
            "device_add edu,id=extra",
            "trace-event edu_dma_start on",
            "log guest_errors",
        ]
    ),
    max_size=3,
    unique=True,
)

# Commands with effects; `expect` over a read-to-clear-free but state-moving command
# (clock_step) catches a command recorded twice.
ACTIONS = st.lists(
    st.one_of(
        st.builds(
            lambda a, v: f"writel {a:#x} {v:#x}",
            st.integers(0, 15).map(lambda i: i * 4),
            st.integers(0, 2**32 - 1),
        ),
        st.builds(lambda n: f"expect clock_step {n} > 0", st.integers(1, 10**6)),
        st.builds(lambda n: f"clock_step {n}", st.integers(1, 10**6)),
        st.just("outl 0xcf8 0x80000810"),
        st.just("outl 0xcfc 0xfe000000"),
        st.just("stop"),
        st.just("cont"),
    ),
    max_size=8,
)

PROBES = ["info status", "xp /16xw 0", "info pci", "fix", "clock", "info trace-events edu_*"]


def state(mon: Monitor) -> list[str]:
    with mon.capture() as lines:
        for probe in PROBES:
            mon.execute(probe)
    return lines


@given(
    devices=st.sampled_from([[], ["amd-iommu"], ["edu,id=edu0", "edu,id=b"]]),
    setup=SETUP,
    actions=ACTIONS,
)
def test_a_recorded_session_replays_to_the_same_state(
    tmp_path_factory: object, devices: list[str], setup: list[str], actions: list[str]
) -> None:
    path = Path(tmp_path_factory.mktemp("rec")) / "s.dmamon"  # type: ignore[attr-defined]
    opts = MachineOptions(devices=list(devices))
    mon = make_monitor(build_machine(opts), opts, io.StringIO(), io.StringIO())
    for line in setup:
        assert mon.execute(line), line
    assert mon.execute(f"record {path}")
    for line in actions:
        assert mon.execute(line), line
    assert mon.execute("record stop")
    live = state(mon)
    mon.close()

    replay_opts = script_options(path, MachineOptions())
    again = make_monitor(build_machine(replay_opts), replay_opts, io.StringIO(), io.StringIO())
    assert again.run_file(path), again.failures
    assert state(again) == live
    again.close()
