"""Tab-completion candidates, looked up by completion kind.

A command says what its arguments complete to with the ``complete=`` kinds of its
:class:`~dmamon.monitor.CommandSpec` (``("subcommand:read,write", "device", "register")``):
one kind per position, the last one repeating. Each kind names a completer in
:data:`COMPLETERS`; a plug-in that brings a new kind registers it with :func:`completer`::

    @completer("queue")
    def _queues(ctx: CompletionContext) -> list[str]:
        return [q.name for q in my_device(ctx.machine).queues]

Commands whose spec lists no kinds (or too few) can be given theirs with
:func:`set_argument_kinds` (``info mtree`` offers its flags this way). This module imports
no UI library; the cmd2 shell only turns the candidates into completions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dmamon.devices import Machine
from dmamon.memory import LOG_ITEMS, all_events, all_fixes
from dmamon.monitor import COMMANDS, INFO, CommandSpec

__all__ = [
    "COMPLETERS",
    "CompletionContext",
    "argument_kinds",
    "candidates",
    "completer",
    "set_argument_kinds",
]


@dataclass(frozen=True)
class CompletionContext:
    """What a completer may look at.

    Attributes:
        machine: the machine of the session.
        words: the argument words before the one being completed (no command name;
            for ``info SUB`` they start with ``SUB``).
    """

    machine: Machine
    words: list[str]


Completer = Callable[[CompletionContext], list[str]]

COMPLETERS: dict[str, Completer] = {}
"""Completion kind -> completer. ``subcommand:a,b`` kinds need no entry."""

_EXTRA_KINDS: dict[str, tuple[str, ...]] = {}


def completer(kind: str) -> Callable[[Completer], Completer]:
    """Register the completer of a completion kind (decorator); a later one replaces it."""

    def deco(func: Completer) -> Completer:
        COMPLETERS[kind] = func
        return func

    return deco


def set_argument_kinds(path: str, kinds: tuple[str, ...]) -> None:
    """Give command ``path`` (``"reg"``, ``"info mtree"``) these argument kinds, in place of
    what its spec declares."""
    _EXTRA_KINDS[path] = kinds


def argument_kinds(spec: CommandSpec, words: list[str]) -> tuple[str, ...]:
    """The kinds of ``spec``'s arguments, by position (``info`` takes its subcommand's)."""
    if spec.name == "info":
        if not words:
            return ("info",)
        sub = INFO.get(words[0])
        if sub is None:
            return ("info",)
        own = _EXTRA_KINDS.get(f"info {sub.name}", sub.complete)
        return ("info", *own)
    return _EXTRA_KINDS.get(spec.name, spec.complete)


def candidates(kind: str, ctx: CompletionContext) -> list[str]:
    """The words kind ``kind`` offers here ([] for an unknown kind)."""
    if kind.startswith("subcommand:"):
        return kind.split(":", 1)[1].split(",")
    func = COMPLETERS.get(kind)
    return func(ctx) if func is not None else []


# -- the built-in kinds -----------------------------------------------------------------------


@completer("command")
def _commands(ctx: CompletionContext) -> list[str]:
    return sorted(COMMANDS)


@completer("info")
def _infos(ctx: CompletionContext) -> list[str]:
    return sorted(INFO)


@completer("device")
def _devices(ctx: CompletionContext) -> list[str]:
    return list(ctx.machine.devices)


@completer("devtype")
def _devtypes(ctx: CompletionContext) -> list[str]:
    from dmamon.devices import DEVICE_TYPES

    return sorted(n for n, c in DEVICE_TYPES.items() if c.user_creatable)


@completer("event")
def _events(ctx: CompletionContext) -> list[str]:
    return [e.name for e in all_events()]


@completer("event-pattern")
def _event_patterns(ctx: CompletionContext) -> list[str]:
    """Event names and a ``PREFIX_*`` glob per family (``info trace-events edu_*``)."""
    names = [e.name for e in all_events()]
    families = sorted({n.split("_", 1)[0] + "_*" for n in names if "_" in n})
    return [*names, *families]


@completer("fix")
def _fixes(ctx: CompletionContext) -> list[str]:
    return [s.name for s in all_fixes()]


@completer("logitem")
def _logitems(ctx: CompletionContext) -> list[str]:
    return [*LOG_ITEMS, "none", "help"]


def _registers_of(machine: Machine, dev_name: str) -> list[object]:
    return [
        info
        for bank in machine.device(dev_name).banks().values()
        for info in type(bank).registers()
    ]


@completer("register")
def _registers(ctx: CompletionContext) -> list[str]:
    dev_name = next((w for w in ctx.words if w in ctx.machine.devices), None)
    if dev_name is None:
        return []
    return [getattr(info, "name", "") for info in _registers_of(ctx.machine, dev_name)]


@completer("symbol")
def _symbols(ctx: CompletionContext) -> list[str]:
    out = list(ctx.machine.devices)
    for name in ctx.machine.devices:
        out += [f"{name}.{getattr(i, 'name', '')}" for i in _registers_of(ctx.machine, name)]
    return out


@completer("mtree-flag")
def _mtree_flags(ctx: CompletionContext) -> list[str]:
    return [f for f in ("-f", "-d", "-o", "-D") if f not in ctx.words]


@completer("reg-arg")
def _reg_args(ctx: CompletionContext) -> list[str]:
    """After ``reg read DEV REG``: ``--peek``; after ``reg write DEV REG``: ``FIELD=``."""
    words = ctx.words
    if len(words) < 3 or words[0] not in ("read", "write"):
        return []
    if words[0] == "read":
        return [] if "--peek" in words else ["--peek"]
    if len(words) > 3 or words[1] not in ctx.machine.devices:
        return []
    try:
        _, bank = ctx.machine.find_bank(words[1], words[2])
    except KeyError:
        return []
    info = type(bank).lookup(words[2])
    return [f"{f.name}=" for f in info.fields] if info is not None else []


set_argument_kinds("info mtree", ("mtree-flag",))
set_argument_kinds("info trace-events", ("event-pattern", "none"))
set_argument_kinds("reg", ("subcommand:read,write", "device", "register", "reg-arg"))
