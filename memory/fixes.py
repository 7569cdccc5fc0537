"""Fix switches: each known bug the machine can show has a named switch.

A switch stands for an upstream fix (a commit, CVE or bug number). Its default follows
current upstream behaviour; turning it off brings the bug back. Declarations are
module-level (one per switch); the on/off state belongs to one machine's :class:`Fixes`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dmamon.memory.errors import ConfigError
from dmamon.memory.vmstate import StateField, Stateful, VMStateDescription

__all__ = ["FixSwitch", "Fixes", "all_fixes", "declare_fix"]

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_REGISTRY: dict[str, FixSwitch] = {}


@dataclass(frozen=True, slots=True)
class FixSwitch:
    """A declared switch.

    Attributes:
        name: kebab-case name (``reentrancy-guard``).
        default: whether the fix is on by default (upstream behaviour).
        summary: what the fix does, one line.
        reference: the commit, CVE or bug it stands for.
        layer: where it lives (``kernel`` or a device type).
    """

    name: str
    default: bool
    summary: str
    reference: str
    layer: str


def declare_fix(name: str, default: bool, summary: str, reference: str, layer: str) -> FixSwitch:
    """Declare a switch once at import time.

    Raises:
        ConfigError: bad or duplicate name.
    """
    if not _NAME_RE.match(name):
        raise ConfigError(f"fix switch name must be kebab-case, not {name!r}")
    if name in _REGISTRY:
        raise ConfigError(f"fix switch {name!r} is declared twice")
    sw = FixSwitch(name, default, summary, reference, layer)
    _REGISTRY[name] = sw
    return sw


def all_fixes() -> list[FixSwitch]:
    """Every declared switch, sorted by name."""
    return sorted(_REGISTRY.values(), key=lambda s: s.name)


class Fixes(Stateful):
    """One machine's switch states (every declared switch, at its default until set);
    ``save_state``/``load_state`` keep the switches set explicitly."""

    VMSTATE = VMStateDescription("fixes", 1, (StateField("_state"),))

    def __init__(self) -> None:
        self._state: dict[str, bool] = {}

    def __getitem__(self, sw: FixSwitch) -> bool:
        return self._state.get(sw.name, sw.default)

    def get(self, name: str) -> bool:
        """State of a switch by name.

        Raises:
            KeyError: no such switch.
        """
        sw = _REGISTRY.get(name)
        if sw is None:
            raise KeyError(name)
        return self[sw]

    def set(self, name: str, on: bool) -> FixSwitch:
        """Turn a switch on or off.

        Raises:
            KeyError: no such switch.
        """
        sw = _REGISTRY.get(name)
        if sw is None:
            raise KeyError(name)
        self._state[name] = on
        return sw

    def items(self) -> list[tuple[FixSwitch, bool]]:
        """Every switch with its current state, sorted by name."""
        return [(sw, self[sw]) for sw in all_fixes()]
