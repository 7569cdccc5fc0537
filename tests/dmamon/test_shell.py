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


def test_end_of_input_leaves_without_an_error() -> None:
    # issue 9: cmd2 calls do_quit("") with a str at EOF; the override read statement.raw
    shell, buf = make_shell()
    assert shell.onecmd_plus_hooks("_eof") is True
    assert "error" not in buf.getvalue()


def test_exit_leaves_like_quit() -> None:
    shell, buf = make_shell()
    assert shell.onecmd_plus_hooks("exit") is True
    assert "unknown command" not in buf.getvalue()


def test_a_ctrl_c_in_a_long_command_says_interrupted(monkeypatch: object) -> None:
    import contextlib

    shell, buf = make_shell()

    def interrupted(line: str) -> bool:
        raise KeyboardInterrupt

    shell.monitor.execute = interrupted  # type: ignore[method-assign]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert shell.onecmd_plus_hooks("clock step 1000000000") is False
    assert err.getvalue() == "interrupted\n"


def _complete(shell: DmamonShell, line: str) -> list[str]:
    from dmamon.monitor import COMMANDS

    spec = COMMANDS[line.split()[0]]
    text = "" if line.endswith(" ") else line.split()[-1]
    got = shell.complete_args(spec, text, line, len(line) - len(text), len(line))
    return list(got.to_strings())


def test_info_mtree_completes_its_flags() -> None:
    shell, _ = make_shell()
    assert set(_complete(shell, "info mtree ")) == {"-f", "-d", "-o", "-D"}
    assert "-f" not in _complete(shell, "info mtree -f ")


def test_info_trace_events_completes_event_names_and_patterns() -> None:
    shell, _ = make_shell()
    got = _complete(shell, "info trace-events ")
    assert "memory_region_ops_read" in got and "memory_*" in got
    assert "mtree" not in got


def test_reg_read_offers_peek_and_reg_write_offers_fields() -> None:
    shell, _ = make_shell()
    assert _complete(shell, "reg read edu0 status ") == ["--peek"]
    got = _complete(shell, "reg write edu0 status ")
    assert got and all(w.endswith("=") for w in got)


def test_a_plug_in_registers_its_own_completion_kind() -> None:
    from dmamon.completion import COMPLETERS, CompletionContext, candidates, completer

    @completer("test-queue")
    def _queues(ctx: CompletionContext) -> list[str]:
        return ["rx", "tx"]

    try:
        shell, _ = make_shell()
        ctx = CompletionContext(shell.monitor.machine, [])
        assert candidates("test-queue", ctx) == ["rx", "tx"]
    finally:
        del COMPLETERS["test-queue"]


def test_shell_colours_come_from_the_terminal_palette() -> None:
    shell, _ = make_shell()
    style = shell.main_session.style
    rules = [r for _, r in style.style_rules]  # type: ignore[union-attr]
    assert rules and all("#" not in r for r in rules)
    assert not shell.main_session.include_default_pygments_style
