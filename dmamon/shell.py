"""The interactive shell: cmd2 4.3 over the monitor core.

Each area of commands (Memory, DMA, Devices, ...) is one cmd2 ``CommandSet`` built from the
monitor's command table, so ``help``, tab completion and the command list always match
what the monitor runs; every command line goes to :meth:`Monitor.execute` unchanged (cmd2's
redirection is off: ``|`` and ``>`` are HMP operators here).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

import cmd2
from prompt_toolkit.lexers import PygmentsLexer
from prompt_toolkit.styles import style_from_pygments_dict

from dmamon.commands import AREAS
from dmamon.completion import CompletionContext, candidates
from dmamon.lexer import ANSI_COLOURS, DmamonLexer
from dmamon.monitor import COMMANDS, CommandSpec, Monitor
from dmamon.render import plural

__all__ = [
    "DmamonShell",
    "build_command_sets",
    "run_shell",
]

# cmd2 built-ins dmamon replaces (help, quit) or hides (they make no sense here).
_REPLACED = {"help", "quit", "?"}
SHELL_STYLE = style_from_pygments_dict(ANSI_COLOURS)

_HIDDEN = (
    "edit",
    "shell",
    "run_pyscript",
    "run_script",
    "_relative_run_script",
    "macro",
    "alias",
    "shortcuts",
    "set",
    "history",
)


def _make_do(spec: CommandSpec, name: str) -> Callable[..., bool | None]:
    def do(self: cmd2.CommandSet[Any], statement: cmd2.Statement) -> bool | None:
        shell = self._cmd
        assert isinstance(shell, DmamonShell)
        return shell.run_line(statement.raw)

    do.__name__ = f"do_{name}"
    do.__doc__ = spec.summary[:1].upper() + spec.summary[1:] + "."
    return do


def _make_complete(spec: CommandSpec, name: str) -> Callable[..., cmd2.Completions]:
    def complete(
        self: cmd2.CommandSet[Any], text: str, line: str, begidx: int, endidx: int
    ) -> cmd2.Completions:
        shell = self._cmd
        assert isinstance(shell, DmamonShell)
        return shell.complete_args(spec, text, line, begidx, endidx)

    complete.__name__ = f"complete_{name}"
    return complete


def build_command_sets() -> list[cmd2.CommandSet[Any]]:
    """One CommandSet per area, from the monitor's command table."""
    by_area: dict[str, dict[str, object]] = {}
    for name, spec in COMMANDS.items():
        if name in _REPLACED:
            continue
        attrs = by_area.setdefault(spec.area, {"DEFAULT_CATEGORY": spec.area})
        attrs[f"do_{name}"] = _make_do(spec, name)
        attrs[f"complete_{name}"] = _make_complete(spec, name)
    sets = []
    for area in sorted(by_area, key=lambda a: AREAS.index(a) if a in AREAS else 99):
        cls = type(f"{area.replace(' ', '')}Commands", (cmd2.CommandSet,), by_area[area])
        sets.append(cls())
    return sets


class DmamonShell(cmd2.Cmd):
    """The ``dmamon`` interactive shell.

    Args:
        monitor: the monitor session (machine, state) the shell drives.
        stdin, stdout: streams (tests pass StringIO; non-TTYs read plain lines).
    """

    def __init__(
        self, monitor: Monitor, stdin: TextIO | None = None, stdout: TextIO | None = None
    ) -> None:
        interactive = (stdin or sys.stdin).isatty() and (stdout or sys.stdout).isatty()
        super().__init__(
            stdin=stdin,
            stdout=stdout,
            allow_cli_args=False,
            allow_redirection=False,
            allow_clipboard=False,
            auto_load_commands=False,
            command_sets=build_command_sets(),
            include_py=False,
            include_ipy=False,
            enable_bottom_toolbar=interactive,
            shortcuts={"?": "help"},
            persistent_history_file="",
        )
        self.monitor = monitor
        self.prompt = "(dmamon) "
        self.interactive = interactive
        self.intro = (
            "dmamon monitor - type 'help' for commands, 'help expect' for script assertions,"
            " 'quit' (or Ctrl-D) to leave"
        )
        self.debug = False
        for name in _HIDDEN:
            if name in self.get_all_commands():
                self.disable_command(name, f"unknown command: '{name}'")
        self.main_session.lexer = PygmentsLexer(DmamonLexer)
        # the terminal's own palette (ANSI named colours), readable on dark and light themes
        self.main_session.style = SHELL_STYLE
        self.main_session.include_default_pygments_style = False

    # -- running ---------------------------------------------------------------------------

    def run_line(self, line: str) -> bool:
        """Run one line through the monitor; True asks cmd2 to leave the loop."""
        self.monitor.out_stream = self.stdout
        try:
            self.monitor.execute(line)
        except KeyboardInterrupt:  # Ctrl-C in a long command: say so, keep the shell
            self.perror("interrupted")
            return False
        return self.monitor.quit_requested

    def default(self, statement: cmd2.Statement) -> bool | None:
        # joined forms (xp/4xw) and unknown commands: the monitor words the error
        return self.run_line(statement.raw)

    def do_help(self, statement: cmd2.Statement) -> bool | None:  # type: ignore[override]
        """Show the help."""
        return self.run_line(statement.raw)

    def complete_help(self, text: str, line: str, begidx: int, endidx: int) -> cmd2.Completions:
        """Complete command names after ``help``."""
        return self.basic_complete(text, line, begidx, endidx, sorted(COMMANDS))

    def do_quit(self, statement: cmd2.Statement | str) -> bool | None:
        """Quit the emulator."""
        # cmd2 itself calls do_quit("") (a str, not a Statement) on some paths
        self.run_line(statement.raw if isinstance(statement, cmd2.Statement) else "quit")
        return True

    def do_exit(self, statement: cmd2.Statement) -> bool | None:
        """Leave the shell (as quit)."""
        return self.do_quit("")

    def do__eof(self, _: object) -> bool | None:
        """End of input (Ctrl-D on an empty line, the end of a pipe) leaves the shell."""
        if self.interactive:
            self.poutput("")  # the shell's prompt goes on a line of its own
        return self.do_quit("")

    def pexcept(self, exception: BaseException, **kwargs: Any) -> None:
        """One line, never a traceback or cmd2's "enable full traceback" hint."""
        self.perror(f"error: {type(exception).__name__}: {exception}")

    def get_bottom_toolbar(self) -> Any:
        """Virtual time and run state under the prompt."""
        m = self.monitor.machine
        return f" virtual time {m.now_ns} ns | {m.status()} | {plural(len(m.devices), 'device')} "

    # -- completion ------------------------------------------------------------------------

    def complete_args(
        self, spec: CommandSpec, text: str, line: str, begidx: int, endidx: int
    ) -> cmd2.Completions:
        """Complete the argument under the cursor from what the command takes there
        (the completion kinds of :mod:`dmamon.completion`)."""
        words = line[:begidx].split()[1:]
        kind = spec.completion_kind(words)
        if kind == "file":
            return self.path_complete(text, line, begidx, endidx)
        found = candidates(kind, CompletionContext(self.monitor.machine, words))
        return self.basic_complete(text, line, begidx, endidx, found)


def run_shell(monitor: Monitor) -> int:
    """Run the interactive loop until ``quit`` or end of input."""
    shell = DmamonShell(monitor)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        shell.intro = ""
    os.environ.setdefault("COLUMNS", "100")
    shell.cmdloop()
    return 0
