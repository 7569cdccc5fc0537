"""Random lines and random files never produce a traceback, a cmd2 hint or an internal error."""

from __future__ import annotations

import io
from pathlib import Path

from dmamon.devices import Machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmamon.commands import AREAS  # noqa: F401
from dmamon.monitor import COMMANDS, Monitor
from dmamon.shell import DmamonShell

TOKENS = st.sampled_from(
    [
        "0",
        "0x1000",
        "-1",
        "0xfe000000",
        "edu0",
        "edu0.dma_cmd",
        "edu0+4",
        "/4xw",
        "/x",
        "/c",
        "/1000000xg",
        "on",
        "off",
        "read",
        "write",
        "step",
        "1ms",
        "==",
        ">",
        "'",
        '"',
        "(",
        ")",
        "*",
        "edu",
        "id=x",
        "--json",
        "--peek",
        "dma_cmd",
        "run=1",
        "0xzz",
        "99999999999999999999",
        "reentrancy-guard",
        "memory_region_ops_*",
        "guest_errors",
        "$pc",
        "\\",
        "#",
        "|",
        "1/0",
    ]
)
LINES = st.builds(
    lambda cmd, args: " ".join([cmd, *args]),
    st.sampled_from(sorted(COMMANDS) + ["info mtree", "info pci", "bogus", "xp/2x"]),
    st.lists(st.one_of(TOKENS, st.text(max_size=6)), max_size=5),
)
BAD = ("Traceback", "To enable full traceback", "internal error")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, min_size=1, max_size=8))
def test_random_lines_never_show_a_traceback(lines: list[str]) -> None:
    buf = io.StringIO()
    mon = Monitor(Machine(ram_size=1 << 24), buf, buf)
    shell = DmamonShell(mon, stdin=io.StringIO(), stdout=buf)
    for line in lines:
        if line.split(" ", 1)[0] in ("quit", "q", "record", "logfile", "pmemsave", "source"):
            continue  # these touch files or end the loop: covered by their own tests
        shell.onecmd_plus_hooks(line)
    out = buf.getvalue()
    assert not any(b in out for b in BAD), out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=200))
def test_random_files_never_show_a_traceback(tmp_path: Path, data: bytes) -> None:
    script = tmp_path / "fuzz.dmamon"
    script.write_bytes(data)
    buf = io.StringIO()
    mon = Monitor(Machine(ram_size=1 << 24), buf, buf)
    try:
        mon.run_file(script, keep_going=True)
    except Exception as e:  # only MonitorError (unreadable file) may escape
        assert type(e).__name__ == "MonitorError"
    assert not any(b in buf.getvalue() for b in BAD)
