"""The AMD IOMMU page walk (``amdvi_page_walk``), shared by translation and ``iommu walk``.

One walker serves both uses: translating a device access (``live``: it logs events, sets
the PCI status bit and traces, as QEMU's ``amdvi_page_walk`` does) and explaining one to a
person (it records every table entry it read, with the index bits, raw value, decoded
fields and the permission check, and changes nothing; see :mod:`.explain`). Two walks
exist, chosen by the fix switch ``amdvi-page-walk``: QEMU 7.2's (switch off) and the
specification's (switch on).

Table entries are read from guest RAM directly when they lie in the RAM range that holds
the DTE or the root table (what ``dma_memory_read`` ends up doing), through the system
address space otherwise. Shifts and masks per level are precomputed: a miss in the IOTLB
is the slow path of every DMA that misses, so the loop stays small.
"""

from __future__ import annotations

import mmap
import struct
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
    EventCode,
    large_page_size,
)
from dmamon.devices.amdvi.iotlb import perm_word
from dmamon.devices.amdvi.steps import WalkStep, dte_step, pte_step
from dmamon.memory import MemTxResult

if TYPE_CHECKING:
    from dmamon.devices.amdvi.device import AmdIommu

__all__ = [
    "RamCache",
    "WalkOutcome",
    "run_walk",
]

_OK = MemTxResult.OK
_Q = struct.Struct("<Q")
_Q4 = struct.Struct("<4Q")
# (lo, hi, ram, delta): a RAM range tables are read from directly (hi == 0: none)
_Mem = tuple[int, int, "mmap.mmap | bytes", int]
_NO_RAM: _Mem = (0, 0, b"", 0)
_RSV0, _RSV1, _RSV2, _RSV3 = DTE_RESERVED
# Per level (1..6): how far the IOVA shifts so that "& 0xFF8" gives the 9-bit index (IOVA
# bits 9*level+11 .. 9*level+3) already times 8, and the offset mask of the page an entry at
# that level maps.
_INDEX_SHIFT = tuple(9 * level for level in range(8))
_PAGE_MASK = tuple((1 << (3 + 9 * level)) - 1 for level in range(8))


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


class RamCache:
    """The RAM range the last device table entry was read from, and the flat view it came
    from: while system memory's topology stays the same (same flat view), the next walk
    reads its DTE from the same range without looking it up again."""

    __slots__ = ("mem", "view")

    def __init__(self) -> None:
        self.view: object = None
        self.mem: _Mem = _NO_RAM


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
    dte_addr = iommu.devtab + devid * DTE_SIZE
    cache = iommu.ram_cache
    view = iommu.sysmem.flatview
    mem = cache.mem
    if cache.view is not view or not mem[0] <= dte_addr <= mem[1] - DTE_SIZE:
        mem = _ram_at(iommu, dte_addr, DTE_SIZE)
        cache.view, cache.mem = view, mem
    if mem[1]:
        q = _Q4.unpack_from(mem[2], dte_addr + mem[3])
    else:
        got = _load_dte(iommu, devid, dte_addr, steps is None)
        if got is None:
            return WalkOutcome(
                "fault",
                reason=f"the device table entry at {dte_addr:#x} cannot be read",
                event="DEV_TAB_HW_ERROR",
            )
        q = got
    q0 = q[0]
    if steps is not None:
        steps.append(dte_step(iommu.devtab, devid, (q0, q[1], q[2], q[3]), req))
    if q0 & _RSV0 or q[1] & _RSV1 or q[2] & _RSV2 or q[3] & _RSV3:
        if steps is None:
            iommu.log_event(EventCode.ILLEGAL_DEV_TABLE_ENTRY, devid, dte_addr)
            iommu.tracer.emit(ev.amdvi_invalid_dte, addr=q0)
        return WalkOutcome(
            "fault", reason="reserved bits are set in the DTE", event="ILLEGAL_DEV_TABLE_ENTRY"
        )
    if not q0 & DTE_V:
        # amdvi_do_translate: "devices with V = 0 are not translated" (and not cached)
        return WalkOutcome("passthrough", 3, iova & ~0xFFF, reason="DTE[V]=0: untranslated")
    if not mem[1]:
        mem = _ram_at(iommu, q0 & ADDR_MASK, 8)
    if iommu.fixes[iommu.page_walk_fix]:
        return _walk_spec(iommu, mem, q0, q[1] & 0xFFFF, devfn, iova, req, steps)
    return _walk_qemu72(iommu, mem, q0, q[1] & 0xFFFF, devfn, iova, req, steps)


def _load_dte(
    iommu: AmdIommu, devid: int, dte_addr: int, live: bool
) -> tuple[int, int, int, int] | None:
    """Read a DTE outside RAM through the system address space (None: it failed)."""
    load = iommu.sysmem.load
    qs = []
    for i in range(4):
        r, v = load(dte_addr + 8 * i, 8)
        if r != _OK:
            if live:
                iommu.tracer.emit(ev.amdvi_dte_get_fail, addr=iommu.devtab, offset=devid * DTE_SIZE)
                iommu.log_event(EventCode.DEV_TAB_HW_ERROR, devid, dte_addr, target_abort=True)
            return None
        qs.append(v)
    return qs[0], qs[1], qs[2], qs[3]


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


def _unreadable(level: int, pte_addr: int) -> WalkOutcome:
    return WalkOutcome(
        "fault",
        reason=f"level {level} entry at {pte_addr:#x} cannot be read",
        event="PAGE_TAB_HW_ERROR",
    )


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


# -- QEMU 7.2 -------------------------------------------------------------------------------


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
    if not q0 & DTE_TV:
        return _identity(q0, iova, domid, "DTE[TV]=0: QEMU 7.2 passes it untranslated (no_remap)")
    level = (q0 >> MODE_SHIFT) & MODE_MASK
    if level >= 7:
        if steps is None:
            iommu.tracer.emit(ev.amdvi_mode_invalid, level=level, addr=iova)
        return WalkOutcome("fault", reason=f"DTE mode {level} is invalid (no event)")
    if level == 0:
        return _identity(q0, iova, domid, "DTE mode 0: no translation, DTE permissions")
    got = _qemu72_descend(iommu, mem, q0, level, devfn, iova, req, steps)
    if isinstance(got, WalkOutcome):
        return got
    pte, oldlevel, level = got
    size = large_page_size(pte) if level == 7 else 1 << (oldlevel * 9 + 3)
    perm = (pte >> 61) & 3
    reason = ""
    if perm & req != req:
        reason = (
            f"the leaf grants {perm_word(perm)}: the access fails without an event (QEMU 7.2 "
            "does not check the leaf)"
        )
    elif not pte & 1:
        reason = "the leaf is not present but QEMU 7.2 does not check it"
    translated = (pte & ADDR_MASK) & ~(size - 1)
    return WalkOutcome("translated", perm, translated, size - 1, domid, perm != 0, reason)


def _qemu72_descend(
    iommu: AmdIommu,
    mem: _Mem,
    pte: int,
    level: int,
    devfn: int,
    iova: int,
    req: int,
    steps: list[WalkStep] | None,
) -> tuple[int, int, int] | WalkOutcome:
    """The loop of QEMU 7.2's walk, from the DTE down to the leaf: ``(leaf, its table's
    level, its Next Level)``, or why it stopped."""
    live = steps is None
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
            why = f"{where} grants {perm_word(pte_perm)}, not {perm_word(req)}"
            return _fault(iommu, live, devfn, iova, req, why)
        table = pte & ADDR_MASK
        pte_addr = table + ((iova >> _INDEX_SHIFT[level]) & 0xFF8)
        readable, new = _read_pte(iommu, live, devfn, mem, pte_addr)
        if not readable:
            return _unreadable(level, pte_addr)
        if steps is not None:
            steps.append(pte_step(level, table, iova, pte_addr, new, req))
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
            return pte, oldlevel, level


# -- the specification ----------------------------------------------------------------------


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
        why = f"the DTE grants {perm_word(acc)}, not {perm_word(req)}"
        return _fault(iommu, live, devfn, iova, req, why)
    if mode == 0:
        return _identity(q0, iova, domid, "DTE mode 0: no translation, DTE permissions")
    if mode < 6 and iova >> (12 + 9 * mode):
        why = f"the IOVA is beyond what a {mode}-level table maps"
        return _fault(iommu, live, devfn, iova, req, why)
    return _spec_levels(iommu, mem, q0 & ADDR_MASK, mode, acc, domid, devfn, iova, req, steps)


def _spec_levels(
    iommu: AmdIommu,
    mem: _Mem,
    table: int,
    level: int,
    acc: int,
    domid: int,
    devfn: int,
    iova: int,
    req: int,
    steps: list[WalkStep] | None,
) -> WalkOutcome:
    """The specification's walk below the DTE, ``table`` being the level-``level`` table."""
    lo, hi, ram, delta = mem
    hi -= 8  # an entry at pte_addr <= hi lies wholly in the RAM range
    unpack = _Q.unpack_from
    while True:
        pte_addr = table + ((iova >> _INDEX_SHIFT[level]) & 0xFF8)
        if lo <= pte_addr <= hi:
            pte = unpack(ram, pte_addr + delta)[0]
        else:
            readable, pte = _read_pte(iommu, steps is None, devfn, mem, pte_addr)
            if not readable:
                return _unreadable(level, pte_addr)
        if steps is not None:
            steps.append(pte_step(level, table, iova, pte_addr, pte, req))
        if not pte & 1:
            what = "not present" if pte else "zero"
            return _level_fault(iommu, steps, devfn, iova, req, level, pte_addr, f"is {what}")
        acc &= pte >> 61
        if acc & req != req:
            what = (
                f"leaves {perm_word(acc)}, not {perm_word(req)} "
                "(permissions are AND-ed down the walk)"
            )
            return _level_fault(iommu, steps, devfn, iova, req, level, pte_addr, what)
        nl = (pte >> MODE_SHIFT) & MODE_MASK
        if nl == 0:
            mask = _PAGE_MASK[level]
            return WalkOutcome("translated", acc, pte & ADDR_MASK & ~mask, mask, domid, True)
        if nl == 7:
            mask = large_page_size(pte) - 1
            return WalkOutcome("translated", acc, pte & ADDR_MASK & ~mask, mask, domid, True)
        if nl >= level:
            what = f"points to level {nl}, not below"
            return _level_fault(iommu, steps, devfn, iova, req, level, pte_addr, what)
        table = pte & ADDR_MASK
        level = nl


def _level_fault(
    iommu: AmdIommu,
    steps: list[WalkStep] | None,
    devfn: int,
    iova: int,
    req: int,
    level: int,
    pte_addr: int,
    what: str,
) -> WalkOutcome:
    reason = f"level {level} entry at {pte_addr:#x} {what}"
    return _fault(iommu, steps is None, devfn, iova, req, reason)
