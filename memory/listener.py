"""Memory listeners: being told which sections of an address space appear and disappear
(QEMU ``MemoryListener`` ``region_add``/``region_del``, as its vfio and vfio-user clients
use to keep a device's DMA mappings in step with the guest's memory map).

Register with :meth:`AddressSpace.register_listener`. The listener is first given a
``region_add`` for every section already there; from then on each topology commit (one
change, or one ``with transaction():`` block) that changes the space's flat view calls,
in this order:

1. ``begin()`` on every listener, in registration order;
2. ``region_del(section)`` for each section that went away, in address order, listeners
   in reverse registration order (QEMU tears down in reverse);
3. ``region_add(section)`` for each new section, in address order, listeners in
   registration order;
4. ``commit()`` on every listener, in registration order.

A section that only moved (a BAR placed elsewhere) is a ``region_del`` of the old
place and a ``region_add`` of the new one. :meth:`AddressSpace.unregister_listener`
gives a ``region_del`` for every section still there. Address spaces are told in the
order their first listener registered, so the whole sequence is deterministic.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmamon.memory.region import MemoryRegion, add_commit_hook

if TYPE_CHECKING:
    from dmamon.memory.address_space import AddressSpace
    from dmamon.memory.flatview import FlatRange

__all__ = [
    "MemoryListener",
    "MemoryRegionSection",
    "deliver",
    "diff",
    "sections_of",
    "unwatch",
    "watch",
]


@dataclass(frozen=True, slots=True)
class MemoryRegionSection:
    """A piece of an address space served by one region (QEMU ``MemoryRegionSection``).

    Attributes:
        region: the terminal region (RAM, ROM, I/O or IOMMU).
        offset_within_region: region offset of the first byte.
        address: where it starts in the address space.
        size: length in bytes.
        readonly: writes are dropped (ROM).
    """

    region: MemoryRegion
    offset_within_region: int
    address: int
    size: int
    readonly: bool

    @classmethod
    def of(cls, fr: FlatRange) -> MemoryRegionSection:
        """The section a flat range stands for."""
        return cls(fr.region, fr.offset_in_region, fr.start, fr.end - fr.start, fr.readonly)

    @property
    def end(self) -> int:
        """First address after the section."""
        return self.address + self.size


class MemoryListener:
    """Override the callbacks you need; the defaults do nothing."""

    def begin(self) -> None:
        """A topology commit that changes the space starts."""

    def region_add(self, section: MemoryRegionSection) -> None:
        """``section`` appeared."""

    def region_del(self, section: MemoryRegionSection) -> None:
        """``section`` went away."""

    def commit(self) -> None:
        """The commit is over."""


def sections_of(space: AddressSpace) -> list[MemoryRegionSection]:
    """The space's current sections in address order."""
    return [MemoryRegionSection.of(fr) for fr in space.flatview.ranges]


def diff(
    old: list[MemoryRegionSection], new: list[MemoryRegionSection]
) -> tuple[list[MemoryRegionSection], list[MemoryRegionSection]]:
    """(gone, appeared), each in address order."""
    old_set, new_set = set(old), set(new)
    return [s for s in old if s not in new_set], [s for s in new if s not in old_set]


def deliver(
    listeners: list[MemoryListener],
    gone: list[MemoryRegionSection],
    appeared: list[MemoryRegionSection],
) -> None:
    """One commit's callbacks, in the documented order."""
    listeners = list(listeners)  # a callback may (un)register
    for lst in listeners:
        lst.begin()
    for section in gone:
        for lst in reversed(listeners):
            lst.region_del(section)
    for section in appeared:
        for lst in listeners:
            lst.region_add(section)
    for lst in listeners:
        lst.commit()


# Address spaces with listeners, in the order they got their first one.
_watched: list[weakref.ref[AddressSpace]] = []


def watch(space: AddressSpace) -> None:
    """Have ``space`` told of every topology commit from now on."""
    if not any(r() is space for r in _watched):
        _watched.append(weakref.ref(space))


def unwatch(space: AddressSpace) -> None:
    """Stop telling ``space`` (it has no listeners left)."""
    _watched[:] = [r for r in _watched if r() is not None and r() is not space]


def _on_commit() -> None:
    for ref in list(_watched):
        space = ref()
        if space is None:
            _watched.remove(ref)
        else:
            space.update_listeners()


add_commit_hook(_on_commit)
