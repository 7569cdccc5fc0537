"""The AMD IOMMU's IOTLB as QEMU 7.2 keeps it (``amdvi_iotlb_*``).

One entry per (DeviceID, 4 KiB page), successful translations only; the whole table is
emptied when it holds 1024 entries (``AMDVI_IOTLB_MAX_SIZE``). Entries keep the DomainID
and permissions the walk found, so a page-table change without the right invalidation
keeps answering with the stale entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmamon.devices.amdvi import trace_events as ev
from dmamon.memory import AddressSpace, IOMMUPerm, IOMMUTLBEntry, format_bdf

if TYPE_CHECKING:
    from dmamon.devices.amdvi.walk import WalkOutcome
    from dmamon.memory import Tracer

__all__ = ["DEVID_SHIFT", "IOTLB_MAX", "PERMS", "Iotlb", "IotlbEntry", "IotlbView", "perm_word"]

IOTLB_MAX = 1024  # AMDVI_IOTLB_MAX_SIZE
DEVID_SHIFT = 36  # AMDVI_DEVID_SHIFT: key = DeviceID << 36 | page number
PERMS = (IOMMUPerm.NONE, IOMMUPerm.RO, IOMMUPerm.WO, IOMMUPerm.RW)
# The IOMMUPerm requests each IR/IW pair lets through (the hit path tests membership).
_ALLOWS = (
    (),
    (IOMMUPerm.RO,),
    (IOMMUPerm.WO,),
    (IOMMUPerm.RO, IOMMUPerm.WO, IOMMUPerm.RW),
)
_PERM_WORDS = ("none", "read", "write", "read/write")


def perm_word(bits: int) -> str:
    """IR/IW bits (1 read, 2 write) in words: ``none``, ``read``, ``write``, ``read/write``."""
    return _PERM_WORDS[bits & 3]


@dataclass(frozen=True, slots=True)
class IotlbView:
    """One IOTLB entry (QEMU's ``AMDVIIOTLBEntry`` and its key).

    Attributes:
        devid: the DeviceID the entry belongs to.
        iova: the 4 KiB page of the key (QEMU keys every 4 KiB page separately).
        translated_addr: start of the translated page.
        page_size: size of the translated page.
        perm: what the entry permits.
        domain_id: the DomainID the DTE had when the entry was made.
    """

    devid: int
    iova: int
    translated_addr: int
    page_size: int
    perm: IOMMUPerm
    domain_id: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "devid": format_bdf(self.devid),
            "iova": self.iova,
            "translated_addr": self.translated_addr,
            "page_size": self.page_size,
            "perm": perm_word(int(self.perm)),
            "domain_id": self.domain_id,
        }


class IotlbEntry:
    """A cached translation: the answer the memory core gets, and what QEMU keys it by."""

    __slots__ = ("allows", "devid", "domid", "entry", "mask", "perm", "translated")

    def __init__(
        self, domid: int, devid: int, perm: int, translated: int, mask: int, entry: IOMMUTLBEntry
    ) -> None:
        self.domid = domid
        self.devid = devid
        self.perm = perm
        self.translated = translated
        self.mask = mask
        self.entry = entry
        self.allows = _ALLOWS[perm]

    def view(self, page: int) -> IotlbView:
        """The entry as the monitor shows it, keyed by the 4 KiB page ``page``."""
        return IotlbView(
            self.devid, page, self.translated, self.mask + 1, PERMS[self.perm], self.domid
        )


class Iotlb:
    """The IOTLB: ``table`` maps ``DeviceID << 36 | page number`` to an entry.

    The per-device translators read ``table`` directly on their hit path; it is the same
    dict for the device's whole life (emptied in place, never replaced).

    Args:
        tracer: where ``amdvi_iotlb_reset`` and ``amdvi_cache_update`` go.
        sysmem: the address space translations land in.
    """

    __slots__ = ("sysmem", "table", "tracer")

    def __init__(self, tracer: Tracer, sysmem: AddressSpace) -> None:
        self.tracer = tracer
        self.sysmem = sysmem
        self.table: dict[int, IotlbEntry] = {}

    def __len__(self) -> int:
        return len(self.table)

    def clear(self) -> None:
        """Empty it silently (device reset)."""
        self.table.clear()

    def reset(self) -> None:
        """amdvi_iotlb_reset: empty it, with its trace."""
        self.tracer.emit(ev.amdvi_iotlb_reset)
        self.table.clear()

    def remove(self, pred: Callable[[IotlbEntry], bool]) -> int:
        """Drop the entries ``pred`` selects; returns how many."""
        table = self.table
        dead = [k for k, e in table.items() if pred(e)]
        for k in dead:
            del table[k]
        return len(dead)

    def remove_page(self, devid: int, page: int) -> int:
        """Drop the entry of ``devid`` for the 4 KiB page at ``page``; returns 0 or 1."""
        return 0 if self.table.pop((devid << DEVID_SHIFT) | (page >> 12), None) is None else 1

    def update(self, devid: int, key: int, iova: int, out: WalkOutcome) -> IOMMUTLBEntry:
        """amdvi_update_iotlb: cache a successful translation under (DeviceID, 4 KiB page).

        Args:
            devid: the requester ID.
            key: ``devid << DEVID_SHIFT`` (the translator keeps it ready).
            iova: the address translated.
            out: the walk's result.

        Returns:
            The entry the memory core uses.
        """
        if ev.amdvi_cache_update in self.tracer.enabled:
            self.tracer.emit(
                ev.amdvi_cache_update,
                domid=out.domid,
                bus=devid >> 8,
                slot=(devid >> 3) & 0x1F,
                func=devid & 7,
                gpa=iova,
                txaddr=out.translated,
            )
        table = self.table
        if len(table) >= IOTLB_MAX:
            self.reset()
        mask = out.mask
        page = out.translated & ~mask
        entry = IOMMUTLBEntry(self.sysmem, iova & ~mask, page, mask, PERMS[out.perm])
        table[key | (iova >> 12)] = IotlbEntry(out.domid, devid, out.perm, page, mask, entry)
        return entry

    def lookup(self, devid: int, iova: int) -> IotlbView | None:
        """The entry a device access of ``devid`` at ``iova`` would use, or None."""
        e = self.table.get((devid << DEVID_SHIFT) | (iova >> 12))
        return None if e is None else e.view(iova >> 12 << 12)

    def views(self) -> list[IotlbView]:
        """Every entry, by DeviceID then page (``info iotlb``)."""
        low = (1 << DEVID_SHIFT) - 1
        out = [e.view((k & low) << 12) for k, e in self.table.items()]
        return sorted(out, key=lambda v: (v.devid, v.iova))

    def domain_counts(self) -> dict[int, int]:
        """How many entries each DomainID has."""
        counts: dict[int, int] = {}
        for e in self.table.values():
            counts[e.domid] = counts.get(e.domid, 0) + 1
        return counts
