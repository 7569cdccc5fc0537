"""AMD IOMMU conformance programs: ``-device amd-iommu -device edu`` on QEMU 7.2 and dmamon.

With ``amd-iommu`` first on the command line QEMU puts the IOMMU at 00:01.0 and edu at
00:02.0 (requester ID 0x10); the IOMMU's registers sit at 0xfed80000, outside any BAR.
The guest structures live in RAM at fixed addresses: device table ``DEVTAB`` (one 4 KiB
page, 128 entries), command buffer ``CMDBUF`` and event log ``EVTLOG`` (256 entries each
unless a program says otherwise), completion-wait stores in ``SEM``, and a three-level
I/O page table at ``TABLES`` that maps the 2 MiB of IOVA from ``IOVA`` page by page.

Programs that share a batch run back to back on one QEMU, and QEMU 7.2 cannot reset
the IOMMU from qtest, so each program starts with :func:`iommu_clean_slate`: translation
and the command buffer off, the structures rewritten, the IOTLB flushed with
INVALIDATE_IOMMU_ALL, and the IOMMU's Signaled Target Abort cleared.

Fix switches (``info fixes``) decide what dmamon does where QEMU 7.2 is buggy; every
program names those its replies depend on. ``QEMU_72`` turns all four off (7.2's
behaviour); the ``-on`` variants in :data:`SWITCHED` keep dmamon's default and are checked
on dmamon's side alone where they differ.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Sequence

from conformance_harness import Program
from conformance_programs import DMA_WAIT, cfg, dma

DEVICES = ("amd-iommu", "edu")
MMIO = 0xFED80000
IOMMU_CFG = 0x80000800  # 00:01.0
EDU_CFG = 0x80001000  # 00:02.0
EDU = 0xFE000000
EDU_DEVID = 0x10  # 00:02.0

CMDBUF = 0x200000
EVTLOG = 0x300000
DEVTAB = 0x400000
SEM = 0x500000
TABLES = 0x600000  # level 3 at +0, level 2 at +0x1000, level 1 at +0x2000
IOVA = 0x1000000  # level-3 index 0, level-2 index 8: the level-1 table maps 2 MiB from here
DATA = 0x2000000  # guest-physical pages the IOVAs map to

# MMIO register offsets (QEMU 7.2 amd_iommu.h AMDVI_MMIO_*)
DEVTAB_BASE, CMDBUF_BASE, EVTLOG_BASE, CONTROL = 0x00, 0x08, 0x10, 0x18
EXCL_BASE, EXCL_LIMIT, EXT_FEATURES, PPR_BASE = 0x20, 0x28, 0x30, 0x38
CMD_HEAD, CMD_TAIL, EVT_HEAD, EVT_TAIL, STATUS = 0x2000, 0x2008, 0x2010, 0x2018, 0x2020
PPR_HEAD, PPR_TAIL = 0x2030, 0x2038
REGISTERS = (
    DEVTAB_BASE, CMDBUF_BASE, EVTLOG_BASE, CONTROL, EXCL_BASE, EXCL_LIMIT, EXT_FEATURES,
    PPR_BASE, CMD_HEAD, CMD_TAIL, EVT_HEAD, EVT_TAIL, STATUS, 0x2028, PPR_HEAD, PPR_TAIL,
)  # fmt: skip
# Control bits
IOMMU_EN, EVENT_LOG_EN, EVENT_INT_EN, COM_WAIT_INT_EN, CMD_BUF_EN = 1, 4, 8, 0x10, 0x1000
RUNNING = IOMMU_EN | EVENT_LOG_EN | CMD_BUF_EN  # 0x1005

EVENT_LOG = "amdvi-event-log"
STATUS_W1C = "amdvi-status-w1c"
HEAD_WRAP = "amdvi-cmdbuf-head-wrap"
PAGE_WALK = "amdvi-page-walk"
QEMU_72 = {EVENT_LOG: False, STATUS_W1C: False, HEAD_WRAP: False, PAGE_WALK: False}

RANDOM_COUNT = int(os.environ.get("DMAMON_CONFORMANCE_AMDVI_RANDOM", "64"))
RANDOM_SEED = int(os.environ.get("DMAMON_CONFORMANCE_AMDVI_SEED", "7000"))


# --- encoders (AMD IOMMU spec 48882; the bit positions QEMU 7.2 reads) -------------------

PR = 1
IR_IW = 3 << 61
IR = 1 << 61
IW = 1 << 62


def pte(addr: int, next_level: int = 0, perm: int = IR_IW, present: bool = True) -> int:
    """A page table entry: Next Level in bits 11:9, address 51:12, IR/IW 61/62."""
    return (PR if present else 0) | next_level << 9 | addr | perm


def dte0(
    root: int = TABLES, mode: int = 3, perm: int = IR_IW, v: bool = True, tv: bool = True
) -> int:
    """Quad 0 of a device table entry: V, TV, Mode 11:9, root 51:12, IR/IW."""
    return int(v) | int(tv) << 1 | mode << 9 | root | perm


def completion_wait(store: int, data: int, s: bool = True, i: bool = False) -> tuple[int, int]:
    return 1 << 60 | store | int(s) | int(i) << 1, data


def le(*qwords: int) -> str:
    """A qtest ``read`` reply for little-endian quadwords."""
    return "OK 0x" + "".join(q.to_bytes(8, "little").hex() for q in qwords)


# --- building blocks -----------------------------------------------------------------------


def w(off: int, value: int, width: str = "writeq") -> str:
    return f"{width} {MMIO + off:#x} {value:#x}"


def r(off: int, width: str = "readq") -> str:
    return f"{width} {MMIO + off:#x}"


def wq(addr: int, value: int) -> str:
    return f"writeq {addr:#x} {value:#x}"


def cfg_status(devfn_addr: int) -> tuple[str, ...]:
    """Read a function's COMMAND/STATUS dword."""
    return (cfg(devfn_addr, 0x04), "inl 0xcfc")


def edu_on(command: int = 0x0006) -> tuple[str, ...]:
    """edu's BAR0 at EDU and its COMMAND (default MEMORY | MASTER)."""
    return (
        cfg(EDU_CFG, 0x10),
        f"outl 0xcfc {EDU:#x}",
        cfg(EDU_CFG, 0x04),
        f"outw 0xcfc {command:#06x}",
    )


def iommu_clean_slate(cmd_len: int = 8, evt_len: int = 8) -> tuple[str, ...]:
    """Translation and commands off, empty structures, an empty IOTLB, status bit clear.

    The base writes are 8 bytes (QEMU only takes a base from a full or upper-half write)
    and reset QEMU's internal head and tail; the head/tail registers are written while
    CmdBufEn is clear, so nothing runs. INVALIDATE_IOMMU_ALL then empties the IOTLB, which
    outlives everything else in QEMU. Signaled Target Abort is write-1-to-clear.
    """
    return (
        w(CONTROL, 0),
        w(STATUS, 0x67),  # W1C bits, where the switch lets the write through
        f"memset {CMDBUF:#x} {16 << cmd_len:#x} 0",
        f"memset {EVTLOG:#x} {16 << evt_len:#x} 0",
        f"memset {DEVTAB:#x} 0x1000 0",
        f"memset {SEM:#x} 0x100 0",
        w(DEVTAB_BASE, DEVTAB),
        w(CMDBUF_BASE, CMDBUF | cmd_len << 56),
        w(EVTLOG_BASE, EVTLOG | evt_len << 56),
        w(CMD_HEAD, 0),
        w(CMD_TAIL, 0),
        w(EVT_HEAD, 0),
        w(EVT_TAIL, 0),
        wq(CMDBUF, 8 << 60),  # INVALIDATE_IOMMU_ALL
        wq(CMDBUF + 8, 0),
        w(CONTROL, IOMMU_EN | CMD_BUF_EN),
        w(CMD_TAIL, 0x10),
        w(CONTROL, 0),
        w(CMD_HEAD, 0),
        w(CMD_TAIL, 0),
        cfg(IOMMU_CFG, 0x04),
        "outl 0xcfc 0x08000000",
    )


def commands(start: int, cmds: Sequence[tuple[int, int]]) -> tuple[str, ...]:
    """Write commands from entry ``start`` and move the tail past them (they run now if
    the command buffer is enabled)."""
    lines = []
    for k, (q0, q1) in enumerate(cmds):
        at = CMDBUF + (start + k) * 16
        lines += [wq(at, q0), wq(at + 8, q1)]
    lines.append(w(CMD_TAIL, (start + len(cmds)) * 16))
    return tuple(lines)


def dte(devid: int, q0: int, domain: int = 1, q2: int = 0) -> tuple[str, ...]:
    at = DEVTAB + devid * 32
    return (wq(at, q0), wq(at + 8, domain), wq(at + 16, q2), wq(at + 24, 0))


def page_tables(leaves: dict[int, int]) -> tuple[str, ...]:
    """The three-level table at TABLES; ``leaves`` maps page index (IOVA + 4 KiB * i) to
    its level-1 entry."""
    lines = [
        f"memset {TABLES:#x} 0x3000 0",
        wq(TABLES, pte(TABLES + 0x1000, 2)),
        wq(TABLES + 0x1000 + 8 * 8, pte(TABLES + 0x2000, 1)),
    ]
    for i, entry in sorted(leaves.items()):
        lines.append(wq(TABLES + 0x2000 + 8 * i, entry))
    return tuple(lines)


def translated(
    leaves: dict[int, int], dte_q0: int | None = None, control: int = RUNNING
) -> list[str]:
    """Clean slate, edu on, page tables, edu's DTE, translation on."""
    return [
        *iommu_clean_slate(),
        *edu_on(),
        *page_tables(leaves),
        *dte(EDU_DEVID, dte0() if dte_q0 is None else dte_q0),
        w(CONTROL, control),
    ]


def to_buffer(src: int, count: int = 16, buf: int = 0x40000) -> tuple[str, ...]:
    """edu DMA ``src`` -> its buffer, and the wait for it."""
    return (*dma(src, buf, count, 1), DMA_WAIT)


def from_buffer(dst: int, count: int = 16, buf: int = 0x40000) -> tuple[str, ...]:
    """edu DMA its buffer -> ``dst``, and the wait for it."""
    return (*dma(buf, dst, count, 3), DMA_WAIT)


# --- registers -----------------------------------------------------------------------------


def reset_registers_program() -> Program:
    """Every register and the PCI identity right after QEMU starts (a process of its own:
    nothing may have run before)."""
    lines: list[str] = []
    for off in REGISTERS:
        lines.append(r(off))
    for off in (0x40, 0x48, 0x1000, 0x1FF8, 0x2040, 0x2048, 0x3FF8):
        lines.append(r(off))  # nothing there
    for reg in range(0, 0x70, 4):
        lines += [cfg(IOMMU_CFG, reg), "inl 0xcfc"]
    lines += [cfg(EDU_CFG, 0), "inl 0xcfc"]  # edu is 00:02.0
    lines += [cfg(0x80001800, 0), "inl 0xcfc"]  # and 00:03.0 is empty
    return Program("amdvi-registers-after-reset", tuple(lines), DEVICES, solo=True)


def register_write_programs() -> list[Program]:
    """Write/read-back of the base, length, control and pointer registers."""
    base = [*iommu_clean_slate()]
    for off in (DEVTAB_BASE, CMDBUF_BASE, EVTLOG_BASE, EXCL_LIMIT, PPR_BASE):
        for value in (0xFFFFFFFFFFFFFFFF, 0x0F00_0000_1234_5000, 0x0123_4567_89AB_CDEF, 0):
            base += [w(off, value), r(off), r(off, "readl"), r(off + 4, "readl")]
    base += [w(DEVTAB_BASE, DEVTAB | 0x1FF), r(DEVTAB_BASE)]  # the Size field (11:0) too
    base += [w(CMDBUF_BASE, CMDBUF | 0xF << 56), r(CMDBUF_BASE)]  # ComLen 15: 32768 entries
    base += [w(EVTLOG_BASE, EVTLOG | 1 << 56), r(EVTLOG_BASE)]  # EventLen 1: 2 entries

    control = [*iommu_clean_slate()]
    # Every bit but CmdBufEn (which would run the command buffer): stored as written, and
    # the run bits in Status follow IommuEn, EventLogEn and CmdBufEn.
    for value in (
        0xFFFF_FFFF_FFFF_EFFF,
        0xFFFF_FFFF_FFFF_EFFE,
        EVENT_LOG_EN,
        IOMMU_EN | EVENT_LOG_EN,
        IOMMU_EN | CMD_BUF_EN,
        CMD_BUF_EN,
        RUNNING,
        RUNNING | EVENT_INT_EN | COM_WAIT_INT_EN | 1 << 17,
        0,
    ):
        control += [w(CONTROL, value), r(CONTROL), r(STATUS)]
    control += [w(CONTROL, RUNNING, "writel"), r(STATUS), w(CONTROL, 0, "writew"), r(STATUS)]
    control += [w(CONTROL, 0xFFFF, "writeb"), r(CONTROL), r(STATUS)]  # 1-byte: not stored
    control += [w(CONTROL, 0)]

    pointers = [*iommu_clean_slate()]
    for off in (EVT_HEAD, EVT_TAIL, PPR_HEAD, PPR_TAIL):
        for value in (0xFFFFFFFFFFFFFFFF, 0x7FFF0, 0x12345, 0):
            pointers += [w(off, value), r(off)]
    # head and tail of the command buffer, while it is off: stored as written
    for off in (CMD_HEAD, CMD_TAIL):
        for value in (0xFFFFFFFFFFFFFFF0, 0x1230, 0):
            pointers += [w(off, value), r(off)]

    read_only = [*iommu_clean_slate()]
    for off in (EXCL_BASE, EXT_FEATURES, 0x2028, 0x40, 0x2040, 0x3FF8):
        for width in ("writeq", "writel", "writew"):
            read_only += [w(off, 0xFFFFFFFFFFFFFFFF, width), r(off)]

    # QEMU 7.2 keeps the event log head and tail when the base is written; upstream (fix
    # amdvi-event-log) resets both. Status: 7.2 ignores writes (fix amdvi-status-w1c).
    evtlog_base = [
        *iommu_clean_slate(),
        w(EVT_HEAD, 0x40),
        w(EVT_TAIL, 0x1230),
        w(EVTLOG_BASE, EVTLOG | 8 << 56),
        r(EVT_HEAD),
        r(EVT_TAIL),
        w(EVT_TAIL, 0),
        w(EVT_HEAD, 0),
    ]
    status = [
        *iommu_clean_slate(),
        r(STATUS),
        w(STATUS, 0xFFFFFFFFFFFFFFFF),
        r(STATUS),
        w(CONTROL, RUNNING),
        r(STATUS),
        w(STATUS, 0xFFFFFFFFFFFFFFFF),
        r(STATUS),
        w(STATUS, 0),
        r(STATUS),
        w(CONTROL, 0),
        r(STATUS),
    ]
    return [
        Program("amdvi-base-registers-read-back", tuple(base), DEVICES),
        Program("amdvi-control-and-run-bits", tuple(control), DEVICES),
        Program("amdvi-head-and-tail-registers", tuple(pointers), DEVICES),
        Program("amdvi-read-only-registers-ignore-writes", tuple(read_only), DEVICES),
        *switched("amdvi-evtlog-base-write-keeps-head-and-tail", evtlog_base, EVENT_LOG),
        *switched("amdvi-status-writes", status, STATUS_W1C),
    ]


def access_size_program() -> Program:
    """Reads of 1, 2, 4 and 8 bytes everywhere in a register, unaligned ones (QEMU splits
    them at their alignment), and partial writes."""
    lines = [*iommu_clean_slate(), w(EXCL_LIMIT, 0x1122334455667788)]
    for off in (EXCL_LIMIT, EXT_FEATURES, CONTROL):
        for k in range(8):
            lines += [r(off + k, "readb"), r(off + k, "readw"), r(off + k, "readl")]
            lines.append(r(off + k, "readq"))
    lines += [f"read {MMIO + EXCL_LIMIT:#x} 16", f"b64read {MMIO + EXT_FEATURES:#x} 8"]
    # partial writes land in the stored register at their own offset
    lines += [w(EXCL_LIMIT, 0xAAAA, "writew"), r(EXCL_LIMIT)]
    lines += [w(EXCL_LIMIT + 2, 0xBBBB, "writew"), r(EXCL_LIMIT)]
    lines += [w(EXCL_LIMIT + 6, 0xCCCC, "writew"), r(EXCL_LIMIT)]
    lines += [w(EXCL_LIMIT + 4, 0xDDDDDDDD, "writel"), r(EXCL_LIMIT)]
    lines += [w(EXCL_LIMIT, 0xEEEEEEEE, "writel"), r(EXCL_LIMIT)]
    lines += [w(EXCL_LIMIT + 3, 0xFF, "writeb"), r(EXCL_LIMIT)]
    lines += [w(EXCL_LIMIT + 1, 0x1234, "writew"), r(EXCL_LIMIT)]  # unaligned: split in bytes
    lines += [w(EXCL_LIMIT + 4, 0x0102030405060708), r(EXCL_LIMIT), r(EXT_FEATURES)]
    lines += [w(PPR_BASE + 2, 0xA1B2C3D4, "writel"), r(PPR_BASE)]
    lines += [f"write {MMIO + PPR_BASE:#x} 8 0x0011223344556677", r(PPR_BASE)]
    lines += [f"b64write {MMIO + EXCL_LIMIT:#x} 4 AQIDBA==", r(EXCL_LIMIT)]
    lines += [w(EXCL_LIMIT, 0), w(PPR_BASE, 0)]
    return Program("amdvi-access-sizes", tuple(lines), DEVICES)


# --- command buffer ------------------------------------------------------------------------


def command_programs() -> list[Program]:
    store = [
        *iommu_clean_slate(),
        w(CONTROL, RUNNING),
        r(CMD_HEAD),
        *commands(0, [completion_wait(SEM, 0x1122334455667788)]),
        r(CMD_HEAD),
        r(CMD_TAIL),
        f"read {SEM:#x} 16",
        *commands(1, [completion_wait(SEM + 8, 0xAABBCCDD), completion_wait(SEM + 0x10, 7)]),
        r(CMD_HEAD),
        f"read {SEM:#x} 24",
        *commands(3, [completion_wait(SEM + 0x20, 5, s=False)]),  # S=0: no store
        r(CMD_HEAD),
        f"read {SEM + 0x20:#x} 8",
        # store bits 51:3: bits 2:0 of the address are the S and I flags
        *commands(4, [(1 << 60 | SEM + 0x30 | 1 | 4, 0x99)]),
        f"read {SEM + 0x30:#x} 8",
        r(STATUS),
        w(CONTROL, 0),
    ]
    # I=1 sets ComWaitInt (whatever ComWaitIntEn says; no MSI: MSI is not enabled).
    interrupt = [
        *iommu_clean_slate(),
        w(CONTROL, RUNNING),
        *commands(0, [completion_wait(SEM, 0x5A, i=True)]),
        r(STATUS),
        f"read {SEM:#x} 8",
        w(STATUS, 4),
        r(STATUS),
        *commands(1, [completion_wait(0, 0, s=False, i=True)]),
        r(STATUS),
        w(CONTROL, 0),
        r(STATUS),
    ]
    accepted = [
        *iommu_clean_slate(),
        w(CONTROL, RUNNING),
        *commands(
            0,
            [
                (2 << 60 | EDU_DEVID, 0),  # INVALIDATE_DEVTAB_ENTRY
                (3 << 60 | 1 << 32, 0x7FFFFFFFFFFFF000 | 3),  # INVALIDATE_IOMMU_PAGES, all
                (3 << 60 | 5 << 32, IOVA),  # one page of domain 5
                (4 << 60 | EDU_DEVID, IOVA),  # INVALIDATE_IOTLB_PAGES
                (4 << 60 | EDU_DEVID, 0x7FFFFFFFFFFFF000 | 1),
                (5 << 60 | EDU_DEVID, 0),  # INVALIDATE_INTERRUPT_TABLE
                (6 << 60 | EDU_DEVID, IOVA),  # PREFETCH_IOMMU_PAGES
                (7 << 60 | EDU_DEVID, 0),  # COMPLETE_PPR_REQUEST
                (8 << 60, 0),  # INVALIDATE_IOMMU_ALL
                completion_wait(SEM, 0xD0E),
            ],
        ),
        r(CMD_HEAD),
        f"read {SEM:#x} 8",
        r(STATUS),
        r(EVT_TAIL),
        *cfg_status(IOMMU_CFG),
        w(CONTROL, 0),
    ]
    # QEMU 7.2 runs past an unknown opcode (logging ILLEGAL_COMMAND_ERROR, which 7.2 drops:
    # fix amdvi-event-log) and a COMPLETION_WAIT with reserved bits still stores.
    illegal = [
        *iommu_clean_slate(),
        w(CONTROL, RUNNING),
        *commands(
            0,
            [
                (0, 0),  # opcode 0
                (9 << 60, 9 << 60),  # opcode 9 (QEMU 7.2 logs qword 1's type)
                (0xF << 60 | 0xFFFF, 0),
                (1 << 60 | 0xF << 52 | SEM | 1, 0x77),  # COMPLETION_WAIT, reserved 59:52
                (8 << 60 | 1, 0),  # INVALIDATE_IOMMU_ALL with a reserved bit
                completion_wait(SEM + 8, 0xE4D),
            ],
        ),
        r(CMD_HEAD),
        f"read {SEM:#x} 16",
        r(STATUS),
        r(EVT_TAIL),
        f"read {EVTLOG:#x} 80",
        *cfg_status(IOMMU_CFG),
        w(CONTROL, 0),
    ]
    # The tail moves while CmdBufEn is clear: nothing runs until it is set.
    disabled = [
        *iommu_clean_slate(),
        w(CONTROL, IOMMU_EN),
        *commands(0, [completion_wait(SEM, 1), completion_wait(SEM + 8, 2)]),
        r(CMD_HEAD),
        f"read {SEM:#x} 16",
        w(CONTROL, CMD_BUF_EN),  # CmdBufEn without IommuEn: still nothing
        r(CMD_HEAD),
        r(STATUS),
        f"read {SEM:#x} 16",
        w(CONTROL, IOMMU_EN | CMD_BUF_EN),
        r(CMD_HEAD),
        r(STATUS),
        f"read {SEM:#x} 16",
        w(CONTROL, 0),
    ]
    # Writing the base restarts QEMU's internal head and tail at 0 (the registers keep
    # their values); the head register written by the guest is where the IOMMU resumes.
    rebase = [
        *iommu_clean_slate(),
        w(CONTROL, RUNNING),
        *commands(0, [completion_wait(SEM, 1), completion_wait(SEM + 8, 2)]),
        w(CONTROL, 0),
        w(CMDBUF_BASE, CMDBUF | 8 << 56),
        r(CMD_HEAD),
        r(CMD_TAIL),
        wq(CMDBUF, completion_wait(SEM + 0x10, 3)[0]),
        wq(CMDBUF + 8, 3),
        w(CONTROL, RUNNING),
        w(CMD_TAIL, 0x10),
        r(CMD_HEAD),
        f"read {SEM:#x} 24",
        w(CONTROL, 0),
        w(CMD_HEAD, 0x40),
        *commands(4, [completion_wait(SEM + 0x18, 4)]),
        w(CONTROL, RUNNING),
        r(CMD_HEAD),
        f"read {SEM + 0x18:#x} 8",
        w(CONTROL, 0),
    ]
    # A two-entry buffer (ComLen 1): QEMU 7.2 publishes the head as 0x20 after the last
    # entry (then wraps internally); upstream wraps first (fix amdvi-cmdbuf-head-wrap).
    wrap = [
        *iommu_clean_slate(cmd_len=1),
        w(CONTROL, RUNNING),
        *commands(0, [completion_wait(SEM, 1)]),
        r(CMD_HEAD),
        wq(CMDBUF + 0x10, completion_wait(SEM + 8, 2)[0]),
        wq(CMDBUF + 0x18, 2),
        w(CMD_TAIL, 0),
        r(CMD_HEAD),
        f"read {SEM:#x} 16",
        wq(CMDBUF, completion_wait(SEM + 0x10, 3)[0]),
        wq(CMDBUF + 8, 3),
        w(CMD_TAIL, 0x10),
        r(CMD_HEAD),
        f"read {SEM + 0x10:#x} 8",
        w(CONTROL, 0),
    ]
    # With MSI enabled in the IOMMU's capability, ComWaitInt sends the message through
    # system memory: pointed at RAM, it is a plain 4-byte store of the data.
    msi = [
        *iommu_clean_slate(),
        cfg(IOMMU_CFG, 0x64),
        f"outl 0xcfc {SEM + 0x80:#x}",
        cfg(IOMMU_CFG, 0x68),
        "outl 0xcfc 0",
        cfg(IOMMU_CFG, 0x6C),
        "outl 0xcfc 0xfedc4321",
        cfg(IOMMU_CFG, 0x60),
        "outw 0xcfe 0x0081",
        "inl 0xcfc",
        w(CONTROL, RUNNING),
        *commands(0, [completion_wait(SEM, 0x1, i=True)]),
        f"read {SEM:#x} 8",
        f"read {SEM + 0x80:#x} 8",
        *commands(1, [completion_wait(SEM + 8, 0x2)]),  # I=0: no message
        f"memset {SEM + 0x80:#x} 4 0",
        *commands(2, [completion_wait(SEM + 0x10, 0x3, s=False, i=True)]),
        f"read {SEM:#x} 24",
        f"read {SEM + 0x80:#x} 8",
        cfg(IOMMU_CFG, 0x60),
        "outw 0xcfe 0x0080",
        *commands(3, [completion_wait(SEM + 0x18, 0x4, i=True)]),  # MSI off again
        f"memset {SEM + 0x80:#x} 4 0",
        f"read {SEM + 0x80:#x} 8",
        w(CONTROL, 0),
    ]
    # The guest moves the head while the buffer runs: the IOMMU goes on from there, round
    # the (four-entry) buffer to the tail, so entry 0 runs twice and 1 and 2 never.
    head_write = [
        *iommu_clean_slate(cmd_len=2),
        *commands(0, [completion_wait(SEM + 8 * k, k + 1) for k in range(4)]),
        w(CMD_TAIL, 0),
        w(CONTROL, RUNNING),
        w(CMD_TAIL, 0x10),
        r(CMD_HEAD),
        wq(CMDBUF + 8, 5),
        w(CMD_HEAD, 0x30),
        r(CMD_HEAD),
        r(CMD_TAIL),
        f"read {SEM:#x} 32",
        w(CONTROL, 0),
    ]
    return [
        Program("amdvi-completion-wait-stores", tuple(store), DEVICES),
        Program("amdvi-command-head-written-while-running", tuple(head_write), DEVICES),
        Program("amdvi-completion-wait-msi", tuple(msi), DEVICES, fixes={STATUS_W1C: False}),
        *switched("amdvi-completion-wait-interrupt-status", interrupt, STATUS_W1C),
        Program(
            "amdvi-invalidate-commands-accepted",
            tuple(accepted),
            DEVICES,
            fixes={EVENT_LOG: False},
        ),
        *switched("amdvi-illegal-commands", illegal, EVENT_LOG),
        Program("amdvi-commands-wait-for-cmdbufen", tuple(disabled), DEVICES),
        Program("amdvi-command-base-write-restarts-head", tuple(rebase), DEVICES),
        *switched("amdvi-command-head-wrap", wrap, HEAD_WRAP),
    ]


# --- DMA through the device table and page tables ------------------------------------------


def dma_programs() -> list[Program]:
    """edu DMA through a three-level table: IOVA + 4 KiB * i maps DATA + 4 KiB * i."""
    rw = {0: pte(DATA), 1: pte(DATA + 0x1000)}
    both_ways = [
        *translated(rw),
        f"memset {DATA:#x} 0x2000 0x11",
        f"write {DATA:#x} 8 0x0102030405060708",
        *to_buffer(IOVA),
        f"readq {EDU + 0x98:#x}",
        *from_buffer(IOVA + 0x1100),
        f"read {DATA + 0x1100:#x} 16",
        f"read {IOVA + 0x1100:#x} 16",  # the IOVA itself is untouched RAM
        *cfg_status(IOMMU_CFG),
        w(CONTROL, 0),
    ]
    # Bus mastering off: edu's DMA reaches nothing (before the IOMMU is asked).
    no_master = [
        *translated(rw),
        f"memset {DATA:#x} 0x2000 0x22",
        *edu_on(0x0002),
        *from_buffer(IOVA + 0x200),
        f"read {DATA + 0x200:#x} 8",
        *edu_on(),
        w(CONTROL, 0),
    ]
    # IommuEn clear: DMA is untranslated even with a valid DTE.
    passthrough = [
        *translated(rw, control=0),
        f"memset {DATA:#x} 0x2000 0x33",
        f"memset {IOVA:#x} 0x100 0x44",
        *to_buffer(IOVA),
        *from_buffer(DATA + 0x300),
        f"read {DATA + 0x300:#x} 16",
    ]
    # DTE[V]=0: QEMU does not translate the device.
    v0 = [
        *translated(rw, dte_q0=dte0(v=False)),
        f"memset {DATA:#x} 0x2000 0x55",
        f"memset {IOVA:#x} 0x100 0x66",
        *to_buffer(IOVA),
        *from_buffer(IOVA + 0x400),
        f"read {IOVA + 0x400:#x} 16",
        f"read {DATA + 0x400:#x} 16",
        w(CONTROL, 0),
    ]
    # A level-2 leaf maps 2 MiB: IOVA 0x1200000 + x -> 0x2200000 + x.
    two_mib = [
        *translated(rw),
        wq(TABLES + 0x1000 + 9 * 8, pte(0x2200000)),
        f"memset {0x2234560:#x} 0x10 0x88",
        *to_buffer(0x1234560),
        *from_buffer(0x13FF000),
        f"read {0x23FF000:#x} 16",
        w(CONTROL, 0),
    ]
    # QEMU caches translations per (DeviceID, page): a changed leaf is not seen until the
    # domain is invalidated.
    stale = [
        *translated(rw),
        f"memset {DATA:#x} 0x4000 0x99",
        *from_buffer(IOVA + 0x600),
        wq(TABLES + 0x2000, pte(DATA + 0x3000)),
        *from_buffer(IOVA + 0x610),  # the old page still
        f"read {DATA + 0x600:#x} 32",
        f"read {DATA + 0x3600:#x} 32",
        *commands(0, [(3 << 60 | 1 << 32, IOVA), completion_wait(SEM, 0x1)]),
        *from_buffer(IOVA + 0x620),  # now the new one
        f"read {DATA + 0x620:#x} 16",
        f"read {DATA + 0x3620:#x} 16",
        f"read {SEM:#x} 8",
        w(CONTROL, 0),
    ]
    # INVALIDATE_IOTLB_PAGES of another device or page keeps the entry; of this one drops it.
    iotlb_pages = [
        *translated(rw),
        f"memset {DATA:#x} 0x4000 0xab",
        *from_buffer(IOVA + 0x700),
        wq(TABLES + 0x2000, pte(DATA + 0x2000)),
        *commands(0, [(4 << 60 | 0x18, IOVA), (4 << 60 | EDU_DEVID, IOVA + 0x1000)]),
        *from_buffer(IOVA + 0x710),
        *commands(2, [(4 << 60 | EDU_DEVID, IOVA)]),
        *from_buffer(IOVA + 0x720),
        f"read {DATA + 0x700:#x} 48",
        f"read {DATA + 0x2700:#x} 48",
        w(CONTROL, 0),
    ]
    return [
        Program("amdvi-dma-translated-both-ways", tuple(both_ways), DEVICES),
        Program("amdvi-dma-without-bus-mastering", tuple(no_master), DEVICES),
        Program("amdvi-dma-with-translation-off", tuple(passthrough), DEVICES),
        Program("amdvi-dma-dte-not-valid-passes-through", tuple(v0), DEVICES),
        Program("amdvi-dma-2mib-page", tuple(two_mib), DEVICES),
        Program("amdvi-dma-stale-iotlb-until-invalidated", tuple(stale), DEVICES),
        Program("amdvi-dma-invalidate-iotlb-pages", tuple(iotlb_pages), DEVICES),
        *more_dma_programs(),
        *walk_programs(),
    ]


def more_dma_programs() -> list[Program]:
    """Transfers that cross pages, other table shapes, and tables QEMU cannot read."""
    # IOVA pages 0 and 1 map to DATA + 0x3000 and DATA + 0x1000: a transfer across the
    # page boundary is split between them. Page 2 is a zero entry: half a transfer lands
    # (a read gets zeros for the rest). QEMU 7.2 stops at the zero entry silently; the
    # spec's walk (fix amdvi-page-walk) reports it.
    split = {0: pte(DATA + 0x3000), 1: pte(DATA + 0x1000), 3: pte(DATA + 0x2000)}
    across = [
        *translated(split),
        f"memset {DATA:#x} 0x4000 0x5c",
        f"write {DATA + 0x3FF8:#x} 8 0x0102030405060708",
        f"write {DATA + 0x1000:#x} 8 0x1112131415161718",
        *to_buffer(IOVA + 0xFF8),
        *from_buffer(IOVA + 0x3800),
        f"read {DATA + 0x2800:#x} 16",
        *from_buffer(IOVA + 0x3FF8),  # page 3, then nothing at page 4
        f"read {DATA + 0x2FF8:#x} 16",
        *to_buffer(IOVA + 0x1FF8, 16, 0x40100),  # page 1, then the zero page 2
        *from_buffer(IOVA + 0x3000, 16, 0x40100),
        f"read {DATA + 0x2000:#x} 16",
        *cfg_status(IOMMU_CFG),
        w(CONTROL, 0),
    ]
    # A one-level table (Mode 1), a four-level one (Mode 4) over the same tables, and a
    # Next Level 7 entry in the level-2 table for a 4 MiB page (address bit 21 clear: the
    # first zero bit from 12 up is 21), repeated in both level-2 slots it covers.
    big = 0x2400000
    shapes = [
        *translated({0: pte(DATA), 1: pte(DATA + 0x1000)}, dte_q0=dte0(TABLES + 0x2000, mode=1)),
        f"memset {DATA:#x} 0x2000 0x6a",
        f"write {DATA + 0x20:#x} 4 0xa1a2a3a4",
        f"memset {big:#x} 0x400000 0x6b",
        *to_buffer(0x20),  # Mode 1: IOVA bits 20:12 index the table
        *from_buffer(0x1010),
        f"read {DATA + 0x1010:#x} 16",
        *dte(EDU_DEVID, dte0(TABLES + 0x3000, mode=4)),
        f"memset {TABLES + 0x3000:#x} 0x1000 0",
        wq(TABLES + 0x3000, pte(TABLES, 3)),
        wq(TABLES + 0x1000 + 8 * 10, pte(big | 0x1FF000, 7)),
        wq(TABLES + 0x1000 + 8 * 11, pte(big | 0x1FF000, 7)),
        *commands(0, [(8 << 60, 0)]),
        *from_buffer(IOVA + 0x1030),
        f"read {DATA + 0x1030:#x} 16",
        *from_buffer(0x1400000 + 0x234560),  # level-2 slot 11: offset 0x234560 of the page
        *from_buffer(0x1400000 + 0x3FFFF0),
        f"read {big + 0x234560:#x} 16",
        f"read {big + 0x3FFFF0:#x} 16",
        w(CONTROL, 0),
    ]
    # The IOTLB outlives a DTE change (INVALIDATE_DEVTAB_ENTRY flushes nothing in QEMU)
    # and translation being switched off and on; INVALIDATE_IOMMU_PAGES of another domain
    # keeps it, of the domain the entry was made in drops it. The new DTE (domain 2)
    # points at a second table mapping IOVA + 4 KiB * i to DATA + 0x2000 + 4 KiB * i.
    second = TABLES + 0x3000
    dte_change = [
        *translated({0: pte(DATA), 1: pte(DATA + 0x1000)}),
        f"memset {second:#x} 0x3000 0",
        wq(second, pte(second + 0x1000, 2)),
        wq(second + 0x1000 + 8 * 8, pte(second + 0x2000, 1)),
        wq(second + 0x2000, pte(DATA + 0x2000)),
        wq(second + 0x2008, pte(DATA + 0x3000)),
        f"memset {DATA:#x} 0x4000 0x7e",
        f"write {DATA:#x} 4 0xb1b2b3b4",
        *to_buffer(IOVA),  # caches page 0
        *dte(EDU_DEVID, dte0(second), domain=2),
        *commands(0, [(2 << 60 | EDU_DEVID, 0)]),
        w(CONTROL, 0),
        w(CONTROL, RUNNING),
        *from_buffer(IOVA + 0x110),  # cached: DATA
        *from_buffer(IOVA + 0x1110),  # not cached: the new table, DATA + 0x3000
        *commands(1, [(3 << 60 | 2 << 32, IOVA | 1)]),  # domain 2: not the entry's
        *from_buffer(IOVA + 0x120),
        *commands(2, [(3 << 60 | 1 << 32, IOVA | 1)]),  # domain 1: dropped
        *from_buffer(IOVA + 0x130),
        f"read {DATA + 0x100:#x} 64",
        f"read {DATA + 0x2100:#x} 64",
        f"read {DATA + 0x1110:#x} 16",
        f"read {DATA + 0x3110:#x} 16",
        *cfg_status(IOMMU_CFG),
        w(CONTROL, 0),
    ]
    # DTE reserved bits: 7.2.22 checks the masks of the 2025 stable fix (quad 0 bits 6:2
    # and 63, quad 2 bits 53:52, quad 3 bits 14:0 and 53:48), not 7.2.0's. A refused DTE
    # (ILLEGAL_DEV_TABLE_ENTRY) fails the transfer; the IOTLB is flushed before each.
    reserved = [*translated({0: pte(DATA)}), f"memset {DATA:#x} 0x1000 0x8f"]
    reserved += to_buffer(IOVA + 0x800)  # buffer: 0x8f
    cases = [
        (dte0() | 1 << 7, 1, 0, 0),  # 7.2.0 refused these three, 7.2.22 does not
        (dte0() | 1 << 52, 1, 0, 0),
        (dte0(), 1 | 1 << 8, 0, 0),
        (dte0() | 1 << 2, 1, 0, 0),  # refused
        (dte0() | 1 << 63, 1, 0, 0),
        (dte0(), 1, 1 << 52, 0),
        (dte0(), 1, 0, 1 << 20),  # accepted
        (dte0(), 1, 0, 1 << 48),  # refused
    ]
    reserved.append(f"memset {DATA:#x} 0x100 0")
    for k, quads in enumerate(cases):
        at = DEVTAB + EDU_DEVID * 32
        reserved += [wq(at + 8 * i, q) for i, q in enumerate(quads)]
        reserved += [*commands(k, [(8 << 60, 0)]), *from_buffer(IOVA + 0x10 * k)]
    reserved += [f"read {DATA:#x} {0x10 * len(cases):#x}", *cfg_status(IOMMU_CFG), w(CONTROL, 0)]
    # Tables QEMU cannot read: a page table and a device table in unassigned memory (the
    # PCI hole at 0xf0000000). A failed read ends the walk: PAGE_TAB_HW_ERROR and
    # DEV_TAB_HW_ERROR, with Signaled Target Abort. And a DTE with the invalid Mode 7.
    unreadable = [
        *translated({0: pte(DATA)}),
        f"memset {DATA:#x} 0x1000 0x9e",
        *to_buffer(IOVA + 0x800),
        f"memset {DATA:#x} 0x100 0",
        "readq 0xf0000000",
        *dte(EDU_DEVID, dte0(root=0xF0000000)),
        *commands(0, [(8 << 60, 0)]),
        *from_buffer(IOVA + 0x10),
        *cfg_status(IOMMU_CFG),
        "outl 0xcfc 0x08000000",
        *dte(EDU_DEVID, dte0()),
        w(DEVTAB_BASE, 0xF0000000),
        *from_buffer(IOVA + 0x20),
        *cfg_status(IOMMU_CFG),
        "outl 0xcfc 0x08000000",
        w(DEVTAB_BASE, DEVTAB),
        *dte(EDU_DEVID, dte0(mode=7)),  # Mode 7 is invalid: no translation, no event
        *from_buffer(IOVA + 0x40),
        *cfg_status(IOMMU_CFG),
        *dte(EDU_DEVID, dte0()),
        *from_buffer(IOVA + 0x30),  # the device table is back
        f"read {DATA:#x} 64",
        w(CONTROL, 0),
    ]
    return [
        *switched("amdvi-dma-across-pages", across, PAGE_WALK),
        Program("amdvi-dma-table-shapes", tuple(shapes), DEVICES),
        Program("amdvi-dma-iotlb-outlives-dte-changes", tuple(dte_change), DEVICES),
        Program("amdvi-dma-reserved-dte-bits", tuple(reserved), DEVICES),
        Program("amdvi-dma-unreadable-tables", tuple(unreadable), DEVICES),
    ]


def walk_programs() -> list[Program]:
    """Where QEMU 7.2's page walk differs from the specification (fix amdvi-page-walk):
    a write through a Mode 0 DTE without IW, a zero leaf, a read-only leaf, a non-present
    leaf, DTE[TV]=0."""
    leaves = {
        0: pte(DATA),
        1: pte(DATA + 0x1000, perm=IR),  # read-only
        3: pte(DATA + 0x3000, present=False),  # PR=0 but IR/IW and an address
    }  # page 2: a zero entry
    fill = (f"memset {DATA:#x} 0x4000 0xc1", f"write {DATA:#x} 8 0x0807060504030201")
    zero_leaf = [
        *translated(leaves),
        *fill,
        *to_buffer(IOVA),
        *from_buffer(IOVA + 0x2000),  # zero leaf: nowhere
        f"read {DATA + 0x2000:#x} 16",
        *cfg_status(IOMMU_CFG),
        w(CONTROL, 0),
    ]
    read_only_leaf = [
        *translated(leaves),
        *fill,
        *to_buffer(IOVA),
        *from_buffer(IOVA + 0x1000),  # write to a read-only page: refused
        f"read {DATA + 0x1000:#x} 16",
        *cfg_status(IOMMU_CFG),
        w(CONTROL, 0),
    ]
    not_present_leaf = [
        *translated(leaves),
        *fill,
        *to_buffer(IOVA + 0x3000),  # 7.2 reads it anyway
        *from_buffer(IOVA + 0x10),
        f"read {DATA + 0x10:#x} 16",
        *cfg_status(IOMMU_CFG),
        w(CONTROL, 0),
    ]
    tv0 = [
        *translated(leaves, dte_q0=dte0(tv=False)),
        *fill,
        f"memset {IOVA:#x} 0x10 0xd2",
        f"memset {IOVA + 0x800:#x} 0x10 0xd3",
        *to_buffer(IOVA),  # 7.2: untranslated with the DTE's IR/IW
        *from_buffer(IOVA + 0x800),
        f"read {IOVA + 0x800:#x} 16",
        *cfg_status(IOMMU_CFG),
        w(CONTROL, 0),
    ]
    # Mode 0: no table, the DTE's own IR/IW apply to an untranslated address; 7.2 refuses
    # the write silently (the IOTLB entry the read made says read-only).
    mode0 = [
        *translated(leaves, dte_q0=dte0(mode=0, perm=IR)),
        f"memset {IOVA:#x} 0x100 0x77",
        f"memset {IOVA + 0x500:#x} 0x10 0x78",
        *to_buffer(IOVA),
        *from_buffer(IOVA + 0x500),  # IW=0: refused
        f"read {IOVA + 0x500:#x} 16",
        *cfg_status(IOMMU_CFG),
        w(CONTROL, 0),
    ]
    # A one-level table (Mode 1) maps 2 MiB; QEMU 7.2 indexes it with IOVA bits 20:12
    # whatever lies above, the spec's walk faults an IOVA beyond it.
    beyond = [
        *translated(leaves, dte_q0=dte0(TABLES + 0x2000, mode=1)),
        *fill,
        *to_buffer(0x200000),  # bit 21: page 0 again for 7.2
        *from_buffer(0x10),
        f"read {DATA + 0x10:#x} 16",
        *cfg_status(IOMMU_CFG),
        w(CONTROL, 0),
    ]
    return [
        *switched("amdvi-dma-iova-beyond-the-mode", beyond, PAGE_WALK),
        *switched("amdvi-dma-dte-mode-0-without-iw", mode0, PAGE_WALK),
        *switched("amdvi-dma-zero-leaf", zero_leaf, PAGE_WALK),
        *switched("amdvi-dma-write-to-read-only-leaf", read_only_leaf, PAGE_WALK),
        *switched("amdvi-dma-not-present-leaf", not_present_leaf, PAGE_WALK),
        *switched("amdvi-dma-dte-tv-0", tv0, PAGE_WALK),
    ]


def fault_programs() -> list[Program]:
    """Faults both page walks report: a non-present level-2 entry, a DTE without IW. QEMU
    7.2 sets Signaled Target Abort and drops the IO_PAGE_FAULT (fix amdvi-event-log)."""
    fault_leaves = {0: pte(DATA)}
    pde_not_present = [
        *translated(fault_leaves, control=RUNNING | EVENT_INT_EN),
        wq(TABLES + 0x1000 + 8 * 8, pte(TABLES + 0x2000, 1, present=False)),
        f"memset {DATA:#x} 0x1000 0xe1",
        *to_buffer(IOVA + 0x40),  # read fault
        *from_buffer(IOVA + 0x80),  # write fault
        f"read {DATA + 0x80:#x} 16",
        *cfg_status(IOMMU_CFG),
        r(EVT_HEAD),
        r(EVT_TAIL),
        r(STATUS),
        f"read {EVTLOG:#x} 48",
        w(CONTROL, 0),
    ]
    dte_read_only = [
        *translated(fault_leaves, dte_q0=dte0(perm=IR)),
        f"memset {DATA:#x} 0x1000 0xe2",
        *from_buffer(IOVA + 0x90),
        f"read {DATA + 0x90:#x} 16",
        *cfg_status(IOMMU_CFG),
        r(EVT_TAIL),
        r(STATUS),
        f"read {EVTLOG:#x} 32",
        w(CONTROL, 0),
    ]
    return [
        *switched("amdvi-io-page-fault-events", pde_not_present, EVENT_LOG),
        *switched("amdvi-io-page-fault-dte-without-iw", dte_read_only, EVENT_LOG),
    ]


# --- fix switches --------------------------------------------------------------------------

# program name stem -> fix switch: ``stem-off`` runs with the switch off (QEMU 7.2's
# behaviour, compared with QEMU), ``stem-on`` with it on (dmamon's default, checked on
# dmamon's side where it differs). Filled as the programs are built.
SWITCHED: dict[str, str] = {}


def switched(stem: str, lines: Iterable[str], switch: str) -> list[Program]:
    """``stem-off`` and ``stem-on``: the same lines with ``switch`` off and on."""
    SWITCHED[stem] = switch
    body = tuple(lines)
    return [
        Program(f"{stem}-off", body, DEVICES, fixes={switch: False}),
        Program(f"{stem}-on", body, DEVICES, fixes={switch: True}),
    ]


# --- random register traffic ---------------------------------------------------------------

# registers random writes go to (Control has its own kind of step)
WRITABLE = tuple(off for off in REGISTERS if off != CONTROL)
WIDTHS = {"b": 1, "w": 2, "l": 4, "q": 8}


def _value(rng: random.Random) -> int:
    return rng.choice(
        [
            0,
            1,
            rng.getrandbits(8),
            rng.getrandbits(20) << 4,
            rng.getrandbits(32),
            rng.getrandbits(64),
            (1 << 64) - 1,
        ]
    )


def _random_command(rng: random.Random, k: int) -> tuple[int, int]:
    """A command QEMU 7.2 runs safely: any opcode with random operands, except that a
    COMPLETION_WAIT stores inside SEM."""
    op = rng.choice([1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0, 9, 0xF])
    q0 = rng.getrandbits(60) if rng.random() < 0.3 else rng.getrandbits(16)
    q1 = _value(rng)
    if op == 1:
        rsv = rng.getrandbits(8) << 52 if rng.random() < 0.2 else 0
        q0 = rsv | SEM + 8 * k | rng.getrandbits(2)
    return op << 60 | q0, q1


def random_program(seed: int) -> Program:
    """Seeded random AMD IOMMU register traffic: reads of every width at any offset,
    writes of every width to registers (CmdBufEn never set by them), and now and then a
    burst of random commands in a small command buffer, the tail kept inside it (QEMU
    7.2 loops forever on a tail its head cannot reach)."""
    rng = random.Random(seed)
    lines = [*iommu_clean_slate(cmd_len=4), f"memset {SEM:#x} 0x100 0"]
    for _ in range(rng.randint(10, 30)):
        kind = rng.random()
        if kind < 0.4:
            width = rng.choice("bwlqq")
            if rng.random() < 0.7:
                off = rng.choice(REGISTERS) + rng.choice([0, 0, 0, 2, 4, rng.randrange(8)])
            else:
                off = rng.randrange(0, 0x4000 - 8)
            lines.append(r(off, f"read{width}"))
        elif kind < 0.75:
            width = rng.choice("bwlqq")
            if rng.random() < 0.8:
                off = rng.choice(WRITABLE) + rng.choice([0, 0, 0, 2, 4, rng.randrange(8)])
            else:
                off = rng.randrange(0, 0x4000 - 8)
            if off & ~7 in (CMD_HEAD, CMD_TAIL):
                off &= ~7
            if off < CONTROL + 8 and off + WIDTHS[width] > CONTROL:
                # QEMU splits an unaligned write at its alignment: the part that lands on
                # Control could set CmdBufEn. Move it to the Exclusion Limit register.
                off = EXCL_LIMIT + (off & 7)
            value = _value(rng) & ((1 << 8 * WIDTHS[width]) - 1)
            lines += [w(off, value, f"write{width}"), r(off & ~7)]
        elif kind < 0.85:
            value = _value(rng) & ~CMD_BUF_EN
            lines += [w(CONTROL, value, rng.choice(["writeq", "writel"])), r(STATUS)]
        elif kind < 0.92:
            lines += [
                cfg(IOMMU_CFG, rng.randrange(0, 0x70, 4)),
                rng.choice(["inl 0xcfc", "inw 0xcfe", "inb 0xcfd"]),
            ]
        else:
            lines += _random_burst(rng)
    lines += [r(STATUS), f"read {SEM:#x} 0x80", w(CONTROL, 0)]
    return Program(f"amdvi-random-{seed}", tuple(lines), DEVICES, fixes=QEMU_72)


def _random_burst(rng: random.Random) -> list[str]:
    length = rng.randint(1, 4)  # ComLen: 2..16 entries
    entries = 1 << length
    count = rng.randint(1, entries - 1)
    control = RUNNING | rng.choice([0, EVENT_INT_EN, COM_WAIT_INT_EN])
    lines = [
        w(CONTROL, 0),
        w(CMDBUF_BASE, CMDBUF | length << 56),
        w(CMD_HEAD, 0),
        w(CMD_TAIL, 0),
        w(CONTROL, control),
    ]
    for k in range(count):
        q0, q1 = _random_command(rng, k)
        lines += [wq(CMDBUF + 16 * k, q0), wq(CMDBUF + 16 * k + 8, q1)]
    lines += [w(CMD_TAIL, count * 16), r(CMD_HEAD), r(STATUS), f"read {SEM:#x} {8 * count:#x}"]
    lines += [w(CONTROL, 0), r(CMD_HEAD), r(CMD_TAIL)]
    return lines


def random_programs(first_seed: int = RANDOM_SEED, count: int = RANDOM_COUNT) -> list[Program]:
    return [random_program(first_seed + k) for k in range(count)]


def all_programs() -> list[Program]:
    """Every AMD IOMMU program."""
    return [
        reset_registers_program(),
        *register_write_programs(),
        access_size_program(),
        *command_programs(),
        *dma_programs(),
        *fault_programs(),
        *random_programs(),
    ]
