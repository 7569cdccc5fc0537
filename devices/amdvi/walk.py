"""The AMD IOMMU page walk, and its explanation for the monitor (``iommu walk``).

One walker serves both uses: translating a device access (``live``: it logs events, sets
the PCI status bit and traces, as QEMU's ``amdvi_page_walk`` does) and explaining one to a
person (it records every table entry it read, with the index bits, raw value, decoded
fields and the permission check, and changes nothing). Two walks exist, chosen by the fix
switch ``amdvi-page-walk``: QEMU 7.2's (switch off) and the specification's (switch on).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmamon.devices.amdvi import trace_events as ev
from dmamon.devices.amdvi.formats import (
    ADDR_MASK,
    DTE_RESERVED,
    DTE_SIZE,
    DTE_TV,
    DTE_V,
    MODE_MASK,
    MODE_SHIFT,
    Dte,
    EventCode,
    Pte,
    large_page_size,
    level_page_size,
    perm_of,
)
from dmamon.memory import IOMMUPerm, MemTxResult, format_bdf

if TYPE_CHECKING:
    from dmamon.devices.amdvi.device import AmdIommu

__all__ = ["IotlbView", "WalkExplanation", "WalkOutcome", "WalkStep", "run_walk"]

_OK = MemTxResult.OK
_PERM_WORDS = {0: "none", 1: "read", 2: "write", 3: "read/write"}


def _pw(bits: int) -> str:
    return _PERM_WORDS[bits & 3]


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
            "perm": _pw(int(self.perm)),
            "perm_ok": self.perm_ok,
            "verdict": self.verdict,
        }


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
            "perm": _pw(int(self.perm)),
            "domain_id": self.domain_id,
        }


@dataclass(frozen=True, slots=True)
class WalkExplanation:
    """Why an access translates the way it does, level by level.

    Attributes:
        devid: the requester ID the IOMMU sees (a bridge's, for functions behind one).
        iova: the address the device uses.
        perm: the permission the access needs.
        walk: ``qemu-7.2`` or ``spec`` (fix ``amdvi-page-walk``).
        mode: how the IOMMU treats the access: ``disabled``, ``msi``, ``passthrough``,
            ``untranslated``, ``translated`` or ``fault``.
        steps: the entries the walk read, DTE first.
        ok: the access would succeed (by the tables; see ``iotlb``).
        translated_addr: where the IOVA lands, when ``ok``.
        page_size: the page the walk found (None when it failed).
        granted: the permission the translation carries.
        reason: why it fails, or a note about how it passes.
        event: the event a device access logs (``IO_PAGE_FAULT``...), or empty.
        iotlb: the IOTLB entry a device access would use first, if any.
        iotlb_note: how the IOTLB entry compares with the tables (``stale`` ...).
    """

    devid: int
    iova: int
    perm: IOMMUPerm
    walk: str
    mode: str
    steps: tuple[WalkStep, ...]
    ok: bool
    translated_addr: int | None
    page_size: int | None
    granted: IOMMUPerm
    reason: str
    event: str
    iotlb: IotlbView | None = None
    iotlb_note: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (``iommu walk --json``)."""
        return {
            "devid": format_bdf(self.devid),
            "iova": self.iova,
            "perm": _pw(int(self.perm)),
            "walk": self.walk,
            "mode": self.mode,
            "steps": [s.to_dict() for s in self.steps],
            "ok": self.ok,
            "translated_addr": self.translated_addr,
            "page_size": self.page_size,
            "granted": _pw(int(self.granted)),
            "reason": self.reason,
            "event": self.event,
            "iotlb": self.iotlb.to_dict() if self.iotlb else None,
            "iotlb_note": self.iotlb_note,
        }


class WalkOutcome:
    """What a walk found (internal; the IOMMU turns it into an IOMMUTLBEntry).

    ``perm`` is the IR/IW bits the translation carries (0: the access fails); ``cache``
    says whether QEMU would put it in the IOTLB.
    """

    __slots__ = ("cache", "domid", "event", "mask", "mode", "perm", "reason", "translated")

    def __init__(
        self,
        mode: str,
        perm: int = 0,
        translated: int = 0,
        mask: int = 0xFFF,
        domid: int = 0,
        cache: bool = False,
        reason: str = "",
        event: str = "",
    ) -> None:
        self.mode = mode
        self.perm = perm
        self.translated = translated
        self.mask = mask
        self.domid = domid
        self.cache = cache
        self.reason = reason
        self.event = event


def _dte_step(devtab: int, devid: int, q: tuple[int, int, int, int], req: int) -> WalkStep:
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


def _pte_step(level: int, table: int, iova: int, entry_addr: int, raw: int, req: int) -> WalkStep:
    p = Pte.decode(raw)
    lsb = 12 + 9 * (level - 1)
    if not p.pr:
        verdict = "not present" if raw else "zero (nothing mapped)"
        kind = "pte"
    elif p.next_level == 0:
        verdict = f"present, maps a {_size_words(level_page_size(level))} page at {p.addr:#x}"
        kind = "pte"
    elif p.next_level == 7:
        size = large_page_size(raw)
        verdict = f"present, large page of {_size_words(size)} at {p.addr & ~(size - 1):#x}"
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


def _size_words(size: int) -> str:
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


_Q = struct.Struct("<Q")
_Q4 = struct.Struct("<4Q")
# (lo, hi, ram, delta): a RAM range tables are read from directly (hi == 0: none)
_Mem = tuple[int, int, "mmap.mmap | bytes", int]
_NO_RAM: _Mem = (0, 0, b"", 0)


def _ram_at(iommu: AmdIommu, addr: int, size: int) -> _Mem:
    """The system-memory RAM range holding ``[addr, addr+size)``, for direct reads."""
    fr = iommu.sysmem.lookup(addr)
    if fr is None or fr.region.ram is None or addr + size > fr.end:
        return _NO_RAM
    return fr.start, fr.end, fr.region.ram, fr.offset_in_region - fr.start


def run_walk(
    iommu: AmdIommu, devid: int, devfn: int, iova: int, req: int, steps: list[WalkStep] | None
) -> WalkOutcome:
    """Walk the device table and page tables for one access.

    Table entries are read from guest memory as QEMU's ``dma_memory_read`` does (RAM
    directly, anything else through the system address space).

    Args:
        iommu: the IOMMU (its registers say where the tables are).
        devid: the requester ID (bus << 8 | devfn) that indexes the device table.
        devfn: what QEMU puts in IO_PAGE_FAULT and PAGE_TAB_HW_ERROR events (it passes
            ``as->devfn``, not the full DeviceID).
        iova: the device's address.
        req: permission bits requested (1 read, 2 write).
        steps: None for a device access (events, traces, status); a list to fill for an
            explanation (no side effects).

    Returns:
        The outcome; ``perm == 0`` means the access fails.
    """
    live = steps is None
    devtab = iommu.devtab
    dte_addr = devtab + devid * DTE_SIZE
    mem = _ram_at(iommu, dte_addr, DTE_SIZE)
    if mem[1]:
        q = _Q4.unpack_from(mem[2], dte_addr + mem[3])
    else:
        load = iommu.sysmem.load
        qs = []
        for i in range(4):
            r, v = load(dte_addr + 8 * i, 8)
            if r != _OK:
                if live:
                    iommu.tracer.emit(ev.amdvi_dte_get_fail, addr=devtab, offset=devid * DTE_SIZE)
                    iommu.log_event(EventCode.DEV_TAB_HW_ERROR, devid, dte_addr, target_abort=True)
                return WalkOutcome(
                    "fault",
                    reason=f"the device table entry at {dte_addr:#x} cannot be read",
                    event="DEV_TAB_HW_ERROR",
                )
            qs.append(v)
        q = (qs[0], qs[1], qs[2], qs[3])
    q0 = q[0]
    if steps is not None:
        steps.append(_dte_step(devtab, devid, (q[0], q[1], q[2], q[3]), req))
    if (
        q0 & DTE_RESERVED[0]
        or q[1] & DTE_RESERVED[1]
        or q[2] & DTE_RESERVED[2]
        or q[3] & DTE_RESERVED[3]
    ):
        if live:
            iommu.log_event(EventCode.ILLEGAL_DEV_TABLE_ENTRY, devid, dte_addr)
            iommu.tracer.emit(ev.amdvi_invalid_dte, addr=q0)
        return WalkOutcome(
            "fault", reason="reserved bits are set in the DTE", event="ILLEGAL_DEV_TABLE_ENTRY"
        )
    if not q0 & DTE_V:
        # amdvi_do_translate: "devices with V = 0 are not translated" (and not cached)
        return WalkOutcome("passthrough", 3, iova & ~0xFFF, reason="DTE[V]=0: untranslated")
    domid = q[1] & 0xFFFF
    if not mem[1]:
        mem = _ram_at(iommu, q0 & ADDR_MASK, 8)
    if iommu.fixes[iommu.page_walk_fix]:
        return _walk_spec(iommu, mem, q0, domid, devfn, iova, req, steps)
    return _walk_qemu72(iommu, mem, q0, domid, devfn, iova, req, steps)


def _identity(q0: int, iova: int, domid: int, why: str) -> WalkOutcome:
    perm = (q0 >> 61) & 3
    return WalkOutcome("untranslated", perm, iova & ~0xFFF, 0xFFF, domid, perm != 0, reason=why)


def _fault(
    iommu: AmdIommu, live: bool, devfn: int, iova: int, req: int, reason: str
) -> WalkOutcome:
    """amdvi_page_fault: IO_PAGE_FAULT with the requested permission, and trace."""
    if live:
        iommu.log_event(EventCode.IO_PAGE_FAULT, devfn, iova, flags=0x8 | req, target_abort=True)
        iommu.tracer.emit(ev.amdvi_page_fault, addr=iova)
    return WalkOutcome("fault", reason=reason, event="IO_PAGE_FAULT")


def _read_pte(iommu: AmdIommu, live: bool, devfn: int, mem: _Mem, addr: int) -> tuple[bool, int]:
    """amdvi_get_pte_entry: read one entry (RAM directly when it is in ``mem``)."""
    lo, hi, ram, delta = mem
    if lo <= addr and addr + 8 <= hi:
        return True, _Q.unpack_from(ram, addr + delta)[0]
    r, v = iommu.sysmem.load(addr, 8)
    if r == _OK:
        return True, v
    if live:
        iommu.tracer.emit(ev.amdvi_get_pte_hwerror, addr=addr)
        iommu.log_event(EventCode.PAGE_TAB_HW_ERROR, devfn, addr, target_abort=True)
    return False, 0


def _walk_qemu72(
    iommu: AmdIommu,
    mem: _Mem,
    q0: int,
    domid: int,
    devfn: int,
    iova: int,
    req: int,
    steps: list[WalkStep] | None,
) -> WalkOutcome:
    """QEMU 7.2 ``amdvi_page_walk``: present and permission are checked on the DTE and on
    every entry that leads further down, never on the leaf; a zero entry ends the walk
    silently; the leaf's own IR/IW become the translation's (and the IOTLB's)."""
    live = steps is None
    if not q0 & DTE_TV:
        return _identity(q0, iova, domid, "DTE[TV]=0: QEMU 7.2 passes it untranslated (no_remap)")
    level = (q0 >> MODE_SHIFT) & MODE_MASK
    if level >= 7:
        if live:
            iommu.tracer.emit(ev.amdvi_mode_invalid, level=level, addr=iova)
        return WalkOutcome("fault", reason=f"DTE mode {level} is invalid (no event)")
    if level == 0:
        return _identity(q0, iova, domid, "DTE mode 0: no translation, DTE permissions")
    pte = q0
    oldlevel = level
    where = "the DTE"
    engine = iommu.engine
    while True:
        if live:
            engine.tick(1, "amd-iommu page walk")  # QEMU loops forever on a cyclic table
        if not pte & 1:
            return _fault(iommu, live, devfn, iova, req, f"{where} is not present")
        pte_perm = (pte >> 61) & 3
        if pte_perm & req != req:
            return _fault(
                iommu, live, devfn, iova, req, f"{where} grants {_pw(pte_perm)}, not {_pw(req)}"
            )
        table = pte & ADDR_MASK
        pte_addr = table + (((iova >> (3 + 9 * level)) & 0x1FF) << 3)
        readable, new = _read_pte(iommu, live, devfn, mem, pte_addr)
        if not readable:
            return WalkOutcome(
                "fault",
                reason=f"level {level} entry at {pte_addr:#x} cannot be read",
                event="PAGE_TAB_HW_ERROR",
            )
        if steps is not None:
            steps.append(_pte_step(level, table, iova, pte_addr, new, req))
        if new == 0:
            return WalkOutcome(
                "fault",
                reason=f"level {level} entry at {pte_addr:#x} is zero: QEMU 7.2 stops there "
                "without an event",
            )
        pte = new
        oldlevel = level
        level = (pte >> MODE_SHIFT) & MODE_MASK
        where = f"level {oldlevel} entry at {pte_addr:#x}"
        if level == 0 or level == 7:
            break
    size = large_page_size(pte) if level == 7 else 1 << (oldlevel * 9 + 3)
    perm = (pte >> 61) & 3
    reason = ""
    if perm & req != req:
        reason = (
            f"the leaf grants {_pw(perm)}: the access fails without an event (QEMU 7.2 "
            "does not check the leaf)"
        )
    elif not pte & 1:
        reason = "the leaf is not present but QEMU 7.2 does not check it"
    return WalkOutcome(
        "translated",
        perm,
        (pte & ADDR_MASK) & ~(size - 1),
        size - 1,
        domid,
        perm != 0,
        reason,
    )


def _walk_spec(
    iommu: AmdIommu,
    mem: _Mem,
    q0: int,
    domid: int,
    devfn: int,
    iova: int,
    req: int,
    steps: list[WalkStep] | None,
) -> WalkOutcome:
    """The specification's walk: every level (DTE included) must be present and grant the
    access; the translation carries the AND of all levels' IR/IW. At most six levels, so
    it cannot loop."""
    live = steps is None
    if not q0 & DTE_TV:
        return WalkOutcome("fault", reason="DTE[TV]=0: no page table, the walk stops (no event)")
    mode = (q0 >> MODE_SHIFT) & MODE_MASK
    if mode >= 7:
        if live:
            iommu.tracer.emit(ev.amdvi_mode_invalid, level=mode, addr=iova)
        return WalkOutcome("fault", reason=f"DTE mode {mode} is invalid (no event)")
    acc = (q0 >> 61) & 3
    if acc & req != req:  # before Mode 0 too: IR/IW gate an untranslated access as well
        return _fault(iommu, live, devfn, iova, req, f"the DTE grants {_pw(acc)}, not {_pw(req)}")
    if mode == 0:
        return _identity(q0, iova, domid, "DTE mode 0: no translation, DTE permissions")
    if mode < 6 and iova >> (12 + 9 * mode):
        return _fault(
            iommu, live, devfn, iova, req, f"the IOVA is beyond what a {mode}-level table maps"
        )
    lo, hi, ram, delta = mem
    unpack = _Q.unpack_from
    table = q0 & ADDR_MASK
    level = mode
    while True:
        pte_addr = table + (((iova >> (3 + 9 * level)) & 0x1FF) << 3)
        if lo <= pte_addr and pte_addr + 8 <= hi:
            pte = unpack(ram, pte_addr + delta)[0]
        else:
            readable, pte = _read_pte(iommu, live, devfn, mem, pte_addr)
            if not readable:
                return WalkOutcome(
                    "fault",
                    reason=f"level {level} entry at {pte_addr:#x} cannot be read",
                    event="PAGE_TAB_HW_ERROR",
                )
        if steps is not None:
            steps.append(_pte_step(level, table, iova, pte_addr, pte, req))
        if not pte & 1:
            return _fault(
                iommu,
                live,
                devfn,
                iova,
                req,
                f"level {level} entry at {pte_addr:#x} is {'not present' if pte else 'zero'}",
            )
        acc &= pte >> 61
        if acc & req != req:
            return _fault(
                iommu,
                live,
                devfn,
                iova,
                req,
                f"level {level} entry at {pte_addr:#x} leaves {_pw(acc)}, not {_pw(req)} "
                "(permissions are AND-ed down the walk)",
            )
        nl = (pte >> MODE_SHIFT) & MODE_MASK
        if nl == 0:
            mask = (1 << (3 + 9 * level)) - 1
            return WalkOutcome("translated", acc, pte & ADDR_MASK & ~mask, mask, domid, True)
        if nl == 7:
            mask = large_page_size(pte) - 1
            return WalkOutcome("translated", acc, pte & ADDR_MASK & ~mask, mask, domid, True)
        if nl >= level:
            return _fault(
                iommu,
                live,
                devfn,
                iova,
                req,
                f"level {level} entry at {pte_addr:#x} points to level {nl}, not below",
            )
        table = pte & ADDR_MASK
        level = nl


def explain_walk(iommu: AmdIommu, devid: int, iova: int, perm: IOMMUPerm) -> WalkExplanation:
    """Explain one access without side effects (see :meth:`AmdIommu.walk`)."""
    req = int(perm) & 3 or 1
    walk_name = "spec" if iommu.fixes[iommu.page_walk_fix] else "qemu-7.2"
    if not iommu.enabled:
        return WalkExplanation(
            devid,
            iova,
            perm,
            walk_name,
            "disabled",
            (),
            True,
            iova,
            None,
            IOMMUPerm.RW,
            "the IOMMU is disabled (Control.IommuEn=0): DMA passes untranslated",
            "",
        )
    if 0xFEE00000 <= iova <= 0xFEEFFFFF:
        ok = req == 2
        return WalkExplanation(
            devid,
            iova,
            perm,
            walk_name,
            "msi",
            (),
            ok,
            iova if ok else None,
            None,
            IOMMUPerm.WO,
            "the MSI window passes writes untranslated (interrupt remapping)",
            "",
        )
    steps: list[WalkStep] = []
    out = run_walk(iommu, devid, devid & 0xFF, iova, req, steps)
    ok = out.perm & req == req
    translated = (out.translated & ~out.mask) | (iova & out.mask) if ok else None
    page = out.mask + 1 if out.mode in ("translated", "untranslated") else None
    hit = iommu.iotlb_lookup(devid, iova)
    note = ""
    if hit is not None:
        same = (
            ok and hit.translated_addr == (out.translated & ~out.mask) and int(hit.perm) == out.perm
        )
        if same:
            note = "hit: the IOTLB entry agrees with the tables"
        else:
            note = (
                "hit: a device access uses this cached entry, which no longer matches the "
                "tables (stale until INVALIDATE_IOMMU_PAGES for its domain)"
            )
    elif out.cache:
        note = "miss: a device access walks the tables and caches the result"
    return WalkExplanation(
        devid,
        iova,
        perm,
        walk_name,
        out.mode,
        tuple(steps),
        ok,
        translated,
        page,
        perm_of(out.perm << 61),
        out.reason,
        out.event,
        hit,
        note,
    )
