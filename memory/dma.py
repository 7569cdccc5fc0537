"""The DMA API devices use (QEMU ``pci_dma_read``/``pci_dma_write``/``dma_memory_map``).

A :class:`DmaPort` is bound to one device's requester ID and bus-master address space;
whether that space goes through an IOMMU is the machine's business, not the device's.
Every call returns a :class:`DmaResult`. Live mappings are tracked with a generation and
the translation they used, so the kernel can tell "used after unmap" and "still in
flight after the IOMMU invalidated its translation" — the checks Linux's
``CONFIG_DMA_API_DEBUG`` makes on real hardware.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dmamon.memory import trace_events as ev
from dmamon.memory.events import DmaFailed
from dmamon.memory.iommu import IOMMUFault, IOMMUTLBEntry
from dmamon.memory.txn import MemTxAttrs, MemTxResult, format_bdf

if TYPE_CHECKING:
    from dmamon.memory.address_space import AddressSpace, MappedRange
    from dmamon.memory.engine import Engine

__all__ = ["DmaMapping", "DmaPort", "DmaResult", "DmaTracker"]

_OK = MemTxResult.OK


@dataclass(slots=True)
class DmaResult:
    """Outcome of one DMA call.

    Attributes:
        result: OR of the pieces' results (``MemTxResult.OK`` is 0: use :attr:`ok`).
        data: bytes read (failed pieces read as zeros, as in QEMU).
        fault_addr: first bus address that failed, or None.
        fault: the IOMMU's explanation, when a translation was refused.
    """

    result: MemTxResult
    data: bytes = b""
    fault_addr: int | None = None
    fault: IOMMUFault | None = None

    @property
    def ok(self) -> bool:
        """True when every piece succeeded."""
        return self.result == MemTxResult.OK


@dataclass(eq=False)
class DmaMapping:
    """A live (or released) DMA mapping taken with :meth:`DmaPort.map`.

    Attributes:
        id: number unique within the machine.
        device: owner's name.
        addr: bus address (IOVA when an IOMMU translates).
        length: mapped length.
        is_write: True when the device writes to memory.
        translation: the IOMMU translation used, if any.
        generation: tracker generation when the mapping was taken.
        live: False after unmap.
        stale: the translation was invalidated while the mapping was live.
    """

    id: int
    device: str
    requester_id: int
    addr: int
    length: int
    is_write: bool
    range: MappedRange
    translation: IOMMUTLBEntry | None
    generation: int
    live: bool = True
    stale: bool = False
    refs: int = 1
    port: DmaPort | None = field(default=None, repr=False)

    def _check(self, what: str) -> None:
        port = self.port
        if port is None:
            return
        if not self.live:
            port.report(f"mapping #{self.id} {what} after unmap (addr {self.addr:#x})")
        elif self.stale:
            port.report(
                f"mapping #{self.id} {what} through a translation the IOMMU already "
                f"invalidated (iova {self.addr:#x})"
            )

    def write(self, offset: int, data: bytes) -> None:
        """Store into the mapped memory (the checker reports misuse; the bytes land)."""
        self._check("written")
        end = min(offset + len(data), self.length)
        if 0 <= offset < end:
            self.range.view[offset:end] = data[: end - offset]

    def read(self, offset: int, n: int) -> bytes:
        """Load from the mapped memory (the checker reports misuse)."""
        self._check("read")
        end = min(offset + n, self.length)
        return bytes(self.range.view[offset:end]) if 0 <= offset < end else b""


class DmaTracker:
    """Every live DMA mapping of one machine, and what the checker found."""

    def __init__(self) -> None:
        self.mappings: dict[int, DmaMapping] = {}
        self.generation = 0
        self.next_id = 1
        self.reports: list[str] = []
        # Called with each mapping as it is released (an IOMMU draining a COMPLETION_WAIT).
        self.release_hooks: list[Callable[[DmaMapping], None]] = []

    def add(self, m: DmaMapping) -> None:
        """Register a new live mapping."""
        self.mappings[m.id] = m

    def remove(self, m: DmaMapping) -> None:
        """Forget a released mapping and tell the release hooks."""
        self.mappings.pop(m.id, None)
        for hook in list(self.release_hooks):
            hook(m)

    def invalidate(self, lo: int, hi: int, requester_id: int | None = None) -> list[DmaMapping]:
        """An IOMMU dropped translations for IOVAs ``[lo, hi)``: mark mappings using them.

        Returns:
            The live mappings that are now stale (still in flight).
        """
        self.generation += 1
        hit = []
        for m in self.mappings.values():
            if m.translation is None or not m.live:
                continue
            if requester_id is not None and m.requester_id != requester_id:
                continue
            if m.addr < hi and lo < m.addr + m.length:
                m.stale = True
                hit.append(m)
        return hit

    def stale_mappings(self) -> list[DmaMapping]:
        """Live mappings whose translation was invalidated."""
        return [m for m in self.mappings.values() if m.stale]

    def clear(self) -> None:
        """Drop everything (machine reset)."""
        self.mappings.clear()
        self.reports.clear()


class DmaPort:
    """DMA as one device makes it.

    Args:
        engine: the machine's execution context.
        space: the device's bus-master address space.
        requester_id: bus << 8 | dev << 3 | fn.
        device: the owner's name, for traces and reports.
    """

    def __init__(self, engine: Engine, space: AddressSpace, requester_id: int, device: str) -> None:
        self.engine = engine
        self.space = space
        self.requester_id = requester_id
        self.device = device
        self.attrs = MemTxAttrs(requester_id=requester_id)
        self._rid = format_bdf(requester_id)

    def set_requester_id(self, requester_id: int) -> None:
        """The function's bus number changed (a bridge's secondary bus was renumbered)."""
        self.requester_id = requester_id
        self.attrs = MemTxAttrs(requester_id=requester_id)
        self._rid = format_bdf(requester_id)

    def read(self, addr: int, length: int) -> DmaResult:
        """Read ``length`` bytes of bus address ``addr``."""
        tracer = self.engine.tracer
        if ev.dma_read not in tracer.enabled:
            space = self.space
            span = space.ram_span(addr, length, False) or space.iommu_span(
                addr, length, False, self.attrs
            )
            if span is not None:  # plain RAM (perhaps through one IOMMU page): one copy
                ram, off = span
                return DmaResult(_OK, ram[off : off + length])
        buf = bytearray(length)
        out = self.space.access(addr, memoryview(buf), False, self.attrs)
        tracer = self.engine.tracer
        if ev.dma_read in tracer.enabled:
            tracer.emit(
                ev.dma_read,
                dev=self.device,
                rid=self._rid,
                addr=addr,
                len=length,
                result=out.result.qemu_name(),
            )
        if out.result and self.engine.events.has_subscribers:
            self._failed(addr, length, False, out.result, out.fail_addr)
        return DmaResult(out.result, bytes(buf), out.fail_addr, out.fault)

    def write(self, addr: int, data: bytes) -> DmaResult:
        """Write ``data`` at bus address ``addr``."""
        if ev.dma_write not in self.engine.tracer.enabled:
            space = self.space
            span = space.ram_span(addr, len(data), True) or space.iommu_span(
                addr, len(data), True, self.attrs
            )
            if span is not None:
                ram, off = span
                ram[off : off + len(data)] = data
                return _WRITE_OK
        out = self.space.access(addr, memoryview(bytearray(data)), True, self.attrs)
        tracer = self.engine.tracer
        if ev.dma_write in tracer.enabled:
            tracer.emit(
                ev.dma_write,
                dev=self.device,
                rid=self._rid,
                addr=addr,
                len=len(data),
                result=out.result.qemu_name(),
            )
        if out.result and self.engine.events.has_subscribers:
            self._failed(addr, len(data), True, out.result, out.fail_addr)
        return DmaResult(out.result, b"", out.fail_addr, out.fault)

    def _failed(
        self, addr: int, length: int, is_write: bool, result: MemTxResult, at: int | None
    ) -> None:
        """Tell the event bus a DMA did not fully succeed (slow path only)."""
        self.engine.events.emit(
            DmaFailed(self.device, self.requester_id, addr, length, is_write, result, at)
        )

    def load(self, addr: int, size: int) -> tuple[MemTxResult, int]:
        """One little-endian load of 1/2/4/8 bytes (descriptor fields)."""
        return self.space.load(addr, size, self.attrs)

    def store(self, addr: int, size: int, value: int) -> MemTxResult:
        """One little-endian store of 1/2/4/8 bytes."""
        return self.space.store(addr, size, value, self.attrs)

    def map(self, addr: int, length: int, is_write: bool) -> tuple[DmaResult, DmaMapping | None]:
        """Map bus memory for direct use (may be shorter than asked, like QEMU's)."""
        res, rng, fault = self.space.map(addr, length, is_write, self.attrs)
        tracker = self.engine.dma
        m = None
        if rng is not None:
            m = DmaMapping(
                tracker.next_id,
                self.device,
                self.requester_id,
                addr,
                rng.length,
                is_write,
                rng,
                rng.translation,
                tracker.generation,
                port=self,
            )
            tracker.next_id += 1
            tracker.add(m)
        tracer = self.engine.tracer
        if ev.dma_map in tracer.enabled:
            tracer.emit(
                ev.dma_map,
                dev=self.device,
                id=m.id if m else 0,
                addr=addr,
                len=m.length if m else 0,
                dir="to-memory" if is_write else "from-memory",
                result=res.qemu_name(),
            )
        return DmaResult(res, b"", None if m else addr, fault), m

    def unmap(self, m: DmaMapping, access_len: int) -> MemTxResult:
        """Release a mapping; a second unmap is reported by the checker."""
        if not m.live:
            self.report(f"mapping #{m.id} unmapped twice")
            return MemTxResult.ERROR
        m.live = False
        self.engine.dma.remove(m)
        tracer = self.engine.tracer
        if ev.dma_unmap in tracer.enabled:
            tracer.emit(ev.dma_unmap, dev=self.device, id=m.id, addr=m.addr, len=access_len)
        return self.space.unmap(m.range, access_len)

    def report(self, what: str) -> None:
        """Record a DMA-API misuse (trace event ``dma_checker`` and the tracker's list)."""
        self.engine.dma.reports.append(f"{self.device}: {what}")
        self.engine.tracer.emit(ev.dma_checker, dev=self.device, what=what)


# Successful RAM writes all return this one result (results are values: do not mutate them).
_WRITE_OK = DmaResult(_OK)
