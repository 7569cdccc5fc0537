"""Per-object state declarations for save and restore (the idea of QEMU's ``VMState``).

An object declares which attributes are its state, with a version; it then gets
``save_state() -> dict`` and ``load_state(dict)``. Saved values are deep copies, so a
saved state never changes when the object does, and loading never shares with the dict.

Adopting it in a device (or any object)::

    class Edu(Device, Stateful):
        VMSTATE = VMStateDescription(
            "edu", version=2,
            fields=(StateField("fact"), StateField("status"), StateField("dma_buf"),
                    StateField("irq_status", since=2)),
        )

    saved = edu.save_state()   # {"name": "edu", "version": 2, "fields": {...}}
    edu.load_state(saved)

Versioning works as in QEMU: a state saved by an older version loads (fields added
``since`` a later version keep their current value), one newer than the object's
``version`` or older than ``minimum_version`` is refused with :class:`StateError`.
``pre_save``/``post_load`` hooks (methods named in the description) run around the
copy, for state that is derived (re-arm a timer, recompute an IRQ line).

State that holds callbacks cannot be copied; it is saved by *name* and looked up on
load. The clock does that for its pending timers and bottom halves (see
:meth:`VirtualClock.save_state`): every timer and bottom half is found again by the name
it was created with, so names must be unique per machine (``edu0.dma``, not ``dma``).
RAM is saved as the pages that differ from zero (:func:`save_ram`).
"""

from __future__ import annotations

import copy
import mmap
from dataclasses import dataclass
from typing import Any, ClassVar

from dmamon.memory.errors import ConfigError

__all__ = [
    "StateError",
    "StateField",
    "Stateful",
    "VMStateDescription",
    "load_ram",
    "load_state",
    "save_ram",
    "save_state",
]

PAGE = 4096
_ZERO_PAGE = bytes(PAGE)


class StateError(ConfigError):
    """A saved state that does not fit the object (name, version, missing field)."""


@dataclass(frozen=True, slots=True)
class StateField:
    """One attribute of the state.

    Attributes:
        name: the attribute.
        since: the first version that has it.
    """

    name: str
    since: int = 1


@dataclass(frozen=True, slots=True)
class VMStateDescription:
    """What an object's state is.

    Attributes:
        name: the section name (a device type, ``clock``, ...).
        version: the version this code saves.
        fields: the attributes, in save order.
        minimum_version: the oldest version this code still loads.
        pre_save: name of a method called before saving, or "".
        post_load: name of a method called after loading, or "".
    """

    name: str
    version: int
    fields: tuple[StateField, ...]
    minimum_version: int = 1
    pre_save: str = ""
    post_load: str = ""


def save_state(obj: object, desc: VMStateDescription) -> dict[str, Any]:
    """``{"name", "version", "fields": {attr: deep copy}}`` of ``obj``."""
    if desc.pre_save:
        getattr(obj, desc.pre_save)()
    fields = {f.name: copy.deepcopy(getattr(obj, f.name)) for f in desc.fields}
    return {"name": desc.name, "version": desc.version, "fields": fields}


def load_state(obj: object, desc: VMStateDescription, state: dict[str, Any]) -> None:
    """Set ``obj``'s declared attributes from a saved state (deep copies).

    Raises:
        StateError: another section's state, a version out of range, or a field the
            saved version should have but lacks.
    """
    if state.get("name") != desc.name:
        raise StateError(f"state of {state.get('name')!r} cannot load into {desc.name!r}")
    version = state.get("version")
    if not isinstance(version, int) or not desc.minimum_version <= version <= desc.version:
        raise StateError(
            f"{desc.name}: version {version!r} is outside {desc.minimum_version}..{desc.version}"
        )
    saved = state.get("fields", {})
    wanted = [f for f in desc.fields if f.since <= version]
    missing = [f.name for f in wanted if f.name not in saved]
    if missing:
        raise StateError(f"{desc.name}: saved state lacks {', '.join(missing)}")
    for f in wanted:
        setattr(obj, f.name, copy.deepcopy(saved[f.name]))
    if desc.post_load:
        getattr(obj, desc.post_load)()


class Stateful:
    """Mixin: a class with a ``VMSTATE`` description gets save_state/load_state."""

    VMSTATE: ClassVar[VMStateDescription]

    def save_state(self) -> dict[str, Any]:
        """This object's state (deep copies, versioned)."""
        return save_state(self, self.VMSTATE)

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a state :meth:`save_state` made.

        Raises:
            StateError: the state does not fit (see :func:`load_state`).
        """
        load_state(self, self.VMSTATE, state)


def save_ram(ram: mmap.mmap) -> dict[int, bytes]:
    """The pages of ``ram`` that are not all zeros, by page number (untouched guest RAM
    is zeros, so a state holds only what the guest or a device wrote)."""
    pages: dict[int, bytes] = {}
    for n in range(len(ram) // PAGE):
        o = n * PAGE
        if ram[o : o + PAGE] != _ZERO_PAGE:
            pages[n] = ram[o : o + PAGE]
    tail = len(ram) % PAGE
    if tail:
        o = len(ram) - tail
        if any(ram[o:]):
            pages[len(ram) // PAGE] = ram[o:]
    return pages


def load_ram(ram: mmap.mmap, pages: dict[int, bytes]) -> None:
    """Make ``ram`` hold ``pages`` and zeros elsewhere (pages already zero stay untouched).

    Raises:
        StateError: a page outside the RAM or of the wrong size.
    """
    last = (len(ram) + PAGE - 1) // PAGE
    for n, data in pages.items():
        o = n * PAGE
        if not 0 <= n < last or len(data) != min(PAGE, len(ram) - o):
            raise StateError(f"RAM page {n} does not fit a RAM of {len(ram):#x} bytes")
    for n in range(last):
        o = n * PAGE
        page = pages.get(n)
        if page is not None:
            ram[o : o + len(page)] = page
        elif ram[o : o + PAGE] != _ZERO_PAGE[: min(PAGE, len(ram) - o)]:
            ram[o : o + PAGE] = _ZERO_PAGE[: min(PAGE, len(ram) - o)]
