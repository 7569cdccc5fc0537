"""Translating device accesses (QEMU ``amdvi_translate`` / ``amdvi_do_translate``).

Each requester ID gets an :class:`DevfnSpace` (QEMU's ``AMDVIAddressSpace``): the
``amdvi_root`` container its bus-master DMA goes to while the IOMMU is on, holding the
``amd_iommu`` IOMMU window and the ``amd_iommu_ir`` MSI window. Its ``translate`` answers
IOTLB hits itself and hands everything else to :class:`Translator`, which walks the tables,
fills the IOTLB and turns failures into faults the memory core reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.devices.amdvi import trace_events as ev
from dmamon.devices.amdvi.formats import U64, EventCode
from dmamon.devices.amdvi.iotlb import DEVID_SHIFT, PERMS
from dmamon.devices.amdvi.registers import PAGE_WALK
from dmamon.devices.amdvi.walk import WalkOutcome, run_walk
from dmamon.memory import (
    IOMMUFault,
    IommuFaulted,
    IOMMUPerm,
    IOMMUTLBEntry,
    MemoryRegion,
    MemTxAttrs,
    MemTxResult,
    MmioOps,
    format_bdf,
    transaction,
)

if TYPE_CHECKING:
    from dmamon.devices.amdvi.device import AmdIommu

__all__ = ["MSI_FIRST", "MSI_LAST", "DevfnSpace", "MsiWindow", "Translator"]

MSI_FIRST = 0xFEE00000  # AMDVI_INT_ADDR_FIRST
MSI_LAST = 0xFEEFFFFF
IOAPIC_SB_DEVID = 0xA0  # AMDVI_IOAPIC_SB_DEVID, 00:14.0: the requester of an MSI without one
_HIT = ev.amdvi_iotlb_hit
_RESULT = ev.amdvi_translation_result


class DevfnSpace:
    """QEMU's ``AMDVIAddressSpace``: one per requester ID, the IOMMU translator of its window.

    Args:
        iommu: the IOMMU.
        bus_num: the requester's bus number.
        devfn: its device/function.
    """

    __slots__ = ("devfn", "devid", "iommu", "ir", "key", "region", "root", "slow", "table")

    def __init__(self, iommu: AmdIommu, bus_num: int, devfn: int) -> None:
        self.iommu = iommu
        self.devfn = devfn
        self.devid = (bus_num << 8) | devfn
        self.key = self.devid << DEVID_SHIFT
        self.table = iommu.iotlb.table  # the IOTLB dict (emptied in place, never replaced)
        self.slow = iommu.translator.translate_access
        self.root = MemoryRegion.container("amdvi_root")
        self.region = MemoryRegion.iommu_region("amd_iommu", 1 << 64, self, owner=iommu)
        ir_ops = iommu.msi_window.ops
        self.ir = MemoryRegion.io_region("amd_iommu_ir", MSI_LAST - MSI_FIRST + 1, ir_ops)
        with transaction():
            self.root.add_subregion(0, self.region, priority=1)
            self.root.add_subregion(MSI_FIRST, self.ir, priority=64)

    def translate(self, iova: int, perm: IOMMUPerm, attrs: MemTxAttrs) -> IOMMUTLBEntry:
        """Translate one access (the IOTLB hit path is kept short on purpose)."""
        e = self.table.get(self.key | (iova >> 12))
        if e is not None and perm in e.allows:
            iommu = self.iommu
            if iommu.enabled:
                enabled = iommu.tracer.enabled
                if _HIT not in enabled and _RESULT not in enabled:
                    return e.entry
        return self.slow(self, iova, perm)


class Translator:
    """The slow path of a translation: IOTLB lookup with traces, walk, fill, faults.

    Args:
        iommu: the IOMMU.
    """

    def __init__(self, iommu: AmdIommu) -> None:
        self.iommu = iommu
        self.tracer = iommu.tracer
        self.sysmem = iommu.sysmem
        self.iotlb = iommu.iotlb

    def translate_access(self, space: DevfnSpace, iova: int, perm: IOMMUPerm) -> IOMMUTLBEntry:
        """Translate one device access through ``space`` (misses, traces, faults). Never
        raises for guest mistakes."""
        if not self.iommu.enabled:
            return IOMMUTLBEntry(self.sysmem, iova & ~0xFFF, iova & ~0xFFF, 0xFFF, IOMMUPerm.RW)
        if MSI_FIRST <= iova <= MSI_LAST:
            return IOMMUTLBEntry(self.sysmem, iova & ~0xFFF, iova & ~0xFFF, 0xFFF, IOMMUPerm.WO)
        req = 2 if int(perm) & 2 else 1
        e = space.table.get(space.key | (iova >> 12))
        if e is not None:
            entry = self._hit(space, iova, req, perm, e.perm, e.translated, e.entry)
        else:
            out = run_walk(self.iommu, space.devid, space.devfn, iova, req, None)
            got = out.perm
            if got & req == req and out.cache:
                entry = self.iotlb.update(space.devid, space.key, iova, out)
            else:
                entry = self._walked(space, iova, req, perm, out)
        if _RESULT in self.tracer.enabled:
            d = space.devid
            self.tracer.emit(
                _RESULT,
                bus=d >> 8,
                slot=(d >> 3) & 0x1F,
                func=d & 7,
                addr=iova,
                txaddr=entry.translated_addr,
            )
        return entry

    def _walked(
        self, space: DevfnSpace, iova: int, req: int, perm: IOMMUPerm, out: WalkOutcome
    ) -> IOMMUTLBEntry:
        """A walk's result other than a cacheable success: uncached, denied or a fault."""
        got = out.perm
        if got & req == req:
            return self._entry(iova, out)
        if got:
            entry = (
                self.iotlb.update(space.devid, space.key, iova, out)
                if out.cache
                else self._entry(iova, out)
            )
            return self._deny(entry, space, iova, perm, out.reason)
        return self._fault(space, iova, perm, out.reason, out.event)

    def _hit(
        self,
        space: DevfnSpace,
        iova: int,
        req: int,
        perm: IOMMUPerm,
        got: int,
        translated: int,
        entry: IOMMUTLBEntry,
    ) -> IOMMUTLBEntry:
        """An IOTLB hit on the slow path (traced, or lacking the permission)."""
        if _HIT in self.tracer.enabled:
            d = space.devid
            self.tracer.emit(
                _HIT,
                bus=d >> 8,
                slot=(d >> 3) & 0x1F,
                func=d & 7,
                addr=iova,
                txaddr=translated,
            )
        if got & req == req:
            return entry
        if self.iommu.fixes[PAGE_WALK]:
            self.iommu.log_event(
                EventCode.IO_PAGE_FAULT, space.devfn, iova, 0x8 | req, target_abort=True
            )
            self.tracer.emit(ev.amdvi_page_fault, addr=iova)
            return self._fault(space, iova, perm, "the IOTLB entry denies it", True)
        return self._deny(entry, space, iova, perm, "the cached IOTLB entry denies it")

    def _entry(self, iova: int, out: WalkOutcome) -> IOMMUTLBEntry:
        return IOMMUTLBEntry(
            self.sysmem, iova & ~out.mask, out.translated & ~out.mask, out.mask, PERMS[out.perm]
        )

    def _fault(
        self, space: DevfnSpace, iova: int, perm: IOMMUPerm, reason: str, event: str | bool
    ) -> IOMMUTLBEntry:
        name = "IO_PAGE_FAULT" if event is True else (event or "")
        fault = IOMMUFault(space.devid, iova, perm, reason or "no translation", name)
        events = self.iommu.engine.events
        if events.has_subscribers:
            events.emit(IommuFaulted(fault))
        return IOMMUTLBEntry(self.sysmem, iova, 0, U64, IOMMUPerm.NONE, fault)

    @staticmethod
    def _deny(
        e: IOMMUTLBEntry, space: DevfnSpace, iova: int, perm: IOMMUPerm, reason: str
    ) -> IOMMUTLBEntry:
        """A translation that exists but lacks the permission: QEMU returns it and the
        memory core refuses the access (no event); the fault explains it to the device."""
        fault = IOMMUFault(space.devid, iova, perm, reason or "permission denied", "")
        return IOMMUTLBEntry(e.target_as, e.iova, e.translated_addr, e.addr_mask, e.perm, fault)


class MsiWindow:
    """The ``amd_iommu_ir`` window (``amdvi_mem_ir_read`` / ``amdvi_mem_ir_write``): MSI
    writes pass untranslated (interrupt remapping is not modelled), after QEMU's DTE check.

    Args:
        iommu: the IOMMU.
    """

    def __init__(self, iommu: AmdIommu) -> None:
        self.iommu = iommu
        self.ops = MmioOps(
            read_with_attrs=self._read,
            write_with_attrs=self._write,
            valid_min=4,
            valid_max=4,
            impl_min=4,
            impl_max=4,
        )

    def _read(self, off: int, size: int, attrs: MemTxAttrs) -> tuple[MemTxResult, int]:
        return MemTxResult.OK, 0

    def _write(self, off: int, value: int, size: int, attrs: MemTxAttrs) -> MemTxResult:
        iommu = self.iommu
        addr = MSI_FIRST + off
        tr = iommu.tracer
        tr.emit(ev.amdvi_mem_ir_write_req, addr=off, val=value, size=size)
        sid = IOAPIC_SB_DEVID if attrs.requester_id is None else attrs.requester_id
        tr.emit(ev.amdvi_ir_remap_msi_req, addr=addr, data=value, devid=sid)
        if iommu.devtab_len:
            dte = iommu.read_dte(sid, live=True)
            if dte is None:
                return MemTxResult.ERROR
            if dte.iv:
                iommu.unimp(
                    f"amd-iommu: interrupt remapping (DTE[IV]=1 for {format_bdf(sid)}) is not "
                    "modelled; the MSI passes untranslated"
                )
        tr.emit(ev.amdvi_ir_remap_msi, addr=addr, data=value, addr2=addr, data2=value)
        result = iommu.sysmem.store(addr, 4, value, attrs)
        tr.emit(ev.amdvi_mem_ir_write, addr=addr, val=value)
        return result
