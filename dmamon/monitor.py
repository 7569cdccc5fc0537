"""The monitor core: a command table, one executor, and the state of a session.

Every front end runs monitor commands through :class:`Monitor`: the cmd2 shell, ``dmamon
run`` (batch scripts), golden transcripts and QMP's ``human-monitor-command``. The core
imports no UI library, so batch mode starts fast and the same line gives the same output
everywhere.

A command is registered with :func:`command`. With ``args=`` (a tuple of
:class:`~dmamon.argspec.Param`) the core parses the line and calls the handler with one
keyword argument per parameter (``handler(mon, **kwargs)``); without, the handler gets the
raw argument string (``handler(mon, args)``). Either way :attr:`CommandSpec.func` takes the
raw string, so every caller (``info``, ``expect``, QMP) runs both alike. A handler writes
with :meth:`Monitor.out`, reports a user error by raising :class:`MonitorError` (one line,
no traceback), and may set :attr:`Monitor.value` (what ``expect`` compares) and
:attr:`Monitor.data` (what ``--json`` prints).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from dmamon.argspec import (
    HMP_COUNT_ERRORS,
    ArgError,
    Param,
    completion_kind,
    parse_args,
    scan_word,
    usage_text,
)
from dmamon.devices import Machine
from dmamon.dumpfmt import FormatState
from dmamon.hmpexpr import HmpError, scan_expression
from dmamon.memory import ConfigError, TraceRecord

__all__ = [
    "COMMANDS",
    "INFO",
    "SUBCOMMANDS",
    "CommandSpec",
    "Failure",
    "Monitor",
    "MonitorError",
    "command",
    "info_command",
    "info_help_lines",
    "os_reason",
    "split_words",
    "subcommand",
]


class MonitorError(Exception):
    """A user-facing, one-line error of a command (bad input, unknown name, failed check)."""


@dataclass(frozen=True)
class CommandSpec:
    """A monitor command.

    Attributes:
        name: the command name as typed (``trace-event``).
        params: HMP-style parameter summary for ``help`` (``/fmt addr``).
        summary: one line of help, in HMP voice.
        func: the implementation.
        area: the group it belongs to (one cmd2 CommandSet per area).
        aliases: other names (``p`` for ``print``).
        details: longer help text shown by ``help NAME``.
        complete: what its arguments complete to (``device``, ``register``, ``event``, ``fix``,
            ``file``, ``info``, ``command``).
        args: the declared parameters (None: an old-style handler parsing its own string).
        handler: the typed handler of a declared command (``func`` parses, then calls it).
        usage_line: the usage line of count errors when HMP's wording differs from the one
            generated from ``args``.
    """

    name: str
    params: str
    summary: str
    func: Callable[[Monitor, str], None]
    area: str
    aliases: tuple[str, ...] = ()
    details: str = ""
    complete: tuple[str, ...] = ()
    args: tuple[Param, ...] | None = None
    handler: Callable[..., None] | None = None
    usage_line: str = ""

    @property
    def usage(self) -> str:
        """The usage line of a declared command (``iommu map DEV IOVA ...``)."""
        if self.usage_line and self.usage_line != HMP_COUNT_ERRORS:
            return self.usage_line
        return usage_text(self.name, self.args or ())

    def completion_kind(self, words: list[str]) -> str:
        """What to complete after the finished argument ``words`` (declared commands and
        their subcommands; else the positional ``complete`` tuple). ``subcommand:a,b`` is a
        literal word list (option names when only options are left). ``info`` completes
        its subcommand names, then asks the subcommand."""
        if COMMANDS.get("info") is self:
            if not words:
                return "info"
            sub = INFO.get(words[0])
            return sub.completion_kind(words[1:]) if sub else ""
        subs = SUBCOMMANDS.get(self.name)
        if subs:
            if not words:
                return "subcommand:" + ",".join(subs)
            sub = subs.get(words[0])
            return completion_kind(sub.args or (), words[1:]) if sub else ""
        if self.args is not None:
            return completion_kind(self.args, words)
        if not self.complete:
            return ""
        return self.complete[min(len(words), len(self.complete) - 1)]

    @property
    def help_line(self) -> str:
        """QEMU's ``NAME PARAMS -- HELP`` line (``name|alias`` when aliased)."""
        names = "|".join((self.name, *self.aliases))
        return f"{names} {self.params} -- {self.summary}"


_JSON_FLAG = re.compile(r"(^|\s)--json(\s|$)")
_JSON_STRIP = re.compile(r"(^|\s)--json(?=\s|$)")

COMMANDS: dict[str, CommandSpec] = {}
INFO: dict[str, CommandSpec] = {}
SUBCOMMANDS: dict[str, dict[str, CommandSpec]] = {}
"""``SUBCOMMANDS[parent][word]``: the declared subcommands of a command (``iommu map``)."""

Handler = Callable[..., None]


def _declared(
    label: str, spec_args: tuple[Param, ...], handler: Handler, usage: str = ""
) -> Handler:
    """The raw-string entry point of a declared command: parse, then call ``handler``."""

    base = label.partition("|")[0]

    def run(mon: Monitor, text: str) -> None:
        subs = SUBCOMMANDS.get(base)
        if subs and text.strip():
            try:
                word, end = scan_word(text, len(text) - len(text.lstrip()))
            except ArgError as e:
                raise MonitorError(str(e) if e.bare else f"{label}: {e}") from None
            sub = subs.get(word)
            if sub is None:
                names = ", ".join(subs)
                raise MonitorError(f"{label}: unknown subcommand '{word}' (one of: {names})")
            sub.func(mon, text[end:])
            return
        try:
            kwargs = parse_args(mon, base, spec_args, text, usage)
        except ArgError as e:
            raise MonitorError(str(e) if e.bare else f"{label}: {e}") from None
        handler(mon, **kwargs)

    return run


def _spec(
    name: str,
    params: str | None,
    summary: str,
    handler: Handler,
    area: str,
    label: str,
    args: tuple[Param, ...] | None,
    aliases: tuple[str, ...] = (),
    details: str = "",
    complete: tuple[str, ...] = (),
    usage: str = "",
) -> CommandSpec:
    """A command's table entry; a declared one gets the parsing entry point as ``func``."""
    if args is None:
        return CommandSpec(name, params or "", summary, handler, area, aliases, details, complete)
    if params is None:
        params = usage_text("", args).strip()
    complete = complete or tuple(p.completes for p in args if not p.is_option)
    func = _declared(label, args, handler, usage)
    return CommandSpec(
        name, params, summary, func, area, aliases, details, complete, args, handler, usage
    )


def command(
    name: str,
    params: str | None,
    summary: str,
    area: str,
    *,
    aliases: tuple[str, ...] = (),
    details: str = "",
    complete: tuple[str, ...] = (),
    args: tuple[Param, ...] | None = None,
    usage: str = "",
) -> Callable[[Handler], Handler]:
    """Register a monitor command (decorator).

    Args:
        name: the command name.
        params: the parameter summary in ``help`` (None with ``args``: the usage words).
        summary: one line of help.
        area: the group (``help`` and the shell's command sets).
        aliases: other names.
        details: ``help NAME`` text.
        complete: completion kind per position (default with ``args``: from the kinds).
        args: declared parameters; the handler is then ``handler(mon, **kwargs)``.
        usage: the usage line of count errors, where HMP's wording differs from the
            generated one. Errors name the command as QEMU does (``print|p: ...``).
    """

    def deco(func: Handler) -> Handler:
        label = "|".join((name, *aliases))
        spec = _spec(
            name, params, summary, func, area, label, args,
            aliases=aliases, details=details, complete=complete, usage=usage,
        )  # fmt: skip
        for n in (name, *aliases):
            if n in COMMANDS:
                raise ValueError(f"monitor command {n!r} registered twice")
            COMMANDS[n] = spec
        return func

    return deco


def subcommand(
    parent: str, name: str, *, args: tuple[Param, ...] = (), usage: str = ""
) -> Callable[[Handler], Handler]:
    """Register ``PARENT NAME ...`` (decorator); the parent must be declared with ``args``.
    Its handler runs when the first word is ``name``; the parent's own handler when the line
    is empty. Order of registration is the order completion and errors list them in."""

    def deco(func: Handler) -> Handler:
        subs = SUBCOMMANDS.setdefault(parent, {})
        if name in subs:
            raise ValueError(f"subcommand {parent} {name!r} registered twice")
        label = f"{parent} {name}"
        subs[name] = _spec(name, None, "", func, "", label, args, usage=usage)
        return func

    return deco


def info_command(
    name: str,
    params: str | None,
    summary: str,
    *,
    details: str = "",
    complete: tuple[str, ...] = (),
    args: tuple[Param, ...] | None = None,
    usage: str = "",
) -> Callable[[Handler], Handler]:
    """Register an ``info NAME`` subcommand (decorator; ``args``, ``usage`` as for
    :func:`command`)."""

    def deco(func: Handler) -> Handler:
        if name in INFO:
            raise ValueError(f"info subcommand {name!r} registered twice")
        INFO[name] = _spec(
            name, params, summary, func, "Info", f"info {name}", args,
            details=details, complete=complete, usage=usage,
        )  # fmt: skip
        return func

    return deco


def info_help_lines() -> list[str]:
    """QEMU's ``info`` / ``help info`` list: ``info NAME PARAMS -- HELP``, sorted."""
    return [f"info {INFO[k].name} {INFO[k].params} -- {INFO[k].summary}" for k in sorted(INFO)]


@dataclass
class Failure:
    """A failed command or assertion in a script."""

    file: str
    line: int
    text: str
    message: str


@dataclass
class _Frame:
    path: Path
    line: int = 0


_JOINED_FMT = re.compile(r"^(x|xp|print|p|i|o)/")


@dataclass
class Monitor:
    """One monitor session over a machine.

    Args:
        machine: the machine to drive.
        out: where command output goes.
        log: where trace and log lines go (QEMU's log stream: stderr by default).
    """

    machine: Machine
    out_stream: TextIO = field(default_factory=lambda: sys.stdout)
    log_stream: TextIO | None = None
    echo_prompt: str | None = None

    def __post_init__(self) -> None:
        self.fmt_state = FormatState()
        self.value: int | str | None = None
        self.data: object = None
        self.json = False
        self.failed = False
        self.error = ""
        self.output: list[str] = []
        self.prev_output: list[str] = []
        self.logfile: TextIO | None = None
        self.recording: TextIO | None = None
        self.quit_requested = False
        self.frames: list[_Frame] = []
        self.failures: list[Failure] = []
        self.assertions: list[tuple[str, int, str, str | None]] = []
        self.expecting_failure = False
        self._since: list[TraceRecord] = []
        self.machine.tracer.sinks.append(self._on_record)

    # -- output ----------------------------------------------------------------------------

    def out(self, text: str = "") -> None:
        """Write one or more lines of command output."""
        for line in text.split("\n"):
            self.output.append(line)
        if not self.json:
            self.out_stream.write(text + "\n")

    def _on_record(self, rec: TraceRecord) -> None:
        self._since.append(rec)
        if self.logfile is not None and rec.kind != "warning":
            self.logfile.write(rec.text + "\n")
            self.logfile.flush()
            return
        stream = self.log_stream or self.out_stream
        stream.write(rec.text + "\n")

    def close(self) -> None:
        """Detach from the machine's tracer and close open files."""
        tracer = self.machine.tracer
        if self._on_record in tracer.sinks:
            tracer.sinks.remove(self._on_record)
        if self.logfile is not None:
            self.logfile.close()
            self.logfile = None
        if self.recording is not None:
            self.recording.close()
            self.recording = None

    # -- symbols ---------------------------------------------------------------------------

    def resolve(self, name: str) -> int | None:
        """Symbols in expressions: ``edu0`` (BAR0), ``edu0.dma_cmd`` (a register's address).

        Raises:
            HmpError: a known device whose BAR is not mapped, or an unknown register.
        """
        dev_name, _, reg = name.partition(".")
        devices = self.machine.devices
        if dev_name not in devices:
            return None
        base = self.machine.mmio_base(dev_name)
        if base is None:
            raise HmpError(
                f"symbol '{name}': {dev_name} has no mapped MMIO BAR (program BAR0 first)"
            )
        if not reg:
            return base
        try:
            _, bank = self.machine.find_bank(dev_name, reg)
        except KeyError as e:
            raise HmpError(str(e.args[0])) from None
        info = type(bank).lookup(reg)
        assert info is not None
        return base + info.offset

    def expr(self, text: str) -> int:
        """Evaluate one whole expression (addresses, values).

        Raises:
            MonitorError: QEMU's expression errors.
        """
        try:
            value, end = scan_expression(text, 0, self.resolve)
        except HmpError as e:
            raise MonitorError(str(e)) from None
        if text[end:].strip():
            raise MonitorError("extraneous characters at the end of line")
        return value

    def exprs(self, text: str, count: int, command: str) -> tuple[list[int], str]:
        """Read ``count`` expressions, return them and the rest of the text."""
        pos = 0
        values = []
        try:
            for _ in range(count):
                if not text[pos:].strip():
                    raise HmpError("unexpected end of expression")
                v, pos = scan_expression(text, pos, self.resolve)
                values.append(v)
        except HmpError as e:
            raise MonitorError(str(e)) from None
        return values, text[pos:].strip()

    # -- execution -------------------------------------------------------------------------

    def execute(self, line: str) -> bool:
        """Run one line; returns False when it failed (the error is in :attr:`error`)."""
        text = line.strip()
        self.failed = False
        self.error = ""
        self.output = []
        if not text or text.startswith("#"):
            return True
        if self.echo_prompt is not None:
            self.out_stream.write(f"{self.echo_prompt}{text}\n")
        m = _JOINED_FMT.match(text)
        if m:
            text = f"{m.group(1)} {text[len(m.group(1)) :]}"
        name, _, rest = text.partition(" ")
        rest = rest.strip()
        spec = COMMANDS.get(name)
        if spec is None:
            self._fail(f"unknown command: '{name}'")
            return False
        is_assertion = spec.area == "Scripts" and name.startswith("expect")
        if not is_assertion:
            self._since = []
        self.value = None
        self.data = None
        self.json = False
        if "--json" in rest and spec.area != "Scripts" and _JSON_FLAG.search(rest):
            self.json = True
            rest = _JSON_STRIP.sub(" ", rest).strip()
        try:
            spec.func(self, rest)
        except MonitorError as e:
            self._fail(str(e))
        except HmpError as e:
            self._fail(str(e))
        except ConfigError as e:
            self._fail(str(e))
        except RecursionError:
            self._fail(f"{name}: input nested too deeply")
        except Exception as e:  # a bug: still one line, never a traceback
            self._fail(f"{name}: internal error: {type(e).__name__}: {e}")
        if self.json and not self.failed:
            payload = self.data if self.data is not None else {"output": self.output}
            self.out_stream.write(json.dumps(payload, sort_keys=True) + "\n")
        self.json = False
        if self.recording is not None and not self.failed and not name.startswith("record"):
            self.recording.write(text + "\n")
            self.recording.flush()
        self.machine.after_command()  # a no-op unless the machine is running
        if not is_assertion:
            self.prev_output = self.output
        return not self.failed

    def _fail(self, message: str) -> None:
        self.failed = True
        self.error = message
        stream = self.log_stream or self.out_stream
        if self.frames and not self.expecting_failure:  # in a script: FILE:LINE: message
            file, line = self.where()
            message = f"{file}:{line}: {message}"
        stream.write(message + "\n")

    def records_since_previous(self) -> list[TraceRecord]:
        """Trace/log lines produced by the previous (non-assertion) command and since."""
        return list(self._since)

    # -- scripts ---------------------------------------------------------------------------

    @property
    def script_dir(self) -> Path:
        """Directory of the running script (``source`` resolves against it)."""
        return self.frames[-1].path.parent if self.frames else Path.cwd()

    def where(self) -> tuple[str, int]:
        """(file, line) of the script line running now, or ("<stdin>", 0)."""
        if self.frames:
            return str(self.frames[-1].path), self.frames[-1].line
        return "<stdin>", 0

    def run_file(self, path: Path, *, keep_going: bool = False) -> bool:
        """Run a ``.dmamon`` script (``source`` nests); failures collect in :attr:`failures`.

        Returns:
            True when every command and assertion held.

        Raises:
            MonitorError: the file cannot be read, or ``source`` nests too deep.
        """
        if len(self.frames) > 32:
            raise MonitorError(f"source: {path}: nested too deeply")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise MonitorError(f"Could not open '{path}': {_os_reason(e)}") from None
        frame = _Frame(path)
        self.frames.append(frame)
        ok = True
        try:
            for number, line in enumerate(text.splitlines(), 1):
                frame.line = number
                if self.quit_requested:
                    break
                if not self.execute(line):
                    ok = False
                    if not self.error.startswith("\x00nested"):
                        self.failures.append(Failure(str(path), number, line.strip(), self.error))
                    if not keep_going:
                        break
        finally:
            self.frames.pop()
        return ok

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        """Collect command output instead of writing it (QMP human-monitor-command)."""
        import io

        saved_out, saved_log = self.out_stream, self.log_stream
        buf = io.StringIO()
        self.out_stream = buf
        self.log_stream = buf
        lines: list[str] = []
        try:
            yield lines
        finally:
            self.out_stream, self.log_stream = saved_out, saved_log
            lines.extend(buf.getvalue().splitlines())


def _os_reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    if isinstance(e, UnicodeDecodeError):
        return "not a UTF-8 text file"
    return str(e)


def split_words(text: str) -> list[str]:
    """Shell-like word splitting for dmamon's own commands.

    Raises:
        MonitorError: unbalanced quotes.
    """
    try:
        return shlex.split(text)
    except ValueError as e:
        raise MonitorError(f"bad quoting: {e}") from None


def os_reason(e: BaseException) -> str:
    """The strerror of an OSError, as QEMU prints it."""
    return _os_reason(e)
