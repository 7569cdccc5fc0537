"""Tab-completion candidates, looked up by completion kind: the one registry.

What to complete at a position comes from the command's spec:
:meth:`~dmamon.monitor.CommandSpec.completion_kind` knows subcommands, option values and
flags of declared commands (a kind per parameter, from :mod:`dmamon.argspec`), and the
``complete=`` tuple of the others. Each kind names a completer in :data:`COMPLETERS`
(``subcommand:a,b`` is a literal word list and needs none); a plug-in that brings a new
kind registers it with :func:`completer`::

    @completer("queue")
    def _queues(ctx: CompletionContext) -> list[str]:
        return [q.name for q in my_device(ctx.machine).queues]

This module imports no UI library; the cmd2 shell only turns the candidates into
completions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dmamon.devices import Machine
from dmamon.memory import LOG_ITEMS, all_events, all_fixes
from dmamon.monitor import COMMANDS, INFO

__all__ = [
    "COMPLETERS",
    "CompletionContext",
    "candidates",
    "completer",
]


@dataclass(frozen=True)
class CompletionContext:
    """What a completer may look at.

    Attributes:
        machine: the machine of the session.
        words: the argument words before the one being completed (no command name; for
            ``info SUB`` and ``reg read`` they start with the subcommand).
    """

    machine: Machine
    words: list[str]


Completer = Callable[[CompletionContext], list[str]]

COMPLETERS: dict[str, Completer] = {}
"""Completion kind -> completer. ``subcommand:a,b`` kinds need no entry."""


def completer(kind: str) -> Callable[[Completer], Completer]:
    """Register the completer of a completion kind (decorator).

    Raises:
        ValueError: the kind has a completer already.
    """

    def deco(func: Completer) -> Completer:
        if kind in COMPLETERS:
            raise ValueError(f"completion kind {kind!r} registered twice")
        COMPLETERS[kind] = func
        return func

    return deco


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


@completer("reg-field")
def _reg_fields(ctx: CompletionContext) -> list[str]:
    """After ``reg write DEV REG``: that register's ``FIELD=`` names."""
    words = ctx.words
    if len(words) != 3 or words[1] not in ctx.machine.devices:
        return []
    try:
        _, bank = ctx.machine.find_bank(words[1], words[2])
    except KeyError:
        return []
    info = type(bank).lookup(words[2])
    return [f"{f.name}=" for f in info.fields] if info is not None else []
