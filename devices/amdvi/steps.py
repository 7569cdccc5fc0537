"""The table entries a walk read, decoded for a person (``iommu walk``)."""

from __future__ import annotations

from dataclasses import dataclass

from dmamon.devices.amdvi.formats import (
    DTE_SIZE,
    Dte,
    Pte,
    large_page_size,
    level_page_size,
)
from dmamon.devices.amdvi.iotlb import perm_word
from dmamon.memory import IOMMUPerm

__all__ = ["WalkStep", "dte_step", "pte_step", "size_words"]


@dataclass(frozen=True, slots=True)
class WalkStep:
    """One table entry the walk read.

    Attributes:
        kind: ``dte``, ``pde`` (points to a lower table) or ``pte`` (maps a page).
        level: for the DTE its paging mode; for a table entry the level of its table.
        table_addr: the device table base, or the base of the page table read.
        index: the DeviceID for the DTE, the 9-bit index for a table entry.
        index_bits: ``(msb, lsb)`` of the IOVA bits that gave the index (None: DTE).
        entry_addr: guest-physical address of the entry.
        raw: the quads read (four for the DTE).
        fields: decoded fields in display order.
        perm: the IR/IW the entry grants.
        perm_ok: whether the requested permission passes at this entry.
        verdict: plain words about the entry (``present, next level 2``, ...).
    """

    kind: str
    level: int
    table_addr: int
    index: int
    index_bits: tuple[int, int] | None
    entry_addr: int
    raw: tuple[int, ...]
    fields: tuple[tuple[str, int], ...]
    perm: IOMMUPerm
    perm_ok: bool
    verdict: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "level": self.level,
            "table_addr": self.table_addr,
            "index": self.index,
            "index_bits": list(self.index_bits) if self.index_bits else None,
            "entry_addr": self.entry_addr,
            "raw": list(self.raw),
            "fields": dict(self.fields),
            "perm": perm_word(int(self.perm)),
            "perm_ok": self.perm_ok,
            "verdict": self.verdict,
        }


def dte_step(devtab: int, devid: int, q: tuple[int, int, int, int], req: int) -> WalkStep:
    d = Dte.decode(q)
    words = []
    if not d.v:
        words.append("V=0: DMA passes untranslated")
    elif not d.tv:
        words.append("V=1 TV=0: no page table")
    else:
        words.append(f"{d.mode}-level table at {d.root:#x}, domain {d.domain_id}")
    rsv = d.reserved_bits()
    if any(rsv):
        words.append(
            "reserved bits set: " + " ".join(f"q{i}:{v:#x}" for i, v in enumerate(rsv) if v)
        )
    p = int(d.perm)
    return WalkStep(
        "dte",
        d.mode,
        devtab,
        devid,
        None,
        devtab + devid * DTE_SIZE,
        q,
        d.fields(),
        d.perm,
        (p & req) == req,
        "; ".join(words),
    )


def pte_step(level: int, table: int, iova: int, entry_addr: int, raw: int, req: int) -> WalkStep:
    p = Pte.decode(raw)
    lsb = 12 + 9 * (level - 1)
    if not p.pr:
        verdict = "not present" if raw else "zero (nothing mapped)"
        kind = "pte"
    elif p.next_level == 0:
        verdict = f"present, maps a {size_words(level_page_size(level))} page at {p.addr:#x}"
        kind = "pte"
    elif p.next_level == 7:
        size = large_page_size(raw)
        verdict = f"present, large page of {size_words(size)} at {p.addr & ~(size - 1):#x}"
        kind = "pte"
    else:
        verdict = f"present, next level {p.next_level} table at {p.addr:#x}"
        kind = "pde"
    return WalkStep(
        kind,
        level,
        table,
        (iova >> lsb) & 0x1FF,
        (lsb + 8, lsb),
        entry_addr,
        (raw,),
        p.fields(),
        p.perm,
        (int(p.perm) & req) == req,
        verdict,
    )


def size_words(size: int) -> str:
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"
