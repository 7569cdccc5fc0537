"""Builders of the records the IOMMU shows the monitor (:mod:`~dmamon.devices.amdvi.info`).

Reading only: nothing here changes the device unless ``read_dte(live=True)`` is asked to
behave as QEMU's ``amdvi_get_dte`` on the MSI path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.devices.amdvi import trace_events as ev
from dmamon.devices.amdvi.formats import DTE_SIZE, Dte, EventCode
from dmamon.devices.amdvi.info import (
    AmdIommuInfo,
    DeviceView,
    DomainView,
    InternalState,
    RegisterView,
)
from dmamon.devices.amdvi.registers import AMDVI_BASE_ADDR, AMDVI_MMIO_SIZE, AmdviRegs
from dmamon.memory import MemTxResult

if TYPE_CHECKING:
    from dmamon.devices.amdvi.device import AmdIommu

__all__ = [
    "build_info",
    "devices_view",
    "domains_view",
    "internal_state",
    "read_dte",
    "register_views",
]

_OK = MemTxResult.OK


def read_dte(iommu: AmdIommu, devid: int, live: bool) -> Dte | None:
    """The device table entry of ``devid`` (see :meth:`AmdIommu.read_dte`)."""
    addr = iommu.devtab + devid * DTE_SIZE
    qs = []
    for i in range(4):
        r, v = iommu.sysmem.load(addr + 8 * i, 8)
        if r != _OK:
            if live:
                iommu.tracer.emit(ev.amdvi_dte_get_fail, addr=iommu.devtab, offset=addr)
                iommu.log_event(EventCode.DEV_TAB_HW_ERROR, devid, addr, target_abort=True)
            return None
        qs.append(v)
    dte = Dte.decode((qs[0], qs[1], qs[2], qs[3]))
    if live and any(dte.reserved_bits()):
        iommu.log_event(EventCode.ILLEGAL_DEV_TABLE_ENTRY, devid, addr)
        iommu.tracer.emit(ev.amdvi_invalid_dte, addr=qs[0])
        return None
    return dte


def devices_view(iommu: AmdIommu) -> list[DeviceView]:
    """Every requester ID with PCI functions behind it, and its DTE."""
    groups: dict[int, list[str]] = {}
    for d in iommu.machine.pci_devices():
        groups.setdefault(iommu.devid_of(d), []).append(d.name)
    out = []
    for devid in sorted(groups):
        dte = read_dte(iommu, devid, False) if iommu.devtab_len else None
        on = iommu.enabled and dte is not None and dte.v
        out.append(DeviceView(devid, tuple(groups[devid]), dte, on))
    return out


def domains_view(iommu: AmdIommu) -> list[DomainView]:
    """The DomainIDs valid DTEs use, with their devices and page-table roots."""
    doms: dict[int, tuple[list[int], set[int]]] = {}
    for view in devices_view(iommu):
        dte = view.dte
        if dte is not None and dte.v and dte.tv:
            devids, roots = doms.setdefault(dte.domain_id, ([], set()))
            devids.append(view.devid)
            roots.add(dte.root)
    counts = iommu.iotlb.domain_counts()
    return [
        DomainView(dom, tuple(devids), tuple(sorted(roots)), counts.get(dom, 0))
        for dom, (devids, roots) in sorted(doms.items())
    ]


def register_views(regs: AmdviRegs) -> list[RegisterView]:
    """The registers with their fields, in offset order."""
    out = []
    for r in AmdviRegs.registers():
        value = regs.peek(r.name)
        fields = tuple(AmdviRegs.decode(r.name, value))
        out.append(RegisterView(r.name, r.offset, value, fields, r.doc))
    return out


def internal_state(iommu: AmdIommu) -> InternalState:
    """QEMU's internal copies (``AMDVIState``)."""
    c, e = iommu.cmdbuf, iommu.evtlog
    return InternalState(
        enabled=iommu.enabled,
        evtlog_enabled=e.enabled,
        evtlog_intr=e.intr,
        completion_wait_intr=c.completion_wait_intr,
        cmdbuf_enabled=c.enabled,
        ga_enabled=iommu.ga_enabled,
        devtab=iommu.devtab,
        devtab_len=iommu.devtab_len,
        cmdbuf=c.base,
        cmdbuf_len=c.length,
        cmdbuf_head=c.head,
        cmdbuf_tail=c.tail,
        evtlog=e.base,
        evtlog_len=e.length,
        evtlog_head=e.head,
        evtlog_tail=e.tail,
        iotlb_entries=len(iommu.iotlb),
        stalled=c.stalled,
    )


def build_info(iommu: AmdIommu) -> AmdIommuInfo:
    """Everything the monitor shows about the IOMMU."""
    return AmdIommuInfo(
        mmio_base=AMDVI_BASE_ADDR,
        mmio_size=AMDVI_MMIO_SIZE,
        state=internal_state(iommu),
        registers=tuple(register_views(iommu.regs)),
        devices=tuple(devices_view(iommu)),
        domains=tuple(domains_view(iommu)),
        iotlb=tuple(iommu.iotlb.views()),
        commands_run=iommu.cmdbuf.seq,
        events_raised=iommu.evtlog.seq,
        pending_invalidations=len(iommu.cmdbuf.inflight.pending()),
    )
