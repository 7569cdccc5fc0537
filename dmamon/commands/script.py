"""Help, scripts and assertions: ``help``, ``source``, ``record``, ``expect...``.

Assertions make a ``.dmamon`` script check itself (a graded lab, a regression test):

    expect readl edu0.ident == 0x010000ed     # run a command, compare its value
    expect info status == running             # values may be words
    expect-output VM status: running          # regex over the previous command's output
    expect-log Invalid read at addr           # regex over log/trace lines of the previous command
    expect-no-log Blocked re-entrant          # ... and that none matches
    expect-fail xp /x nosuchdev               # the command must fail

Operators: ``== != < <= > >=``; numbers are HMP expressions, anything else compares as text.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dmamon.argspec import arg, flag
from dmamon.hmpexpr import HmpError, evaluate
from dmamon.monitor import (
    COMMANDS,
    Monitor,
    MonitorError,
    command,
    info_help_lines,
    os_reason,
    split_words,
)
from dmamon.recorder import Recorder
from dmamon.render import plural
from dmamon.shipped import find_shipped

AREA = "Scripts"

EXPECT_HELP = """\
Assertions make a .dmamon script check itself (a graded lab, a regression test):

  expect readl edu0.ident == 0x010000ed   run a command, compare its value
  expect info status == running           values may be words
  expect-output VM status: running        regex over the previous command's output
  expect-log Invalid read at addr         regex over log/trace lines of the previous command
  expect-no-log Blocked re-entrant        ... and that none matches
  expect-fail xp /x nosuchdev             the command must fail

Operators: == != < <= > >=. Numbers are HMP expressions; anything else compares as text.
A run state compares as the shell shows it: a machine in prelaunch ("paused (prelaunch)")
is paused, so 'expect info status == paused' holds for it, and so do '== prelaunch' and
'== paused (prelaunch)'."""

# Text values that also answer to the words the shell shows for them.
_TEXT_ALIASES = {"prelaunch": ("paused", "paused (prelaunch)")}
_OPS = ("==", "!=", "<=", ">=", "<", ">")
_SPLIT = re.compile(r"\s(==|!=|<=|>=|<|>)\s")


@command(
    "help",
    "[cmd]",
    "show the help",
    "Help",
    aliases=("?",),
    args=(arg("name", "rest", optional=True, default="", complete="command"),),
)
def help_(mon: Monitor, *, name: str) -> None:
    if not name:
        seen = set()
        for key in sorted(COMMANDS):
            spec = COMMANDS[key]
            if spec.name in seen:
                continue
            seen.add(spec.name)
            mon.out(spec.help_line)
        return
    if name == "info":
        for line in info_help_lines():
            mon.out(line)
        return
    if name.startswith("info "):  # QEMU: `help info SUB` shows that subcommand's line
        sub = name[len("info ") :].strip()
        lines = [line for line in info_help_lines() if line.split(" ", 2)[1] == sub]
        if not lines:
            raise MonitorError(f"unknown command: '{name}'")
        for line in lines:
            mon.out(line)
        return
    found = COMMANDS.get(name)
    if found is None:
        raise MonitorError(f"unknown command: '{name}'")
    mon.out(found.help_line)
    if found.details:
        mon.out(found.details)


def _scripted(mon: Monitor) -> tuple[str, int]:
    return mon.where()


def _script_path(mon: Monitor, name: str) -> tuple[Path, bool]:
    """The file ``source NAME`` runs, and whether it is a shipped script."""
    path = Path(name)
    if not path.is_absolute():
        path = mon.script_dir / path
    if path.is_file():
        return path, False
    shipped = find_shipped(name)
    if shipped is not None:
        return shipped, True
    raise MonitorError(f"Could not open '{path}': No such file or directory")


@command(
    "source",
    "[--echo] file",
    "run the commands of a .dmamon script (paths relative to the including script;"
    " a bare name such as 'tour' runs a shipped script); --echo shows each command",
    AREA,
    args=(arg("file", "file"), flag("--echo")),
    usage="source [--echo] FILE",
)
def source(mon: Monitor, *, file: str, echo: bool) -> None:
    path, shipped = _script_path(mon, file)
    saved = mon.echo_prompt
    if (echo or shipped) and saved is None:  # a shipped lab shows what it runs
        mon.echo_prompt = "(dmamon) "
    try:
        with _unrecorded(mon):
            ok = mon.run_file(path)
    finally:
        mon.echo_prompt = saved
    if not ok:
        # the failure was reported where it happened; do not report it twice
        mon.failed = True
        mon.error = "\x00nested"


@command(
    "record",
    "[-f] file|stop",
    "save the commands typed from now on as a runnable script (-f: overwrite)",
    AREA,
    complete=("file",),
)
def record(mon: Monitor, args: str) -> None:
    words = split_words(args)
    force = "-f" in words
    words = [w for w in words if w != "-f"]
    if len(words) != 1:
        raise MonitorError("usage: record [-f] FILE | record stop")
    rec = recorder_of(mon)
    if words[0] == "stop":
        name, count = rec.path, rec.count
        if not rec.stop():
            raise MonitorError("record: not recording")
        mon.out(f"recording stopped: {name} ({plural(count, 'command')})")
        return
    path = Path(words[0])
    if path.exists() and not force:
        raise MonitorError(f"record: '{path}' exists (record -f {path} overwrites it)")
    try:
        f = path.open("w", encoding="utf-8")  # noqa: SIM115 - kept open until record stop
    except OSError as e:
        raise MonitorError(f"Could not open '{path}': {os_reason(e)}") from None
    rec.start(f, str(path))
    mon.out(f"recording to {path} ('record stop' ends it)")


def recorder_of(mon: Monitor) -> Recorder:
    """The session's :class:`Recorder` (one without a journal if the front end set none)."""
    if not isinstance(mon.recording, Recorder):
        mon.recording = Recorder()
    return mon.recording


@contextmanager
def _unrecorded(mon: Monitor) -> Iterator[None]:
    if isinstance(mon.recording, Recorder):
        with mon.recording.paused():
            yield
    else:
        yield


def _note(mon: Monitor, text: str, failure: str | None) -> None:
    file, line = mon.where()
    mon.assertions.append((file, line, text, failure))
    if failure is not None:
        raise MonitorError(failure)


def _compare(got: int | str | None, op: str, want_text: str, mon: Monitor) -> bool:
    want: int | str
    if isinstance(got, int):
        try:
            want = evaluate(want_text, mon.resolve)
        except HmpError:
            want = want_text
    else:
        want = want_text
    if isinstance(got, int) and isinstance(want, int):
        return {
            "==": got == want,
            "!=": got != want,
            "<": got < want,
            "<=": got <= want,
            ">": got > want,
            ">=": got >= want,
        }[op]
    g, w = str(got), str(want)
    if op in ("==", "!="):
        same = g == w or w in _TEXT_ALIASES.get(g, ())
        return same == (op == "==")
    raise MonitorError(f"expect: cannot order {g!r} and {w!r} with {op}")


def _show(v: int | str | None) -> str:
    if isinstance(v, int):
        return f"{v:#x} ({v})"
    return "nothing" if v is None else repr(v)


@command(
    "expect",
    "command op value",
    "assert on a command's value (op: == != < <= > >=)",
    AREA,
    details=EXPECT_HELP,
    complete=("command",),
)
def expect(mon: Monitor, args: str) -> None:
    matches = list(_SPLIT.finditer(" " + args + " "))
    if not matches:
        raise MonitorError("expect: usage: expect COMMAND OP VALUE (OP: == != < <= > >=)")
    m = matches[-1]
    cmd = (" " + args)[: m.start()].strip()
    want = (" " + args + " ")[m.end() :].strip()
    if not cmd or not want:
        raise MonitorError("expect: usage: expect COMMAND OP VALUE")
    if cmd.split(" ", 1)[0].startswith("expect"):
        raise MonitorError("expect: cannot nest assertions")
    text = f"expect {args}"
    with _unrecorded(mon):
        done = mon.execute(cmd)
    if not done:
        _note(mon, text, f"expect: '{cmd}' failed: {mon.error}")
        return
    got = mon.value
    ok = _compare(got, m.group(1), want, mon)
    _note(
        mon,
        text,
        None if ok else f"expect: '{cmd}' gave {_show(got)}, expected {m.group(1)} {want}",
    )


_REGEX = (arg("regex", "rest", metavar="REGEX"),)


def _regex(args: str, name: str) -> re.Pattern[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. FutureWarning for "[" sets
            return re.compile(args.strip())
    except re.error as e:
        raise MonitorError(f"{name}: bad regular expression: {e}") from None


@command(
    "expect-output",
    "regex",
    "assert that the previous command's output matches",
    AREA,
    args=_REGEX,
)
def expect_output(mon: Monitor, *, regex: str) -> None:
    rx = _regex(regex, "expect-output")
    lines = mon.prev_output
    ok = any(rx.search(line) for line in lines)
    _note(
        mon,
        f"expect-output {regex}",
        None
        if ok
        else f"expect-output: no output line of the previous command matches /{rx.pattern}/",
    )


@command(
    "expect-log",
    "regex",
    "assert that a log or trace line since the previous command matches",
    AREA,
    args=_REGEX,
)
def expect_log(mon: Monitor, *, regex: str) -> None:
    rx = _regex(regex, "expect-log")
    ok = any(rx.search(r.text) for r in mon.records_since_previous())
    _note(
        mon,
        f"expect-log {regex}",
        None
        if ok
        else f"expect-log: no log or trace line since the previous command matches /{rx.pattern}/",
    )


@command(
    "expect-no-log",
    "regex",
    "assert that no log or trace line since the previous command matches",
    AREA,
    args=_REGEX,
)
def expect_no_log(mon: Monitor, *, regex: str) -> None:
    rx = _regex(regex, "expect-no-log")
    hits = [r.text for r in mon.records_since_previous() if rx.search(r.text)]
    _note(
        mon,
        f"expect-no-log {regex}",
        None if not hits else f"expect-no-log: /{rx.pattern}/ matched: {hits[0]}",
    )


@command(
    "expect-fail",
    "command",
    "assert that a command fails",
    AREA,
    args=(arg("cmd", "rest", metavar="COMMAND", complete="command"),),
)
def expect_fail(mon: Monitor, *, cmd: str) -> None:
    mon.expecting_failure = True
    try:
        with _unrecorded(mon):
            ok = not mon.execute(cmd)
    finally:
        mon.expecting_failure = False
    mon.failed = False
    mon.error = ""
    _note(mon, f"expect-fail {cmd}", None if ok else f"expect-fail: '{cmd}' succeeded")
