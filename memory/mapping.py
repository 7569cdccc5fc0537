"""Map backends: how ``AddressSpace.map``/``unmap`` give a device direct access to memory.

QEMU's ``address_space_map`` hands out a pointer into RAM when it can and otherwise the
single bounce buffer; Xen replaces the first with its mapping cache. Here the address
space first follows IOMMU windows (:meth:`AddressSpace.translate`), then asks its
backends in order; the first that returns a :class:`MappedRange` serves the request and
is asked again at unmap. The default chain is ``[DirectMap(), BounceMap()]``.

A new backend (say a mapping cache) implements :class:`MapBackend` and is put in front::

    space.map_backends.insert(0, MyCache())

``try_map`` returns None to pass the request on, or ``(result, MappedRange | None)``
to answer it (a ``None`` range is a refusal nobody else may override, as QEMU's NULL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from dmamon.memory.txn import MemTxAttrs, MemTxResult

if TYPE_CHECKING:
    from dmamon.memory.address_space import AddressSpace
    from dmamon.memory.iommu import IOMMUTLBEntry

__all__ = ["BOUNCE_SIZE", "BounceMap", "DirectMap", "MapBackend", "MapRequest", "MappedRange"]

BOUNCE_SIZE = 4096  # QEMU bounces at most one target page at a time
_OK = MemTxResult.OK
_ERROR = MemTxResult.ERROR


@dataclass(slots=True)
class MappedRange:
    """A live ``map`` of guest memory (QEMU ``address_space_map``).

    ``view`` is the host memory itself for RAM or a bounce buffer for anything else; a
    bounce buffer is written back by :meth:`AddressSpace.unmap` for writes. ``backend``
    is the :class:`MapBackend` that made it (None: the address space's default rules).
    """

    addr: int
    length: int
    is_write: bool
    view: memoryview
    bounce: bool
    attrs: MemTxAttrs
    translation: IOMMUTLBEntry | None
    backend: MapBackend | None = None


@dataclass(frozen=True, slots=True)
class MapRequest:
    """One map request after IOMMU translation.

    Attributes:
        space: the address space asked (the device's view).
        addr: the address asked for, in ``space``.
        length: how much was asked, already clipped to one translation.
        is_write: the device will write.
        attrs: the transaction's attributes.
        target: the address space that finally serves it.
        target_addr: the address there.
        translation: the last IOMMU translation followed, if any.
    """

    space: AddressSpace
    addr: int
    length: int
    is_write: bool
    attrs: MemTxAttrs
    target: AddressSpace
    target_addr: int
    translation: IOMMUTLBEntry | None


class MapBackend(Protocol):
    """What an address space asks a map backend."""

    def try_map(self, req: MapRequest) -> tuple[MemTxResult, MappedRange | None] | None:
        """Serve ``req`` (a result and a range or a refusal) or pass it on (None)."""
        ...

    def unmap(self, space: AddressSpace, m: MappedRange, access_len: int) -> MemTxResult:
        """Release a range this backend made; ``access_len`` bytes were used."""
        ...


class DirectMap:
    """RAM that is writable (or only read) is mapped directly, possibly shorter than
    asked where the RAM range ends."""

    def try_map(self, req: MapRequest) -> tuple[MemTxResult, MappedRange | None] | None:
        """A view of host RAM, or None for anything that is not plain RAM."""
        fr = req.target.lookup(req.target_addr)
        if fr is None or fr.region.ram is None or (req.is_write and fr.readonly):
            return None
        off = fr.offset_in_region + req.target_addr - fr.start
        ln = min(req.length, fr.end - req.target_addr)
        view = memoryview(fr.region.ram)[off : off + ln]
        return _OK, MappedRange(
            req.addr, ln, req.is_write, view, False, req.attrs, req.translation, self
        )

    def unmap(self, space: AddressSpace, m: MappedRange, access_len: int) -> MemTxResult:
        """Nothing to do: the device wrote into RAM itself."""
        return _OK


class BounceMap:
    """Anything else goes through one bounce buffer: at most one page, one user at a
    time (a second map fails as QEMU's returns NULL). Each address space has its own."""

    def __init__(self) -> None:
        self.in_use = False

    def try_map(self, req: MapRequest) -> tuple[MemTxResult, MappedRange | None] | None:
        """A bounce buffer filled from memory for reads; a refusal when it is taken."""
        if self.in_use:
            return _ERROR, None
        ln = min(req.length, BOUNCE_SIZE)
        buf = bytearray(ln)
        result = _OK
        if not req.is_write:
            result = req.space.access(req.addr, memoryview(buf), False, req.attrs).result
        self.in_use = True
        rng = MappedRange(
            req.addr, ln, req.is_write, memoryview(buf), True, req.attrs, req.translation, self
        )
        return result, rng

    def unmap(self, space: AddressSpace, m: MappedRange, access_len: int) -> MemTxResult:
        """Write the used part back for writes, then free the buffer."""
        result = _OK
        if m.is_write and access_len > 0:
            data = m.view[: min(access_len, m.length)]
            result = space.access(m.addr, memoryview(bytearray(data)), True, m.attrs).result
        self.in_use = False
        return result
