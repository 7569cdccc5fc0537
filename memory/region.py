"""Memory regions (QEMU ``MemoryRegion``, docs/devel/memory.rst).

Kinds: RAM (anonymous ``mmap``, so untouched guest RAM costs no host memory), ROM, I/O
(device callbacks described by :class:`MmioOps`), container, alias, and IOMMU (an I/O
window whose accesses are translated per access). Regions form an acyclic graph; an
:class:`~dmamon.memory.address_space.AddressSpace` flattens it on demand.

Topology changes bump a generation counter; address spaces re-render their flat view
lazily, once per change or once per :func:`begin`/:func:`commit` transaction.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from dmamon.memory.errors import ConfigError
from dmamon.memory.reentrancy import MemReentrancyGuard
from dmamon.memory.txn import MemTxAttrs, MemTxResult

if TYPE_CHECKING:
    from dmamon.memory.iommu import IOMMUTranslator

__all__ = [
    "MemoryRegion",
    "MmioOps",
    "RegionKind",
    "RegionOwner",
    "add_commit_hook",
    "begin",
    "commit",
    "topology_generation",
    "transaction",
]

UINT64_END = 1 << 64
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)  # Linux value; Python 3.11 lacks it


class _Topology:
    generation = 0
    depth = 0
    pending = False
    hooks: list[Callable[[], None]] = []
    notifying = False
    again = False


def add_commit_hook(hook: Callable[[], None]) -> None:
    """Call ``hook()`` after every topology commit (memory listeners hang off this)."""
    _Topology.hooks.append(hook)


def _bumped() -> None:
    """The generation moved: run the commit hooks (a change they make runs them again
    after they finish, never inside themselves)."""
    _Topology.generation += 1
    if not _Topology.hooks:
        return
    if _Topology.notifying:
        _Topology.again = True
        return
    _Topology.notifying = True
    try:
        _Topology.again = True
        while _Topology.again:
            _Topology.again = False
            for hook in list(_Topology.hooks):
                hook()
    finally:
        _Topology.notifying = False


def topology_generation() -> int:
    """A number that changes whenever any region tree changes (after commit)."""
    return _Topology.generation


def _changed() -> None:
    if _Topology.depth:
        _Topology.pending = True
    else:
        _bumped()


def begin() -> None:
    """Start a topology transaction: flat views are rebuilt once, at :func:`commit`."""
    _Topology.depth += 1


def commit() -> None:
    """End a topology transaction."""
    _Topology.depth -= 1
    if _Topology.depth == 0 and _Topology.pending:
        _Topology.pending = False
        _bumped()


@contextmanager
def transaction() -> Iterator[None]:
    """``with transaction():`` around several topology changes."""
    begin()
    try:
        yield
    finally:
        commit()


class RegionOwner(Protocol):
    """What the kernel needs of a device that owns regions."""

    @property
    def name(self) -> str: ...

    @property
    def guard(self) -> MemReentrancyGuard: ...


class RegionKind(Enum):
    """What a region is; ``info mtree`` prints the type word of each."""

    RAM = "ram"
    ROM = "rom"
    IO = "i/o"
    CONTAINER = "container"
    ALIAS = "alias"
    IOMMU = "iommu"


ReadFn = Callable[[int, int], int]
WriteFn = Callable[[int, int, int], None]
ReadAttrsFn = Callable[[int, int, MemTxAttrs], "tuple[MemTxResult, int]"]
WriteAttrsFn = Callable[[int, int, int, MemTxAttrs], MemTxResult]
AcceptsFn = Callable[[int, int, bool, MemTxAttrs], bool]


def _no_read(offset: int, size: int) -> int:
    return 0


def _no_write(offset: int, value: int, size: int) -> None:
    return None


@dataclass(slots=True)
class MmioOps:
    """A device's MMIO contract (QEMU ``MemoryRegionOps``); values are little-endian.

    ``valid_*`` say what the guest may do (others are refused and logged under
    guest_errors); ``impl_*`` say what the callbacks implement (the kernel splits or
    widens accesses to fit). A max of 0 means "not specified" as in QEMU: valid 0 accepts
    any size, impl 0 means 4.

    ``read_with_attrs``/``write_with_attrs``, when given, are used instead of
    ``read``/``write`` and return a ``MemTxResult`` (QEMU's ``*_with_attrs`` callbacks).
    """

    read: ReadFn = _no_read
    write: WriteFn = _no_write
    read_with_attrs: ReadAttrsFn | None = None
    write_with_attrs: WriteAttrsFn | None = None
    valid_min: int = 1
    valid_max: int = 4
    valid_unaligned: bool = False
    accepts: AcceptsFn | None = None
    impl_min: int = 1
    impl_max: int = 4
    impl_unaligned: bool = False

    def __post_init__(self) -> None:
        for label, v in (
            ("valid_min", self.valid_min),
            ("valid_max", self.valid_max),
            ("impl_min", self.impl_min),
            ("impl_max", self.impl_max),
        ):
            if v not in (0, 1, 2, 4, 8):
                raise ConfigError(f"MmioOps.{label} must be 0, 1, 2, 4 or 8, not {v!r}")


_next_region_id = 0


def _new_id() -> int:
    global _next_region_id
    _next_region_id += 1
    return _next_region_id


class MemoryRegion:
    """A node of the memory graph. Build with the class methods, not the constructor."""

    __slots__ = (
        "_alias_offset",
        "addr",
        "alias",
        "disable_reentrancy_guard",
        "enabled",
        "id",
        "iommu",
        "kind",
        "may_overlap",
        "name",
        "ops",
        "owner",
        "parent",
        "priority",
        "ram",
        "readonly",
        "size",
        "subregions",
        "_insert_seq",
        "trace_id",
    )

    def __init__(
        self,
        kind: RegionKind,
        name: str,
        size: int,
        owner: RegionOwner | None = None,
    ) -> None:
        if not isinstance(size, int) or size <= 0 or size > UINT64_END:
            raise ConfigError(f"region {name!r}: size must be 1..2**64, not {size!r}")
        self.kind = kind
        self.name = name
        self.size = size
        self.owner = owner
        self.id = _new_id()
        self.trace_id = 0  # the number traces print for QEMU's "mr %p" (per machine)
        self.addr = 0
        self.priority = 0
        self.may_overlap = False
        self.parent: MemoryRegion | None = None
        self.enabled = True
        self.subregions: list[MemoryRegion] = []
        self.alias: MemoryRegion | None = None
        self._alias_offset = 0
        self.ops: MmioOps | None = None
        self.ram: mmap.mmap | None = None
        self.readonly = False
        self.iommu: IOMMUTranslator | None = None
        self.disable_reentrancy_guard = False
        self._insert_seq = 0

    # -- constructors ----------------------------------------------------------------------

    @classmethod
    def ram_region(cls, name: str, size: int, owner: RegionOwner | None = None) -> MemoryRegion:
        """Guest RAM backed by an anonymous, sparse mapping."""
        mr = cls(RegionKind.RAM, name, size, owner)
        mr.ram = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE)
        return mr

    @classmethod
    def rom_region(
        cls, name: str, size: int, data: bytes = b"", owner: RegionOwner | None = None
    ) -> MemoryRegion:
        """Read-only memory; guest writes are dropped silently, as in QEMU."""
        mr = cls.ram_region(name, size, owner)
        mr.kind = RegionKind.ROM
        mr.readonly = True
        if data:
            if len(data) > size:
                raise ConfigError(f"rom {name!r}: {len(data)} bytes do not fit in {size:#x}")
            mr.ram[0 : len(data)] = data  # type: ignore[index]
        return mr

    @classmethod
    def io_region(
        cls, name: str, size: int, ops: MmioOps, owner: RegionOwner | None = None
    ) -> MemoryRegion:
        """A region whose accesses call device code."""
        mr = cls(RegionKind.IO, name, size, owner)
        mr.ops = ops
        return mr

    @classmethod
    def container(cls, name: str, size: int = UINT64_END) -> MemoryRegion:
        """A region that only holds subregions; its holes are unassigned."""
        return cls(RegionKind.CONTAINER, name, size)

    @classmethod
    def alias_region(cls, name: str, target: MemoryRegion, offset: int, size: int) -> MemoryRegion:
        """A window of ``size`` bytes onto ``target`` starting at ``offset``."""
        if target.kind is RegionKind.ALIAS and target.alias is not None:
            pass  # alias of alias is allowed, as in QEMU
        if offset < 0 or offset + size > target.size:
            raise ConfigError(
                f"alias {name!r}: {offset:#x}+{size:#x} is outside {target.name!r} "
                f"(size {target.size:#x})"
            )
        mr = cls(RegionKind.ALIAS, name, size)
        mr.alias = target
        mr._alias_offset = offset
        return mr

    @classmethod
    def iommu_region(
        cls, name: str, size: int, translator: IOMMUTranslator, owner: RegionOwner | None = None
    ) -> MemoryRegion:
        """An IOMMU window: each access is translated by ``translator``."""
        mr = cls(RegionKind.IOMMU, name, size, owner)
        mr.iommu = translator
        return mr

    # -- topology --------------------------------------------------------------------------

    @property
    def alias_offset(self) -> int:
        """Offset into the alias target."""
        return self._alias_offset

    def set_alias_offset(self, offset: int) -> None:
        """Move an alias window (QEMU ``memory_region_set_alias_offset``)."""
        self._alias_offset = offset
        _changed()

    def add_subregion(
        self, offset: int, child: MemoryRegion, priority: int = 0, may_overlap: bool = False
    ) -> None:
        """Map ``child`` at ``offset`` inside this region.

        Higher priority wins where siblings overlap; among equal priorities the one
        added last wins (QEMU's insertion rule). Overlap at one priority is a
        configuration error unless either side was added with ``may_overlap``
        (QEMU's ``memory_region_add_subregion_overlap``).

        Raises:
            ConfigError: child already mapped, outside this region, an alias of itself,
                or overlapping a sibling at the same priority.
        """
        if child.parent is not None:
            raise ConfigError(f"region {child.name!r} is already mapped in {child.parent.name!r}")
        if child is self or child.alias is self:
            raise ConfigError(f"region {child.name!r} cannot be mapped into itself")
        if offset < 0 or offset + child.size > self.size:
            raise ConfigError(
                f"region {child.name!r} at {offset:#x} (size {child.size:#x}) does not fit in "
                f"{self.name!r} (size {self.size:#x})"
            )
        if not may_overlap:
            for s in self.subregions:
                if (
                    s.priority == priority
                    and not s.may_overlap
                    and s.enabled
                    and offset < s.addr + s.size
                    and s.addr < offset + child.size
                ):
                    raise ConfigError(
                        f"region {child.name!r} at {offset:#x} overlaps {s.name!r} at "
                        f"{s.addr:#x} in {self.name!r}, both priority {priority}"
                    )
        child.addr = offset
        child.priority = priority
        child.may_overlap = may_overlap
        child.parent = self
        self._insert(child)
        _changed()

    def _insert(self, child: MemoryRegion) -> None:
        # Descending priority; a newcomer goes before existing equals (QEMU).
        for i, other in enumerate(self.subregions):
            if child.priority >= other.priority:
                self.subregions.insert(i, child)
                return
        self.subregions.append(child)

    def del_subregion(self, child: MemoryRegion) -> None:
        """Unmap ``child``.

        Raises:
            ConfigError: ``child`` is not a subregion of this region.
        """
        if child.parent is not self:
            raise ConfigError(f"region {child.name!r} is not mapped in {self.name!r}")
        self.subregions.remove(child)
        child.parent = None
        _changed()

    def set_address(self, offset: int) -> None:
        """Move this region inside its parent (BAR placement)."""
        if self.parent is None:
            self.addr = offset
            return
        parent = self.parent
        with transaction():
            parent.del_subregion(self)
            parent.add_subregion(offset, self, self.priority, self.may_overlap)

    def set_enabled(self, enabled: bool) -> None:
        """Show or hide this region (bus-master enable, BAR memory enable)."""
        if self.enabled != enabled:
            self.enabled = enabled
            _changed()

    # -- queries ---------------------------------------------------------------------------

    def absolute_address(self) -> int:
        """Address of offset 0 in the root of the tree this region is mapped in."""
        a, mr = self.addr, self.parent
        while mr is not None:
            a += mr.addr
            mr = mr.parent
        return a

    @property
    def is_ram(self) -> bool:
        """RAM or ROM backed by host memory."""
        return self.ram is not None

    def type_word(self) -> str:
        """``info mtree`` type: ``ram``, ``rom``, ``i/o`` (containers and IOMMUs print i/o)."""
        if self.kind is RegionKind.RAM:
            return "ram"
        if self.kind is RegionKind.ROM:
            return "rom"
        if self.kind is RegionKind.ALIAS and self.alias is not None:
            return self.alias.type_word()
        return "i/o"

    def __repr__(self) -> str:
        return f"<MemoryRegion {self.kind.value} {self.name!r} size={self.size:#x}>"
