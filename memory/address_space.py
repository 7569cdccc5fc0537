"""Address spaces: a root region seen by the CPU or by one device (QEMU ``AddressSpace``).

Reads and writes walk the flat view; RAM is copied directly, I/O regions are dispatched
through their :class:`~dmamon.memory.region.MmioOps` with QEMU 7.2's splitting
(``memory_access_size``) and widening (``access_with_adjusted_size``) rules, IOMMU
windows are translated per access. Every refused access is a result value plus, when the
``guest_errors`` item is on, QEMU's exact log line.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmamon.memory import dispatch
from dmamon.memory import listener as listener_mod
from dmamon.memory import trace_events as ev
from dmamon.memory.dispatch import access_size as _access_size
from dmamon.memory.errors import MachineHalt
from dmamon.memory.flatview import FlatRange, FlatView
from dmamon.memory.iommu import IOMMUFault, IOMMUPerm, IOMMUTLBEntry
from dmamon.memory.listener import MemoryListener, MemoryRegionSection
from dmamon.memory.mapping import (
    BOUNCE_SIZE,
    BounceMap,
    DirectMap,
    MapBackend,
    MappedRange,
    MapRequest,
)
from dmamon.memory.region import MemoryRegion, MmioOps, RegionKind, _Topology
from dmamon.memory.txn import UNSPECIFIED, MemTxAttrs, MemTxResult

if TYPE_CHECKING:
    from dmamon.memory.engine import Engine

__all__ = ["BOUNCE_SIZE", "AccessOutcome", "AddressSpace", "MappedRange"]

ADDR_END = 1 << 64
_OK = MemTxResult.OK
_DECODE = MemTxResult.DECODE_ERROR
_ERROR = MemTxResult.ERROR
_UNPACK = {
    1: struct.Struct("<B"),
    2: struct.Struct("<H"),
    4: struct.Struct("<I"),
    8: struct.Struct("<Q"),
}
_MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}
_PERM_R = IOMMUPerm.RO
_PERM_W = IOMMUPerm.WO
_OPS_READ = ev.memory_region_ops_read
_OPS_WRITE = ev.memory_region_ops_write


@dataclass(slots=True)
class AccessOutcome:
    """What happened to a multi-byte access.

    Attributes:
        result: OR of the results of every piece.
        fail_addr: first address whose piece failed, or None.
        fault: the first IOMMU fault met, or None.
    """

    result: MemTxResult
    fail_addr: int | None = None
    fault: IOMMUFault | None = None

    def add(self, r: MemTxResult, addr: int, fault: IOMMUFault | None = None) -> None:
        """Fold one piece's result in."""
        if r:
            self.result |= r
            if self.fail_addr is None:
                self.fail_addr = addr
        if fault is not None and self.fault is None:
            self.fault = fault


class AddressSpace:
    """A view of memory from one initiator.

    Args:
        name: QEMU's name (``memory``, ``I/O``, or the device's name).
        root: the root region (None: nothing is mapped).
        engine: the machine's execution context (tracer, fixes, activations).
    """

    def __init__(self, name: str, root: MemoryRegion | None, engine: Engine) -> None:
        self.name = name
        self.root = root
        self.engine = engine
        self._view: FlatView | None = None
        self._gen = -1
        self._last: FlatRange | None = None
        self._plan: _IoPlan | None = None  # fast-path facts about _last when it is I/O
        self._last_ram: FlatRange | None = None  # the RAM range bulk DMA last hit
        # a translation iommu_span made that the slow path must reuse (one shot)
        self._refused: tuple[MemoryRegion, int, IOMMUPerm, IOMMUTLBEntry] | None = None
        # Who serves map(): asked in order after IOMMU translation (memory/mapping.py).
        self.map_backends: list[MapBackend] = [DirectMap(), BounceMap()]
        self.listeners: list[MemoryListener] = []
        self._listened: list[MemoryRegionSection] = []  # sections the listeners know

    # -- listeners (memory/listener.py) -----------------------------------------------------

    def register_listener(self, listener: MemoryListener) -> None:
        """Tell ``listener`` of sections as they come and go; it first gets a
        ``region_add`` for each section already there (QEMU ``memory_listener_register``)."""
        if not self.listeners:
            self._listened = listener_mod.sections_of(self)
            listener_mod.watch(self)
        self.listeners.append(listener)
        listener.begin()
        for section in self._listened:
            listener.region_add(section)
        listener.commit()

    def unregister_listener(self, listener: MemoryListener) -> None:
        """Stop telling ``listener``; it gets a ``region_del`` for each section still there.

        Raises:
            ValueError: ``listener`` is not registered here.
        """
        self.listeners.remove(listener)
        listener.begin()
        for section in reversed(self._listened):
            listener.region_del(section)
        listener.commit()
        if not self.listeners:
            listener_mod.unwatch(self)
            self._listened = []

    def update_listeners(self) -> None:
        """After a topology commit: tell the listeners what changed here, if anything."""
        if not self.listeners:
            return
        new = listener_mod.sections_of(self)
        gone, appeared = listener_mod.diff(self._listened, new)
        self._listened = new
        if not gone and not appeared:
            return
        listener_mod.deliver(self.listeners, gone, appeared)

    # -- flat view -------------------------------------------------------------------------

    @property
    def flatview(self) -> FlatView:
        """The current flat view, re-rendered after a topology change."""
        if self._gen != _Topology.generation or self._view is None:
            self._view = FlatView(self.root)
            self._gen = _Topology.generation
            self._last = None
            self._last_ram = None
            self._plan = None
        return self._view

    def lookup(self, addr: int) -> FlatRange | None:
        """The flat range serving ``addr``, or None."""
        return self.flatview.lookup(addr)

    # -- bulk access -----------------------------------------------------------------------

    def read(
        self, addr: int, size: int, attrs: MemTxAttrs = UNSPECIFIED
    ) -> tuple[MemTxResult, bytes]:
        """Read ``size`` bytes; failed pieces read as zeros (QEMU's unassigned value)."""
        buf = bytearray(size)
        out = self.access(addr, memoryview(buf), False, attrs)
        return out.result, bytes(buf)

    def write(self, addr: int, data: bytes, attrs: MemTxAttrs = UNSPECIFIED) -> MemTxResult:
        """Write bytes; failed pieces are dropped."""
        return self.access(addr, memoryview(bytearray(data)), True, attrs).result

    def access(
        self, addr: int, buf: memoryview, is_write: bool, attrs: MemTxAttrs = UNSPECIFIED
    ) -> AccessOutcome:
        """Read into or write from ``buf``, piece by piece (QEMU ``flatview_read/write``).

        Every piece is attempted even after a failure, and the results are OR-ed.
        """
        fv = self.flatview
        out = AccessOutcome(_OK)
        n = len(buf)
        pos = 0
        while pos < n:
            a = addr + pos
            remaining = n - pos
            if a >= ADDR_END:
                a &= ADDR_END - 1  # the bus wraps, as QEMU's hwaddr does
            fr = fv.lookup(a)
            if fr is None:
                ln = self._unassigned(a, buf[pos:], is_write, out)
            else:
                mr = fr.region
                off = fr.offset_in_region + (a - fr.start)
                ram = mr.ram
                if ram is not None:
                    # Only RAM is clipped at the range end (address_space_translate_internal).
                    ln = min(remaining, fr.end - a)
                    if is_write:
                        if not fr.readonly:
                            ram[off : off + ln] = buf[pos : pos + ln]
                    else:
                        buf[pos : pos + ln] = ram[off : off + ln]
                elif mr.kind is RegionKind.IOMMU:
                    ln = min(remaining, fr.end - a)
                    self._iommu_access(mr, off, buf[pos : pos + ln], is_write, attrs, out, a)
                else:
                    # An I/O access goes whole to the region at its first byte, in pieces
                    # of the widest size the region allows (QEMU flatview_read_continue).
                    ln = _access_size(mr, remaining, off)
                    self._io_piece(mr, off, buf[pos : pos + ln], is_write, attrs, out, a)
            pos += ln
        return out

    # -- fixed width -----------------------------------------------------------------------

    def load(
        self, addr: int, size: int, attrs: MemTxAttrs = UNSPECIFIED
    ) -> tuple[MemTxResult, int]:
        """One ``size``-byte little-endian load (1, 2, 4 or 8), as qtest's ``readl``."""
        if self._gen != _Topology.generation:
            self.flatview  # noqa: B018 - refresh
        fr = self._last
        if fr is None or not (fr.start <= addr and addr + size <= fr.end):
            assert self._view is not None
            fr = self._view.lookup(addr)
            if fr is None or addr + size > fr.end:
                res, data = self.read(addr, size, attrs)
                return res, int.from_bytes(data, "little")
            self._last = fr
            self._plan = _io_plan(fr)
        mr = fr.region
        ram = mr.ram
        if ram is not None:
            return _OK, _UNPACK[size].unpack_from(ram, fr.offset_in_region + addr - fr.start)[0]
        plan = self._plan
        if plan is not None:
            off = addr + plan.delta
            engine = self.engine
            # A whole, valid, aligned access needing no widening or splitting, untraced and
            # starting an activation: dispatch_read's path inlined, with the same effects.
            if (
                size in plan.read_sizes
                and not off & (size - 1)
                and mr.ops is plan.ops
                and not engine.active
                and engine.max_io_depth
                and _OPS_READ not in engine.tracer.enabled
            ):
                fast = self._fast_io(plan, mr, off, size, None)
                return fast if fast is not None else self.dispatch_read(mr, off, size, attrs)
            if size in _MASK and _access_size(mr, size, off) == size:
                return self.dispatch_read(mr, off, size, attrs)
        res, data = self.read(addr, size, attrs)
        return res, int.from_bytes(data, "little")

    def store(
        self, addr: int, size: int, value: int, attrs: MemTxAttrs = UNSPECIFIED
    ) -> MemTxResult:
        """One ``size``-byte little-endian store; the value is truncated to the width."""
        value &= _MASK[size]
        if self._gen != _Topology.generation:
            self.flatview  # noqa: B018 - refresh
        fr = self._last
        if fr is None or not (fr.start <= addr and addr + size <= fr.end):
            assert self._view is not None
            fr = self._view.lookup(addr)
            if fr is None or addr + size > fr.end:
                return self.write(addr, value.to_bytes(size, "little"), attrs)
            self._last = fr
            self._plan = _io_plan(fr)
        mr = fr.region
        ram = mr.ram
        if ram is not None:
            if not fr.readonly:
                _UNPACK[size].pack_into(ram, fr.offset_in_region + addr - fr.start, value)
            return _OK
        plan = self._plan
        if plan is not None:
            off = addr + plan.delta
            engine = self.engine
            # The dispatch_write path inlined under the same conditions as in load().
            if (
                size in plan.write_sizes
                and not off & (size - 1)
                and mr.ops is plan.ops
                and not engine.active
                and engine.max_io_depth
                and _OPS_WRITE not in engine.tracer.enabled
            ):
                fast = self._fast_io(plan, mr, off, size, value)
                if fast is not None:
                    return fast[0]
                return self.dispatch_write(mr, off, value, size, attrs)
            if _access_size(mr, size, off) == size:
                return self.dispatch_write(mr, off, value, size, attrs)
        return self.write(addr, value.to_bytes(size, "little"), attrs)

    def ram_span(self, addr: int, length: int, is_write: bool) -> tuple[mmap.mmap, int] | None:
        """Host RAM backing ``[addr, addr + length)`` when it is one RAM range, else None.

        The fast path of bulk DMA: the caller copies directly and falls back to
        :meth:`access` for anything else (I/O, IOMMU windows, holes, ROM writes).
        """
        if self._gen != _Topology.generation or self._view is None:
            self.flatview  # noqa: B018 - refresh
        fr = self._last_ram
        if fr is None or not (fr.start <= addr and addr + length <= fr.end):
            assert self._view is not None
            fr = self._view.lookup(addr)
            if fr is None or fr.region.ram is None or addr + length > fr.end:
                return None
            self._last_ram = fr
        if is_write and fr.readonly:
            return None
        ram = fr.region.ram
        assert ram is not None
        return ram, fr.offset_in_region + addr - fr.start

    def iommu_span(
        self, addr: int, length: int, is_write: bool, attrs: MemTxAttrs
    ) -> tuple[mmap.mmap, int] | None:
        """Bulk DMA's second fast path, after :meth:`ram_span`: the host RAM behind
        ``[addr, addr + length)`` when it lies in one IOMMU page that translates to one
        RAM range; None for anything else.

        A refused translation is kept for the slow path that follows, so the IOMMU sees
        (and logs) the faulting access once, as it would through :meth:`access`.
        """
        if self._gen != _Topology.generation or self._view is None:
            self.flatview  # noqa: B018 - refresh
        assert self._view is not None
        fr = self._view.lookup(addr)
        if fr is None or fr.region.kind is not RegionKind.IOMMU or addr + length > fr.end:
            return None
        mr = fr.region
        assert mr.iommu is not None
        off = fr.offset_in_region + addr - fr.start
        perm = _PERM_W if is_write else _PERM_R
        entry = mr.iommu.translate(off, perm, attrs)
        target = entry.target_as
        if not (entry.perm & perm) or target is None:
            self._refused = (mr, off, perm, entry)
            return None
        if length > (entry.addr_mask | off) - off + 1:
            self._refused = (mr, off, perm, entry)  # reuse the translation, do not redo it
            return None
        taddr = (entry.translated_addr & ~entry.addr_mask) | (off & entry.addr_mask)
        return target.ram_span(taddr, length, is_write)

    def _fast_io(
        self, plan: _IoPlan, mr: MemoryRegion, off: int, size: int, value: int | None
    ) -> tuple[MemTxResult, int] | None:
        """dispatch_read/dispatch_write inlined for one whole, valid, aligned, untraced
        access that starts an activation (load/store's hot path), with the same guard,
        dispatch-chain and halt effects. None when the device is already engaged: the
        caller takes the slow path, which blocks and warns."""
        engine = self.engine
        owner = plan.owner
        guard = None
        if owner is not None and not mr.disable_reentrancy_guard:
            guard = owner.guard
            if guard.engaged_in_io:
                return None
            guard.engaged_in_io = True
        chain = engine.io_chain
        chain.append((plan.owner_name, mr.name, off, value, size))
        engine.active = 1
        engine.steps = 0
        try:
            try:
                if value is None:
                    result = plan.read(off, size) & _MASK[size]
                else:
                    plan.write(off, value, size)
                    result = 0
            finally:
                if guard is not None:
                    guard.engaged_in_io = False
                chain.pop()
            return _OK, result
        except MachineHalt as h:
            engine.halted(h)
            return _ERROR, 0
        finally:
            engine.active = 0
            chain.clear()

    # -- map / unmap -----------------------------------------------------------------------

    def map(
        self, addr: int, length: int, is_write: bool, attrs: MemTxAttrs = UNSPECIFIED
    ) -> tuple[MemTxResult, MappedRange | None, IOMMUFault | None]:
        """Map guest memory for direct access (QEMU ``address_space_map``).

        After IOMMU translation the :attr:`map_backends` are asked in order; by default
        RAM is mapped directly, possibly shorter than asked where the RAM ends, and
        anything else goes through the single bounce buffer (at most one page, one user
        at a time: a second bounce map fails as QEMU's returns NULL).

        Returns:
            ``(result, mapping or None, fault or None)``.
        """
        if length <= 0:
            return _ERROR, None, None
        target, taddr, ln, entry, res, fault = self.translate(addr, length, is_write, attrs)
        if target is None:
            return res, None, fault
        req = MapRequest(self, addr, ln, is_write, attrs, target, taddr, entry)
        for backend in self.map_backends:
            answer = backend.try_map(req)
            if answer is not None:
                return answer[0], answer[1], None
        return _ERROR, None, None

    def unmap(self, m: MappedRange, access_len: int) -> MemTxResult:
        """Release a mapping through the backend that made it (a bounce buffer is
        written back for writes, as QEMU's)."""
        if m.backend is None:
            return _OK
        return m.backend.unmap(self, m, access_len)

    def translate(
        self, addr: int, length: int, is_write: bool, attrs: MemTxAttrs = UNSPECIFIED
    ) -> tuple[AddressSpace | None, int, int, IOMMUTLBEntry | None, MemTxResult, IOMMUFault | None]:
        """Follow IOMMU windows down to the address space and address that serve ``addr``.

        Returns:
            ``(target_as, target_addr, contiguous_length, last_translation, result, fault)``;
            ``target_as`` is None when a translation was refused.
        """
        space: AddressSpace = self
        entry: IOMMUTLBEntry | None = None
        for _ in range(8):  # IOMMUs can nest, but not forever
            fr = space.lookup(addr)
            if fr is None or fr.region.kind is not RegionKind.IOMMU:
                if fr is not None:
                    length = min(length, fr.end - addr)
                return space, addr, length, entry, _OK, None
            mr = fr.region
            off = fr.offset_in_region + addr - fr.start
            assert mr.iommu is not None
            perm = IOMMUPerm.WO if is_write else IOMMUPerm.RO
            entry = mr.iommu.translate(off, perm, attrs)
            if not (entry.perm & perm) or entry.target_as is None:
                return None, addr, length, entry, _DECODE, entry.fault
            length = min(length, (entry.addr_mask | off) - off + 1)
            addr = (entry.translated_addr & ~entry.addr_mask) | (off & entry.addr_mask)
            space = entry.target_as
        return None, addr, length, entry, _DECODE, None

    # -- pieces ----------------------------------------------------------------------------

    def _unassigned(self, addr: int, buf: memoryview, is_write: bool, out: AccessOutcome) -> int:
        """Nothing is mapped at ``addr``: one refused piece (see :func:`dispatch.unassigned`).

        Returns:
            The piece's length.
        """
        sz = dispatch.unassigned(self.engine, addr, buf, is_write)
        out.add(_DECODE, addr)
        return sz

    def _iommu_access(
        self,
        mr: MemoryRegion,
        off: int,
        buf: memoryview,
        is_write: bool,
        attrs: MemTxAttrs,
        out: AccessOutcome,
        abs_addr: int,
    ) -> None:
        assert mr.iommu is not None
        perm = _PERM_W if is_write else _PERM_R
        pos = 0
        n = len(buf)
        refused, self._refused = self._refused, None
        while pos < n:
            iova = off + pos
            if (
                refused is not None
                and refused[0] is mr
                and refused[1] == iova
                and refused[2] == perm
            ):
                entry = refused[3]  # iommu_span already translated this page
            else:
                entry = mr.iommu.translate(iova, perm, attrs)
            refused = None
            ln = min(n - pos, (entry.addr_mask | iova) - iova + 1)
            if not (entry.perm & perm) or entry.target_as is None:
                # QEMU: a denied translation goes to the unassigned region.
                p = 0
                while p < ln:
                    p += self._unassigned(iova + p, buf[pos + p : pos + ln], is_write, out)
                if entry.fault is not None and out.fault is None:
                    out.fault = entry.fault
            else:
                taddr = (entry.translated_addr & ~entry.addr_mask) | (iova & entry.addr_mask)
                sub = entry.target_as.access(taddr, buf[pos : pos + ln], is_write, attrs)
                if sub.result:
                    out.add(sub.result, abs_addr + pos, sub.fault)
            pos += ln

    def _io_piece(
        self,
        mr: MemoryRegion,
        off: int,
        buf: memoryview,
        is_write: bool,
        attrs: MemTxAttrs,
        out: AccessOutcome,
        abs_addr: int,
    ) -> None:
        sz = len(buf)
        if is_write:
            r = self.dispatch_write(mr, off, int.from_bytes(buf, "little"), sz, attrs)
        else:
            r, val = self.dispatch_read(mr, off, sz, attrs)
            buf[0:sz] = (val & _MASK[sz]).to_bytes(sz, "little")
        if r:
            out.add(r, abs_addr)

    # -- dispatch (QEMU memory_region_dispatch_read/write, memory/dispatch.py) --------------

    def dispatch_read(
        self, mr: MemoryRegion, off: int, size: int, attrs: MemTxAttrs = UNSPECIFIED
    ) -> tuple[MemTxResult, int]:
        """One read of ``size`` bytes at ``off`` inside I/O region ``mr``."""
        return dispatch.dispatch_read(self.engine, mr, off, size, attrs)

    def dispatch_write(
        self, mr: MemoryRegion, off: int, value: int, size: int, attrs: MemTxAttrs = UNSPECIFIED
    ) -> MemTxResult:
        """One write of ``size`` bytes at ``off`` inside I/O region ``mr``."""
        return dispatch.dispatch_write(self.engine, mr, off, value, size, attrs)


class _IoPlan:
    """What load()/store() need to know about an I/O flat range to take the fast path.

    The sizes are those for which an aligned access is one piece (``memory_access_size``),
    valid (``memory_region_access_valid``) and needs no widening or splitting
    (``access_with_adjusted_size``) with plain callbacks. The fields of an ``MmioOps`` are
    taken as constant once its region is mapped, as QEMU's ``const MemoryRegionOps`` are;
    a region given another ``MmioOps`` object is noticed and takes the general path.
    """

    __slots__ = (
        "delta",
        "ops",
        "owner",
        "owner_name",
        "read",
        "read_sizes",
        "write",
        "write_sizes",
    )

    def __init__(self, fr: FlatRange, ops: MmioOps) -> None:
        mr = fr.region
        self.ops = ops
        self.delta = fr.offset_in_region - fr.start
        self.owner = mr.owner
        self.owner_name = mr.owner.name if mr.owner is not None else "-"
        self.read = ops.read
        self.write = ops.write
        sizes = frozenset(
            s
            for s in _MASK
            if s <= (ops.valid_max or 4)
            and (not ops.valid_max or ops.valid_min <= s)
            and (ops.impl_min or 1) <= s <= (ops.impl_max or 4)
            and ops.accepts is None
        )
        self.read_sizes = sizes if ops.read_with_attrs is None else frozenset()
        self.write_sizes = sizes if ops.write_with_attrs is None else frozenset()


def _io_plan(fr: FlatRange) -> _IoPlan | None:
    mr = fr.region
    if mr.kind is RegionKind.IO and mr.ops is not None:
        return _IoPlan(fr, mr.ops)
    return None
