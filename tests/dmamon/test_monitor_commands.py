"""The monitor's commands, one behaviour each, through Monitor.execute (no cmd2)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from monitor_session import make_monitor, run_lines

from dmamon.commands import AREAS  # noqa: F401
from dmamon.monitor import Monitor

make = make_monitor
run = run_lines


def enable_edu(mon: Monitor, buf: io.StringIO) -> None:
    run(
        mon,
        buf,
        "o /w 0xcf8 0x80000810",
        "o /w 0xcfc 0xfe000000",
        "o /w 0xcf8 0x80000804",
        "o /h 0xcfc 6",
    )


def test_unknown_command_reports_qemus_message() -> None:
    mon, buf = make()
    assert run(mon, buf, "nosuchcommand") == "unknown command: 'nosuchcommand'\n"
    assert mon.failed


def test_info_status_reports_running() -> None:
    mon, buf = make()
    assert run(mon, buf, "info status") == "VM status: running\n"


def test_unknown_info_subcommand_reports_qemus_message() -> None:
    mon, buf = make()
    assert run(mon, buf, "info nosuch") == "unknown command: 'info nosuch'\n"


def test_print_follows_hmp_formats() -> None:
    mon, buf = make()
    assert run(mon, buf, "print 0x10+2", "p /d 0x10", "p /u -1", "p /o 8", "p /c 65") == (
        "0x12\n16\n18446744073709551615\n010\n'A'\n"
    )


def test_print_with_trailing_text_reports_extraneous_characters() -> None:
    mon, buf = make()
    assert run(mon, buf, "print 1 2") == "print|p: extraneous characters at the end of line\n"


def test_xp_of_unassigned_memory_cannot_access_memory() -> None:
    mon, buf = make()
    assert run(mon, buf, "xp /4xw 0x20000000") == "0000000020000000: Cannot access memory\n"


def test_joined_xp_format_works() -> None:
    mon, buf = make()
    assert run(mon, buf, "xp/2xw 0") == "0000000000000000: 0x00000000 0x00000000\n"


def test_symbols_resolve_to_bar_addresses() -> None:
    mon, buf = make()
    enable_edu(mon, buf)
    assert run(mon, buf, "print edu0.dma_cmd", "xp /1xw edu0") == (
        "0xfe000098\n00000000fe000000: 0x010000ed\n"
    )


def test_symbol_of_unmapped_bar_is_a_clear_error() -> None:
    mon, buf = make()
    out = run(mon, buf, "xp /x edu0")
    assert "has no mapped MMIO BAR" in out
    assert mon.failed


def test_port_read_prints_qemus_portl_line() -> None:
    mon, buf = make()
    run(mon, buf, "o /w 0xcf8 0x80000800")
    assert run(mon, buf, "i /w 0xcfc") == "portl[0x0cfc] = 0x11e81234\n"


def test_reg_read_decodes_fields_and_peek_has_no_side_effects() -> None:
    mon, buf = make()
    run(mon, buf, "reg write edu0 dma_cmd run=1,irq=1")
    assert run(mon, buf, "reg read edu0 dma_cmd --peek") == (
        "edu0.dma_cmd = 0x0000000000000005 (run=0x1 to_ram=0x0 irq=0x1)\n"
    )


def test_reg_on_unknown_register_fails_with_the_name() -> None:
    mon, buf = make()
    assert run(mon, buf, "reg read edu0 nosuch") == "reg: device 'edu0' has no register 'nosuch'\n"


def test_json_output_is_one_object() -> None:
    mon, buf = make()
    out = run(mon, buf, "info status --json")
    assert json.loads(out)["status"] == "running"


def test_expect_passes_and_fails_with_a_message() -> None:
    mon, buf = make()
    assert mon.execute("expect print 2+2 == 4")
    assert not mon.execute("expect print 1 == 2")
    assert mon.error == "expect: 'print 1' gave 0x1 (1), expected == 2"


def test_expect_log_sees_lines_of_the_previous_command_only() -> None:
    mon, buf = make()
    run(mon, buf, "log guest_errors", "xp /x 0x20000000")
    assert mon.execute("expect-log region '\\(null\\)'")
    run(mon, buf, "print 1")
    assert not mon.execute("expect-log region '\\(null\\)'")
    assert mon.execute("expect-no-log region")


def test_expect_fail_inverts_a_failing_command() -> None:
    mon, buf = make()
    assert mon.execute("expect-fail nosuchcommand")
    assert not mon.execute("expect-fail print 1")


def test_clock_step_runs_edu_dma_timer() -> None:
    mon, buf = make()
    enable_edu(mon, buf)
    run(mon, buf, "reg write edu0 dma_cmd 1")
    assert "edu0.dma" in run(mon, buf, "clock")
    run(mon, buf, "clock step 100ms")
    assert run(mon, buf, "reg read edu0 dma_cmd --peek").startswith(
        "edu0.dma_cmd = 0x0000000000000000"
    )


def test_fix_switch_turns_off_and_reports_unknown_names() -> None:
    mon, buf = make()
    run(mon, buf, "fix reentrancy-guard off")
    assert not mon.machine.fixes.get("reentrancy-guard")
    assert "unknown switch 'nope'" in run(mon, buf, "fix nope on")


def test_source_runs_relative_to_the_including_script(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.dmamon").write_text("print 7\n")
    (tmp_path / "outer.dmamon").write_text("source sub/inner.dmamon\n")
    mon, buf = make()
    assert mon.run_file(tmp_path / "outer.dmamon")
    assert buf.getvalue() == "0x7\n"


def test_failure_in_a_sourced_script_names_the_inner_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "inner.dmamon").write_text("print 1\nbogus\n")
    (tmp_path / "outer.dmamon").write_text("source inner.dmamon\n")
    mon, buf = make()
    assert not mon.run_file(tmp_path / "outer.dmamon")
    assert [(Path(f.file).name, f.line) for f in mon.failures] == [("inner.dmamon", 2)]


def test_record_saves_a_runnable_script(tmp_path: Path) -> None:
    mon, buf = make()
    target = tmp_path / "rec.dmamon"
    run(mon, buf, f"record {target}", "print 3", "bogus", "record stop")
    assert target.read_text().splitlines()[1:] == ["print 3"]


def test_pmemsave_writes_bytes_and_reports_open_errors(tmp_path: Path) -> None:
    mon, buf = make()
    target = tmp_path / "x.bin"
    run(mon, buf, f'pmemsave 0 16 "{target}"')
    assert target.read_bytes() == bytes(16)
    assert run(mon, buf, "pmemsave 0 16 /nonexistent/dir/x.bin") == (
        "Could not open '/nonexistent/dir/x.bin': No such file or directory\n"
    )


def test_help_lists_commands_in_qemu_layout() -> None:
    mon, buf = make()
    out = run(mon, buf, "help")
    assert "xp /fmt addr -- physical memory dump starting at 'addr'\n" in out
    assert "cont|c  -- resume emulation\n" in out


def test_dma_read_as_device_shows_the_transaction_result() -> None:
    mon, buf = make()
    out = run(mon, buf, "dma read edu0 0x1000 4")
    # bus mastering is off: the device's view is empty
    assert "MEMTX_DECODE_ERROR" in out
    enable_edu(mon, buf)
    assert "MEMTX_OK" in run(mon, buf, "dma read edu0 0x1000 4")


@pytest.mark.parametrize(
    "line",
    [
        "xp",
        "xp /",
        "print",
        "i",
        "o 1",
        "sum",
        "reg",
        "dma",
        "clock step",
        "fix x",
        "log",
        "trace-event",
        "expect",
        "device_add",
        "device_del",
        "info registers",
    ],
)
def test_incomplete_commands_fail_with_one_line(line: str) -> None:
    mon, buf = make()
    out = run(mon, buf, line)
    assert mon.failed
    assert out.count("\n") >= 1 and "Traceback" not in out
