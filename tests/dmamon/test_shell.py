"""The cmd2 shell over the monitor: same output, completion, lexer, no tracebacks."""

from __future__ import annotations

import io

from dmamon.devices import Machine
from prompt_toolkit.lexers import PygmentsLexer

from dmamon.commands import AREAS  # noqa: F401
from dmamon.lexer import DmamonLexer
from dmamon.monitor import Monitor
from dmamon.shell import DmamonShell, build_command_sets


def make_shell() -> tuple[DmamonShell, io.StringIO]:
    buf = io.StringIO()
    mon = Monitor(Machine(), buf, buf)
    return DmamonShell(mon, stdin=io.StringIO(), stdout=buf), buf


def test_one_command_set_per_area() -> None:
    names = sorted(type(s).__name__ for s in build_command_sets())
    assert "MemoryCommands" in names and "ScriptsCommands" in names and "InfoCommands" in names


def test_shell_runs_monitor_commands_with_hmp_operators_intact() -> None:
    shell, buf = make_shell()
    shell.onecmd_plus_hooks("print 6 | 1")
    shell.onecmd_plus_hooks("expect print 3 > 2")
    assert buf.getvalue() == "0x7\n0x3\n"


def test_hyphenated_and_joined_commands_reach_the_monitor() -> None:
    shell, buf = make_shell()
    shell.onecmd_plus_hooks("trace-event memory_region_ops_read on")
    shell.onecmd_plus_hooks("xp/1xw 0")
    assert buf.getvalue() == "0000000000000000: 0x00000000\n"


def test_unknown_command_uses_qemus_words() -> None:
    shell, buf = make_shell()
    shell.onecmd_plus_hooks("frobnicate")
    assert buf.getvalue() == "unknown command: 'frobnicate'\n"


def test_quit_leaves_the_loop() -> None:
    shell, _ = make_shell()
    assert shell.onecmd_plus_hooks("quit") is True


def test_completion_offers_devices_registers_and_events() -> None:
    shell, _ = make_shell()
    line = "reg read edu0 dma_"
    got = shell.complete_args(
        next(s for s in __import__("dmamon.monitor").monitor.COMMANDS.values() if s.name == "reg"),
        "dma_",
        line,
        len(line) - 4,
        len(line),
    )
    assert {"dma_cmd", "dma_src"} <= set(got.to_strings())
    line = "trace-event memory_region_ops_r"
    spec = __import__("dmamon.monitor").monitor.COMMANDS["trace-event"]
    got = shell.complete_args(spec, "memory_region_ops_r", line, 12, len(line))
    assert list(got.to_strings()) == ["memory_region_ops_read"]


def test_input_line_is_coloured_by_the_dmamon_lexer() -> None:
    shell, _ = make_shell()
    lexer = shell.main_session.lexer
    assert isinstance(lexer, PygmentsLexer)
    assert lexer.pygments_lexer_cls is DmamonLexer


def test_an_exception_in_a_command_is_one_line_without_hint() -> None:
    shell, buf = make_shell()
    err = io.StringIO()
    import contextlib

    with contextlib.redirect_stderr(err):
        shell.pexcept(RuntimeError("boom"))
    assert "To enable full traceback" not in err.getvalue()
    assert err.getvalue().count("\n") == 1
