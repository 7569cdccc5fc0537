"""``info iommu``, ``info iotlb`` and ``info dma``: read-only views of the AMD IOMMU and of
the machine's live DMA mappings."""

from __future__ import annotations

from dmamon.devices.amdvi import AMDVI_BASE_ADDR, INVAL_DRAIN, AmdIommu, find_iommu
from dmamon.memory import format_bdf
from dmamon.monitor import Monitor, info_command
from dmamon.plugins.amdvi.common import (
    current_driver,
    iotlb_verdict,
    pending_views,
    require_iommu,
)
from dmamon.plugins.amdvi.lists import dma_lines, iotlb_lines, mapping_gpa
from dmamon.plugins.amdvi.views import PendingView, iommu_info_lines

__all__ = ["info_dma", "info_iommu", "info_iotlb"]


def _pending_data(pending: list[PendingView]) -> list[dict[str, object]]:
    return [{"mapping": p.mapping.id, "command": p.command, "domain": p.domain} for p in pending]


def _iommu_data(mon: Monitor, iommu: AmdIommu, fixes: dict[str, bool]) -> dict[str, object]:
    drv = current_driver(iommu)
    return {
        "device": iommu.name,
        "bdf": iommu.bdf,
        "mmio": AMDVI_BASE_ADDR,
        "state": iommu.state(),
        "fixes": fixes,
        "layout": drv.layout() if drv is not None else None,
        "registers": {r.name: r.value for r in iommu.decode_registers()},
        "domains": [
            {
                "domain": d.domain_id,
                "devids": [format_bdf(x) for x in d.devids],
                "roots": list(d.roots),
                "iotlb_entries": d.iotlb_entries,
            }
            for d in iommu.domains_view()
        ],
        "devices": [
            {
                "devid": format_bdf(v.devid),
                "functions": list(v.functions),
                "translated": v.translated,
                "dte": list(v.dte.raw) if v.dte is not None else None,
            }
            for v in iommu.devices_view()
        ],
        "pending": _pending_data(pending_views(iommu)),
    }


@info_command(
    "iommu", "", "show the IOMMU: registers decoded, reserved range, domains and devices", args=()
)
def info_iommu(mon: Monitor) -> None:
    """``info iommu``: state, reserved range, registers, domains, devices, drain state."""
    iommu = require_iommu(mon, "info iommu")
    drv = current_driver(iommu)
    fixes = {sw.name: on for sw, on in mon.machine.fixes.items() if sw.layer == "amd-iommu"}
    mon.value = "on" if iommu.enabled else "off"
    mon.data = _iommu_data(mon, iommu, fixes)
    lines = iommu_info_lines(
        name=iommu.name,
        bdf=iommu.bdf,
        mmio=AMDVI_BASE_ADDR,
        state=iommu.state(),
        fixes=fixes,
        layout=drv.layout() if drv is not None else None,
        regs=iommu.decode_registers(),
        domains=iommu.domains_view(),
        devices=iommu.devices_view(),
        pending=pending_views(iommu),
        stalled_since_ns=iommu.stalled_since_ns if iommu.stalled else None,
    )
    for line in lines:
        mon.out(line)


@info_command(
    "iotlb", "", "show the IOMMU's cached translations and whether they are stale", args=()
)
def info_iotlb(mon: Monitor) -> None:
    """``info iotlb``: the cached translations and whether the tables still agree."""
    iommu = require_iommu(mon, "info iotlb")
    rows = [(e, iotlb_verdict(iommu, e)) for e in iommu.iotlb_entries()]
    mon.value = len(rows)
    mon.data = [dict(e.to_dict(), tables=verdict) for e, verdict in rows]
    for line in iotlb_lines(rows):
        mon.out(line)


@info_command(
    "dma", "", "show live DMA mappings, their translations, references and checker reports", args=()
)
def info_dma(mon: Monitor) -> None:
    """``info dma``: live DMA mappings, what they translate to, and the checker's reports."""
    machine = mon.machine
    tracker = machine.dma
    iommu = find_iommu(machine)
    mappings = sorted((m for m in tracker.mappings.values() if m.live), key=lambda m: m.id)
    pending = pending_views(iommu)
    stalled = bool(iommu is not None and iommu.stalled)
    mon.value = len(mappings)
    mon.data = {
        "mappings": [
            {
                "id": m.id,
                "device": m.device,
                "requester_id": format_bdf(m.requester_id),
                "addr": m.addr,
                "length": m.length,
                "to_memory": m.is_write,
                "gpa": mapping_gpa(m),
                "translated": m.translation is not None,
                "refs": m.refs,
                "generation": m.generation,
                "stale": m.stale,
            }
            for m in mappings
        ],
        "pending": _pending_data(pending),
        "drain": machine.fixes[INVAL_DRAIN],
        "reports": list(tracker.reports),
    }
    for line in dma_lines(mappings, pending, tracker.reports, stalled):
        mon.out(line)
