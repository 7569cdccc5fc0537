"""AMD-Vi in-memory formats: device table entries, I/O page table entries, commands, events.

Pure functions and frozen records, shared by the IOMMU model, the guest-driver helper and
the monitor: encoders build what a guest driver writes, decoders explain raw values. Bit
positions are the ones QEMU 7.2's ``hw/i386/amd_iommu.{c,h}`` uses (which follow the AMD
IOMMU specification 48882 where QEMU implements a field at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from dmamon.memory import IOMMUPerm, format_bdf

__all__ = [
    "ADDR_MASK",
    "ALL_PAGES",
    "COMMAND_SIZE",
    "DTE_SIZE",
    "EVENT_SIZE",
    "CommandCode",
    "DecodedCommand",
    "DecodedEvent",
    "Dte",
    "EventCode",
    "Pte",
    "cmd_completion_wait",
    "cmd_invalidate_all",
    "cmd_invalidate_devtab_entry",
    "cmd_invalidate_interrupt_table",
    "cmd_invalidate_iommu_pages",
    "cmd_invalidate_iotlb_pages",
    "decode_command",
    "decode_event",
    "decode_invalidation_range",
    "encode_dte",
    "encode_event",
    "encode_pte",
    "invalidation_address",
    "large_page_size",
    "level_page_size",
    "perm_of",
]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
ADDR_MASK = 0x000F_FFFF_FFFF_F000  # bits 51:12 (AMDVI_DEV_PT_ROOT_MASK)
U64 = (1 << 64) - 1
DTE_SIZE = 32
COMMAND_SIZE = 16
EVENT_SIZE = 16
ALL_PAGES = 1 << 64  # size of "the whole address space" in an invalidation

# Device table entry, quad 0 (AMDVI_DEV_*)
DTE_V = 1 << 0
DTE_TV = 1 << 1
MODE_SHIFT = 9
MODE_MASK = 0x7
PERM_SHIFT = 61
IR = 1 << 61
IW = 1 << 62
DOMID_MASK = 0xFFFF
DTE_IV = 1 << 0  # quad 2: interrupt remapping valid
# Reserved bits QEMU 7.2.22 checks (amdvi_validate_dte). 7.2.0 had 0x80300000000000fc,
# 0x100, 0x08f0000000000000 and all of quad 3; the stable branch took "amd_iommu: Update
# bitmasks representing DTE reserved fields" (ff3dcb3bf652, 2025): quad 0 bits 6:2 and 63,
# quad 2 bits 53:52, quad 3 bits 14:0 and 53:48 (checked against 7.2.22 by the conformance
# program amdvi-dma-reserved-dte-bits).
DTE_RESERVED = (0x800000000000007C, 0, 0x0030000000000000, 0x003F000000007FFF)

PTE_PR = 1 << 0


class CommandCode(IntEnum):
    """Command opcodes (qword 0 bits 63:60)."""

    COMPLETION_WAIT = 0x1
    INVALIDATE_DEVTAB_ENTRY = 0x2
    INVALIDATE_IOMMU_PAGES = 0x3
    INVALIDATE_IOTLB_PAGES = 0x4
    INVALIDATE_INTERRUPT_TABLE = 0x5
    PREFETCH_IOMMU_PAGES = 0x6
    COMPLETE_PPR_REQUEST = 0x7
    INVALIDATE_IOMMU_ALL = 0x8


class EventCode(IntEnum):
    """Event codes (qword 0 bits 63:60 of an event log entry)."""

    ILLEGAL_DEV_TABLE_ENTRY = 0x1
    IO_PAGE_FAULT = 0x2
    DEV_TAB_HW_ERROR = 0x3
    PAGE_TAB_HW_ERROR = 0x4
    ILLEGAL_COMMAND_ERROR = 0x5
    COMMAND_HW_ERROR = 0x6


IOPF_I = 1 << 3  # AMDVI_EVENT_IOPF_I: QEMU ORs it and the requested permission in
PERM_READ = 1
PERM_WRITE = 2
_PERMS = (IOMMUPerm.NONE, IOMMUPerm.RO, IOMMUPerm.WO, IOMMUPerm.RW)


def perm_of(entry: int) -> IOMMUPerm:
    """IR/IW (bits 61/62) of a DTE quad 0 or a PTE as a permission (QEMU amdvi_get_perms)."""
    return _PERMS[(entry >> PERM_SHIFT) & 3]


def level_page_size(level: int) -> int:
    """Bytes one entry of a level-``level`` table maps (1: 4 KiB, 2: 2 MiB, 3: 1 GiB...)."""
    return 1 << (PAGE_SHIFT + 9 * (level - 1))


def large_page_size(pte: int) -> int:
    """Page size a Next Level 7 entry encodes: the first zero address bit from bit 12 up
    gives size 2**(bit + 1) (QEMU 7.2 pte_override_page_mask; spec Table 14)."""
    bit = 12
    addr = (pte & ADDR_MASK) >> 12
    while addr & 1:
        bit += 1
        addr >>= 1
    return 1 << (bit + 1)


# -- device table entries ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dte:
    """A decoded device table entry.

    Attributes:
        raw: the four quads as read.
        v: DTE[V], the entry is valid (0: the device's DMA passes untranslated).
        tv: DTE[TV], the translation fields are valid.
        mode: paging mode = number of page-table levels (0: no translation).
        root: page table root pointer (bits 51:12).
        ir: read permission (bit 61).
        iw: write permission (bit 62).
        domain_id: DomainID (quad 1 bits 15:0).
        iv: interrupt remapping valid (quad 2 bit 0).
    """

    raw: tuple[int, int, int, int]
    v: bool
    tv: bool
    mode: int
    root: int
    ir: bool
    iw: bool
    domain_id: int
    iv: bool

    @classmethod
    def decode(cls, raw: tuple[int, int, int, int]) -> Dte:
        """Decode four raw quads."""
        q0 = raw[0]
        return cls(
            raw,
            bool(q0 & DTE_V),
            bool(q0 & DTE_TV),
            (q0 >> MODE_SHIFT) & MODE_MASK,
            q0 & ADDR_MASK,
            bool(q0 & IR),
            bool(q0 & IW),
            raw[1] & DOMID_MASK,
            bool(raw[2] & DTE_IV),
        )

    @property
    def perm(self) -> IOMMUPerm:
        """IR/IW as a permission."""
        return perm_of(self.raw[0])

    def reserved_bits(self) -> tuple[int, int, int, int]:
        """The reserved bits that are set, per quad (QEMU 7.2's masks)."""
        r, m = self.raw, DTE_RESERVED
        return r[0] & m[0], r[1] & m[1], r[2] & m[2], r[3] & m[3]

    def fields(self) -> tuple[tuple[str, int], ...]:
        """Decoded fields in display order."""
        return (
            ("V", int(self.v)),
            ("TV", int(self.tv)),
            ("Mode", self.mode),
            ("PTRoot", self.root),
            ("IR", int(self.ir)),
            ("IW", int(self.iw)),
            ("DomainID", self.domain_id),
            ("IV", int(self.iv)),
        )


def encode_dte(
    root: int,
    mode: int,
    domain_id: int,
    perm: IOMMUPerm = IOMMUPerm.RW,
    valid: bool = True,
    translation_valid: bool = True,
) -> tuple[int, int, int, int]:
    """The four quads of a device table entry as a guest driver writes them.

    Args:
        root: page table root (4 KiB aligned).
        mode: number of page-table levels, 0..6.
        domain_id: 16-bit DomainID.
        perm: IR/IW.
        valid: DTE[V].
        translation_valid: DTE[TV].

    Raises:
        ValueError: a field does not fit.
    """
    if root & ~ADDR_MASK or not 0 <= mode <= 7 or not 0 <= domain_id <= DOMID_MASK:
        raise ValueError(f"bad DTE fields: root {root:#x} mode {mode} domain {domain_id}")
    q0 = (
        (DTE_V if valid else 0)
        | (DTE_TV if translation_valid else 0)
        | (mode << MODE_SHIFT)
        | root
        | (int(perm) << PERM_SHIFT)
    )
    return q0, domain_id, 0, 0


# -- page table entries ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pte:
    """A decoded I/O page table entry (a PDE when Next Level is 1..6).

    Attributes:
        raw: the 64-bit entry.
        pr: present.
        next_level: 0 = leaf page, 1..6 = level of the table it points to, 7 = large page.
        addr: address bits 51:12 (next table or page frame).
        ir: read permission.
        iw: write permission.
    """

    raw: int
    pr: bool
    next_level: int
    addr: int
    ir: bool
    iw: bool

    @classmethod
    def decode(cls, raw: int) -> Pte:
        """Decode a raw entry."""
        return cls(
            raw,
            bool(raw & PTE_PR),
            (raw >> MODE_SHIFT) & MODE_MASK,
            raw & ADDR_MASK,
            bool(raw & IR),
            bool(raw & IW),
        )

    @property
    def perm(self) -> IOMMUPerm:
        """IR/IW as a permission."""
        return perm_of(self.raw)

    def fields(self) -> tuple[tuple[str, int], ...]:
        """Decoded fields in display order."""
        return (
            ("PR", int(self.pr)),
            ("NextLevel", self.next_level),
            ("Addr", self.addr),
            ("IR", int(self.ir)),
            ("IW", int(self.iw)),
        )


def encode_pte(
    addr: int, next_level: int, perm: IOMMUPerm = IOMMUPerm.RW, present: bool = True
) -> int:
    """A page table entry: ``next_level`` 0 for a leaf, the lower table's level for a PDE.

    Raises:
        ValueError: the address is not 4 KiB aligned or too wide.
    """
    if addr & ~ADDR_MASK or not 0 <= next_level <= 7:
        raise ValueError(f"bad PTE fields: addr {addr:#x} next level {next_level}")
    return (PTE_PR if present else 0) | (next_level << MODE_SHIFT) | addr | (int(perm) << 61)


# -- commands ----------------------------------------------------------------------------


def cmd_completion_wait(
    store_addr: int = 0, data: int = 0, store: bool = True, interrupt: bool = False
) -> tuple[int, int]:
    """COMPLETION_WAIT: S stores ``data`` (8 bytes) at ``store_addr``, I raises ComWaitInt.

    Raises:
        ValueError: ``store_addr`` is not 8-byte aligned.
    """
    if store_addr & 7 or store_addr >> 52:
        raise ValueError(f"completion store address {store_addr:#x} must be 8-byte aligned")
    qw0 = (CommandCode.COMPLETION_WAIT << 60) | store_addr | int(store) | (int(interrupt) << 1)
    return qw0, data & U64


def cmd_invalidate_devtab_entry(devid: int) -> tuple[int, int]:
    """INVALIDATE_DEVTAB_ENTRY for a 16-bit DeviceID."""
    return (CommandCode.INVALIDATE_DEVTAB_ENTRY << 60) | (devid & 0xFFFF), 0


def invalidation_address(addr: int, size: int) -> tuple[int, bool]:
    """Address field and S bit covering ``[addr, addr + size)`` in one invalidation.

    The range is widened to the smallest naturally aligned power of two that holds it;
    with S=1 the size is encoded by the first zero address bit from bit 12 up (spec
    Table 14), a range of 2**51 bytes or more becomes "all pages" (Linux's
    ``CMD_INV_IOMMU_ALL_PAGES_ADDRESS``).

    Returns:
        ``(address field, S bit)``.
    """
    start = addr & ~(PAGE_SIZE - 1)
    end = max(addr + max(size, 1), start + 1)
    span = PAGE_SIZE
    while (start & ~(span - 1)) + span < end:
        span <<= 1
    if span == PAGE_SIZE:
        return start, False
    if span >= 1 << 51:
        return 0x7FFF_FFFF_FFFF_F000, True
    base = start & ~(span - 1)
    return base | ((span >> 1) - 1) & ~(PAGE_SIZE - 1), True


def decode_invalidation_range(addr: int, s: bool) -> tuple[int, int]:
    """``[lo, hi)`` an invalidation address covers (upstream amdvi_decode_invalidation_size)."""
    if not s:
        lo = addr & ~(PAGE_SIZE - 1)
        return lo, lo + PAGE_SIZE
    v = addr | (PAGE_SIZE - 1)
    fz = 0
    while v & 1:
        fz += 1
        v >>= 1
    if fz >= 51:
        return 0, ALL_PAGES
    size = 1 << (fz + 1)
    lo = addr & ~(size - 1)
    return lo, lo + size


def cmd_invalidate_iommu_pages(
    domain_id: int, addr: int = 0, size: int = PAGE_SIZE, pde: bool = True
) -> tuple[int, int]:
    """INVALIDATE_IOMMU_PAGES for a domain and a range (``size=ALL_PAGES`` for all)."""
    if size >= ALL_PAGES:
        field, s = 0x7FFF_FFFF_FFFF_F000, True
    else:
        field, s = invalidation_address(addr, size)
    qw0 = (CommandCode.INVALIDATE_IOMMU_PAGES << 60) | ((domain_id & 0xFFFF) << 32)
    return qw0, field | int(s) | (int(pde) << 1)


def cmd_invalidate_iotlb_pages(
    devid: int, addr: int = 0, size: int = PAGE_SIZE, max_pending: int = 0
) -> tuple[int, int]:
    """INVALIDATE_IOTLB_PAGES for a DeviceID (QEMU: S=1 drops every entry of the device)."""
    if size >= ALL_PAGES:
        field, s = 0x7FFF_FFFF_FFFF_F000, True
    else:
        field, s = invalidation_address(addr, size)
    qw0 = (CommandCode.INVALIDATE_IOTLB_PAGES << 60) | ((max_pending & 0xFF) << 24) | devid
    return qw0, field | int(s)


def cmd_invalidate_interrupt_table(devid: int) -> tuple[int, int]:
    """INVALIDATE_INTERRUPT_TABLE for a DeviceID."""
    return (CommandCode.INVALIDATE_INTERRUPT_TABLE << 60) | (devid & 0xFFFF), 0


def cmd_invalidate_all() -> tuple[int, int]:
    """INVALIDATE_IOMMU_ALL."""
    return CommandCode.INVALIDATE_IOMMU_ALL << 60, 0


@dataclass(frozen=True, slots=True)
class DecodedCommand:
    """A command buffer entry in plain words.

    Attributes:
        qw0: first quad.
        qw1: second quad.
        opcode: bits 63:60 of ``qw0``.
        name: the command's name, or ``ILLEGAL(0xN)``.
        fields: decoded operands.
        reserved: True when QEMU 7.2 would log ILLEGAL_COMMAND_ERROR for reserved bits.
    """

    qw0: int
    qw1: int
    opcode: int
    name: str
    fields: tuple[tuple[str, int], ...]
    reserved: bool

    def describe(self) -> str:
        """``COMPLETION_WAIT store=0x840000 data=0x1 S=1 I=0``."""
        parts = [self.name]
        for k, v in self.fields:
            parts.append(f"{k}={v:#x}" if v > 9 else f"{k}={v}")
        if self.reserved:
            parts.append("(reserved bits set)")
        return " ".join(parts)


def _bits(v: int, lo: int, n: int) -> int:
    return (v >> lo) & ((1 << n) - 1)


def decode_command(qw0: int, qw1: int) -> DecodedCommand:
    """Decode one 16-byte command with QEMU 7.2's field and reserved-bit checks."""
    op = qw0 >> 60
    f: tuple[tuple[str, int], ...]
    if op == CommandCode.COMPLETION_WAIT:
        f = (("store", _bits(qw0, 3, 49) << 3), ("data", qw1), ("S", qw0 & 1), ("I", qw0 >> 1 & 1))
        rsv = bool(_bits(qw0, 52, 8))
    elif op == CommandCode.INVALIDATE_DEVTAB_ENTRY:
        f = (("devid", qw0 & 0xFFFF),)
        rsv = bool(_bits(qw0, 16, 44) or qw1)
    elif op == CommandCode.INVALIDATE_IOMMU_PAGES:
        f = (
            ("domain", _bits(qw0, 32, 16)),
            ("addr", qw1 & ~0xFFF & U64),
            ("S", qw1 & 1),
            ("PDE", qw1 >> 1 & 1),
        )
        rsv = bool(_bits(qw0, 20, 12) or _bits(qw0, 48, 12) or _bits(qw1, 3, 9))
    elif op == CommandCode.INVALIDATE_IOTLB_PAGES:
        f = (("devid", qw0 & 0xFFFF), ("addr", qw1 & ~0xFFF & U64), ("S", qw1 & 1))
        rsv = bool(_bits(qw1, 1, 1) or _bits(qw1, 3, 1) or _bits(qw1, 6, 6))
    elif op == CommandCode.INVALIDATE_INTERRUPT_TABLE:
        f = (("devid", qw0 & 0xFFFF),)
        rsv = bool(_bits(qw0, 16, 44) or qw1)
    elif op == CommandCode.PREFETCH_IOMMU_PAGES:
        f = (("devid", qw0 & 0xFFFF), ("addr", qw1 & ~0xFFF & U64))
        rsv = bool(
            _bits(qw0, 16, 8)
            or _bits(qw0, 52, 8)
            or _bits(qw1, 1, 1)
            or _bits(qw1, 3, 1)
            or _bits(qw1, 5, 7)
        )
    elif op == CommandCode.COMPLETE_PPR_REQUEST:
        f = (("devid", qw0 & 0xFFFF),)
        rsv = bool(
            _bits(qw0, 16, 16)
            or _bits(qw0, 52, 8)
            or _bits(qw1, 0, 2)
            or _bits(qw1, 3, 29)
            or _bits(qw1, 48, 16)
        )
    elif op == CommandCode.INVALIDATE_IOMMU_ALL:
        f = ()
        rsv = bool(_bits(qw0, 0, 60) or qw1)
    else:
        return DecodedCommand(qw0, qw1, op, f"ILLEGAL({op:#x})", (), False)
    return DecodedCommand(qw0, qw1, op, CommandCode(op).name, f, rsv)


# -- events ------------------------------------------------------------------------------


def encode_event(code: int, devid: int, addr: int, flags: int = 0) -> tuple[int, int]:
    """An event log entry as QEMU encodes it: DeviceID 15:0, info (code << 12 | flags) in
    bits 63:48, address in the second quad (amdvi_encode_event)."""
    info = ((code << 12) | flags) & 0xFFFF
    return (devid & 0xFFFF) | (info << 48), addr & U64


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """An event log entry in plain words.

    Attributes:
        qw0: first quad.
        qw1: second quad (the address).
        code: event code (bits 63:60).
        name: event name, or ``UNKNOWN(0xN)``.
        devid: DeviceID (bits 15:0).
        flags: info bits 59:48 (IO_PAGE_FAULT: I = 0x8, requested permission in 1:0).
        address: the related address (IOVA, table entry or command address).
    """

    qw0: int
    qw1: int
    code: int
    name: str
    devid: int
    flags: int
    address: int

    def describe(self) -> str:
        """One line: ``IO_PAGE_FAULT devid 00:02.0 address 0x2000000 flags I,read``."""
        text = f"{self.name} devid {format_bdf(self.devid)} address {self.address:#x}"
        if self.code == EventCode.IO_PAGE_FAULT:
            words = ["I"] if self.flags & IOPF_I else []
            if self.flags & PERM_READ:
                words.append("read")
            if self.flags & PERM_WRITE:
                words.append("write")
            text += f" flags {','.join(words) or '0'}"
        elif self.code == EventCode.ILLEGAL_COMMAND_ERROR:
            text += f" opcode {self.flags & 0xF:#x}"
        elif self.flags:
            text += f" flags {self.flags:#x}"
        return text


def decode_event(qw0: int, qw1: int) -> DecodedEvent:
    """Decode one 16-byte event log entry."""
    code = qw0 >> 60
    try:
        name = EventCode(code).name
    except ValueError:
        name = f"UNKNOWN({code:#x})"
    return DecodedEvent(qw0, qw1, code, name, qw0 & 0xFFFF, (qw0 >> 48) & 0xFFF, qw1)
