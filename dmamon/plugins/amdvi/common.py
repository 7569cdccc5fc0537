"""What the AMD IOMMU plug-in's commands share: finding the IOMMU and the driver that set it
up, the ``requester`` argument kind (a device name or ``bb:dd.f``), and JSON pieces."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dmamon.argspec import ArgError, Param, register_kind, scan_word
from dmamon.devices import PciDevice
from dmamon.devices.amdvi import (
    AmdIommu,
    AmdIommuDriver,
    CommandRecord,
    InvalidationResult,
    IotlbView,
    find_iommu,
)
from dmamon.devices.amdvi.formats import ADDR_MASK
from dmamon.memory import IOMMUPerm, format_bdf
from dmamon.monitor import MonitorError
from dmamon.plugins.amdvi.views import PendingView, perm_short

if TYPE_CHECKING:
    from dmamon.monitor import Monitor

__all__ = [
    "NO_IOMMU",
    "Target",
    "commands_data",
    "current_driver",
    "executed_since",
    "inval_data",
    "inval_state",
    "iotlb_verdict",
    "pending_views",
    "require_driver",
    "require_iommu",
    "who",
]

NO_IOMMU = "no IOMMU (start with -device amd-iommu)"
_BDF = re.compile(r"^([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$")

Target = tuple[PciDevice | int, str]
"""A requester: the PCI function (or a bare requester ID) and the name to show ("" for an ID)."""


def require_iommu(mon: Monitor, what: str = "iommu") -> AmdIommu:
    """The machine's IOMMU, or a one-line error naming ``what``."""
    iommu = find_iommu(mon.machine)
    if iommu is None:
        raise MonitorError(f"{what}: {NO_IOMMU}")
    return iommu


def current_driver(iommu: AmdIommu) -> AmdIommuDriver | None:
    """The driver ``iommu setup`` used, while the registers still point at its structures
    (read without MMIO side effects)."""
    drv = iommu.driver
    if drv is None:
        return None
    regs = iommu.regs
    if (
        regs.peek("devtab_base") & ADDR_MASK != drv.devtab
        or regs.peek("cmdbuf_base") & ADDR_MASK != drv.cmdbuf
    ):
        return None
    return drv


def require_driver(iommu: AmdIommu, sub: str) -> AmdIommuDriver:
    """:func:`current_driver`, or a one-line error saying to run ``iommu setup``."""
    drv = current_driver(iommu)
    if drv is None:
        raise MonitorError(f"iommu {sub}: the IOMMU is not set up (run: iommu setup)")
    return drv


def _scan_requester(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    """A PCI function by name (board functions such as mch too), or a requester ID."""
    word, end = scan_word(text, pos)
    devices = mon.machine.devices
    if word in devices:
        dev = devices[word]
        if not isinstance(dev, PciDevice):
            raise ArgError(f"'{word}' is not a PCI function")
        return (dev, word), end
    for func in mon.machine.pci_devices():
        if func.name == word:
            return (func, word), end
    m = _BDF.match(word)
    if m:
        bus, slot, fn = (int(g, 16) for g in m.groups())
        if slot > 31:
            raise ArgError(f"'{word}' is not a requester ID (bus:dev.fn)")
        return ((bus << 8) | (slot << 3) | fn, ""), end
    raise ArgError(f"Device '{word}' not found")


register_kind("requester", _scan_requester, "device")


def who(iommu: AmdIommu, target: Target) -> str:
    """``edu0 (devid 00:02.0)``, naming the bridge when the function sits behind one."""
    dev, name = target
    if isinstance(dev, PciDevice):
        devid = iommu.devid_of(dev)
        alias = "" if devid == dev.requester_id else ", its bridge's requester ID"
        return f"{name} (devid {format_bdf(devid)}{alias})"
    return f"devid {format_bdf(dev)}"


def inval_state(res: InvalidationResult | None) -> str:
    """The value of ``iommu map/unmap/flush``: completed, pending, none or not queued."""
    if res is None:
        return "none"
    if not res.queued:
        return "not queued"
    return "completed" if res.completed else "pending"


def executed_since(iommu: AmdIommu, seq: int) -> list[CommandRecord]:
    """The commands the IOMMU ran after command number ``seq``."""
    return [r for r in iommu.command_history() if r.seq > seq]


def pending_views(iommu: AmdIommu | None) -> list[PendingView]:
    """In-flight mappings an invalidation waits for."""
    if iommu is None:
        return []
    return [PendingView(m, seq, dom) for m, seq, dom in iommu.pending_invalidations()]


def inval_data(res: InvalidationResult | None) -> dict[str, object] | None:
    """An invalidation as ``--json`` shows it."""
    if res is None:
        return None
    return {
        "commands": [c.describe() for c in res.commands],
        "queued": res.queued,
        "completed": res.completed,
        "semaphore": res.semaphore,
        "value": res.value,
        "note": res.note,
    }


def commands_data(records: list[CommandRecord]) -> list[dict[str, object]]:
    """Executed commands as ``--json`` shows them."""
    return [{"seq": r.seq, "command": r.command.describe(), "outcome": r.outcome} for r in records]


def iotlb_verdict(iommu: AmdIommu, e: IotlbView) -> str:
    """How a cached translation compares with what the tables say now."""
    if not iommu.enabled:
        return "unused while translation is off"
    perm = IOMMUPerm.RO if int(e.perm) & 1 else IOMMUPerm.WO
    w = iommu.walk(e.devid, e.iova, perm)
    expected = e.translated_addr + (e.iova & (e.page_size - 1))
    if w.ok and w.translated_addr == expected and int(w.granted) == int(e.perm):
        return "agree"
    if w.ok and w.translated_addr is not None:
        return f"STALE: now {w.translated_addr:#x} {perm_short(w.granted)}"
    return f"STALE: now a fault ({w.reason})"
