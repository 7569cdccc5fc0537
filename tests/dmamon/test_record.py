"""``record``: header, set-up, expect once, no silent overwrite, announced."""

from __future__ import annotations

import io
from pathlib import Path

from dmamon.cli import MachineOptions, build_machine, make_monitor


def session(devices: list[str]) -> tuple[object, io.StringIO]:
    opts = MachineOptions(devices=devices)
    buf = io.StringIO()
    return make_monitor(build_machine(opts), opts, buf, buf), buf


def test_recording_has_header_setup_and_each_expect_once(tmp_path: Path) -> None:
    mon, buf = session(["amd-iommu", "edu,id=edu0"])
    path = tmp_path / "s.dmamon"
    mon.execute("fix reentrancy-guard off")  # type: ignore[attr-defined]
    mon.execute(f"record {path}")  # type: ignore[attr-defined]
    mon.execute("expect print 2 == 2")  # type: ignore[attr-defined]
    mon.execute("record stop")  # type: ignore[attr-defined]
    assert path.read_text().splitlines() == [
        "# machine: -device amd-iommu -device edu,id=edu0",
        "# recorded by dmamon: replay with `dmamon run FILE`",
        "fix reentrancy-guard off",
        "expect print 2 == 2",
    ]
    assert f"recording to {path}" in buf.getvalue()
    assert f"recording stopped: {path} (1 command)" in buf.getvalue()


def test_record_does_not_overwrite_without_f(tmp_path: Path) -> None:
    mon, buf = session([])
    path = tmp_path / "s.dmamon"
    path.write_text("precious\n")
    assert not mon.execute(f"record {path}")  # type: ignore[attr-defined]
    assert path.read_text() == "precious\n"
    assert "record -f" in buf.getvalue()
    assert mon.execute(f"record -f {path}")  # type: ignore[attr-defined]
    mon.execute("record stop")  # type: ignore[attr-defined]
    assert "precious" not in path.read_text()


def test_expect_paused_holds_in_prelaunch_as_the_shell_shows_it() -> None:
    opts = MachineOptions(paused=True)
    buf = io.StringIO()
    mon = make_monitor(build_machine(opts), opts, buf, buf)
    assert mon.execute("expect info status == paused")
    assert mon.execute("expect info status == paused (prelaunch)")
    assert mon.execute("expect info status == prelaunch")
    assert not mon.execute("expect info status == running")


def test_help_expect_is_plain_text() -> None:
    mon, buf = session([])
    mon.execute("help expect")  # type: ignore[attr-defined]
    assert "``" not in buf.getvalue() and "prelaunch" in buf.getvalue()
