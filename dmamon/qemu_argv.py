"""QEMU's command-line spelling, made safe for click.

QEMU options are one dash and a long name (``-display none``); click would read
``-display`` as ``-d isplay``. :func:`normalise` rewrites a QEMU argument list before click
parses it: options dmamon models keep their meaning (``-machine q35,accel=qtest`` is
``-M q35``), harmless ones it does not model are dropped (``-display none``, ``-nographic``,
``-monitor stdio``, ...), and any other QEMU option is refused by its own name.
"""

from __future__ import annotations

__all__ = ["IGNORED_FLAGS", "IGNORED_WITH_VALUE", "UnsupportedOption", "normalise"]

IGNORED_WITH_VALUE = frozenset(
    {"-display", "-monitor", "-serial", "-parallel", "-accel", "-vga", "-name", "-qmp"}
)
"""Options that only concern a display, a console or an accelerator: nothing to model."""

IGNORED_FLAGS = frozenset({"-nographic", "-no-user-config", "-no-reboot", "-no-shutdown"})

# dmamon's own options that take a value (their value is never rewritten)
_TAKES_VALUE = frozenset(
    {
        "-M",
        "-m",
        "-device",
        "-trace",
        "-d",
        "-D",
        "--machine",
        "--memory",
        "--device",
        "--trace",
        "--script",
        "--junit",
        "--socket",
        "--tcp",
        "--log",
    }
)
_KNOWN = _TAKES_VALUE | {"-nodefaults", "-S", "-k", "-h", "-V", "--nodefaults"}


class UnsupportedOption(ValueError):
    """A QEMU option dmamon neither models nor may ignore."""


def _machine(value: str) -> str:
    first = value.split(",", 1)[0]
    return first[len("type=") :] if first.startswith("type=") else first


def normalise(args: list[str]) -> list[str]:
    """``args`` with QEMU's spellings made click-safe.

    Raises:
        UnsupportedOption: ``-smp``, ``-cpu``, ``-drive``... (message names the option).
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        nxt = args[i + 1] if i + 1 < len(args) else None
        if a == "--":
            return out + args[i:]
        if a in ("-machine", "-M", "--machine") and nxt is not None:
            out += ["-M", _machine(nxt)]
            i += 2
            continue
        if a in _TAKES_VALUE and nxt is not None:
            out += [a, nxt]
            i += 2
            continue
        if a in IGNORED_WITH_VALUE:
            i += 2
            continue
        if a in IGNORED_FLAGS:
            i += 1
            continue
        qemu_style = a.startswith("-") and not a.startswith("--") and len(a) > 2
        if qemu_style and a not in _KNOWN and not a[1:2].isdigit():
            raise UnsupportedOption(f"{a}: a QEMU option dmamon does not model")
        out.append(a)
        i += 1
    return out
