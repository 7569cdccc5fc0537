"""The AMD IOMMU's MMIO registers (QEMU 7.2 ``amd_iommu.h``) and its fix switches.

QEMU keeps the registers as a byte array and stores whatever a 2-, 4- or 8-byte guest write
brings to the registers its ``amdvi_mmio_write`` switch handles; the others ignore writes.
The bank declares exactly that: handled registers are plain RW over all 64 bits (QEMU
masks only its internal copies), unhandled ones are RO, and only Status has W1C bits.
"""

from __future__ import annotations

from dmamon.devices.regs import RO, RW, W1C, Access, Field, Reg, RegisterBank
from dmamon.memory import declare_fix

__all__ = [
    "AMDVI_BASE_ADDR",
    "AMDVI_MMIO_SIZE",
    "BASE_MASK",
    "CMDBUF_HEAD_WRAP",
    "CTRL_CMD_BUF_EN",
    "CTRL_COM_WAIT_INT_EN",
    "CTRL_EVENT_INT_EN",
    "CTRL_EVENT_LOG_EN",
    "CTRL_IOMMU_EN",
    "EVENT_LOG",
    "EXT_FEATURES",
    "HEAD_MASK",
    "INVAL_DRAIN",
    "PAGE_WALK",
    "QEMU_72_OFF",
    "STATUS_W1C",
    "AmdviRegs",
    "mmio_reg_name",
]

AMDVI_BASE_ADDR = 0xFED80000
AMDVI_MMIO_SIZE = 0x4000
# QEMU 7.2 AMDVI_EXT_FEATURES: PREFETCH|PPR|GT|IA|GA|HE|HATS=2|GATS=2 (read back from 7.2.22)
EXT_FEATURES = 0x29D3
# QEMU's masks for its internal copies of registers the bank stores whole (no fields: QEMU
# keeps all 64 written bits in the register and masks only the copy it acts on).
BASE_MASK = 0x000F_FFFF_FFFF_F000  # AMDVI_MMIO_DEVTAB_BASE_MASK (bits 51:12), Exclusion/PPR
HEAD_MASK = 0x7FFF0  # AMDVI_MMIO_CMDBUF_HEAD_MASK and the other head/tail masks (18:4)

# -- fix switches --------------------------------------------------------------------------

EVENT_LOG = declare_fix(
    "amdvi-event-log",
    True,
    "AMD IOMMU writes its events: EventOverflow tested with AND, tail published and wrapped, "
    "EventLogInt (not ComWaitInt) only with EventIntEn, head/tail reset on a base write",
    "QEMU 10.1 'hw/i386/amd_iommu: Fix event log generation' (Sairaj Kodilkar, 2025); "
    "QEMU 7.2 writes no event at all: amdvi_test_mask() ORs, so every event looks like an "
    "overflow and is dropped",
    "amd-iommu",
)
STATUS_W1C = declare_fix(
    "amdvi-status-w1c",
    True,
    "guest writes to the AMD IOMMU Status register clear its write-1-to-clear bits",
    "QEMU 10.1 'hw/i386/amd_iommu: Support MMIO writes to the status register' (Sairaj "
    "Kodilkar, 2025); QEMU 7.2 ignores Status writes, so ComWaitInt never clears",
    "amd-iommu",
)
CMDBUF_HEAD_WRAP = declare_fix(
    "amdvi-cmdbuf-head-wrap",
    True,
    "the AMD IOMMU publishes the command buffer head after wrapping it to 0",
    "upstream tests/qtest/amd-iommu-test.c test_cmdbuf_head_wrap; QEMU 7.2 publishes "
    "length*16 after the last entry (reproducers/amd-iommu-cmdbuf-head-wrap.DERIVED.txt)",
    "amd-iommu",
)
PAGE_WALK = declare_fix(
    "amdvi-page-walk",
    True,
    "AMD IOMMU page walk checks presence and permission at every level including the leaf, "
    "logs IO_PAGE_FAULT for a zero entry, caches the AND of all levels; DTE[TV]=0 stops it",
    "AMD IOMMU spec 48882 (2.2.3, 2.5.3) and upstream amdvi_page_walk() on fetch_pte() "
    "(2025); QEMU 7.2 checks the DTE and the upper levels only: a zero PTE fails "
    "silently, the leaf's own IR/IW are cached, TV=0 passes untranslated",
    "amd-iommu",
)
INVAL_DRAIN = declare_fix(
    "iommu-inval-drain",
    False,
    "COMPLETION_WAIT is deferred until DMA mappings that still use invalidated translations "
    "are released (the IOMMU drains in-flight DMA before signalling)",
    "Eduard-Gabriel Munteanu's 2010 AMD IOMMU emulation review (scenarios.md 5.1, 5.3); "
    "hardware drains before acknowledging the wait; QEMU signals it at once",
    "amd-iommu",
)
# Turning these off gives QEMU 7.2's amd-iommu exactly (conformance runs against 7.2).
QEMU_72_OFF = (EVENT_LOG, STATUS_W1C, CMDBUF_HEAD_WRAP, PAGE_WALK)


def _qword(offset: int, doc: str, fields: tuple[Field, ...] = (), access: Access = RW) -> Reg:
    return Reg(offset, width=64, access=access, fields=fields, doc=doc)


def _base_fields(size_doc: str) -> tuple[Field, ...]:
    return (
        Field("rsvd_lo", bit=0, width=12, doc="bits 11:0, stored as written"),
        Field("base", bit=12, width=40, doc="base address bits 51:12"),
        Field("rsvd_mid", bit=52, width=4, doc="stored as written"),
        Field("len", bit=56, width=4, doc=size_doc),
        Field("rsvd_hi", bit=60, width=4, doc="stored as written"),
    )


class AmdviRegs(RegisterBank, size=AMDVI_MMIO_SIZE, valid_sizes=(1, 2, 4, 8)):
    """AMD-Vi MMIO registers at 0xfed80000 (QEMU 7.2 ``AMDVI_MMIO_*``)."""

    devtab_base = _qword(
        0x0000,
        "Device Table Base Address (AMDVI_MMIO_DEVICE_TABLE)",
        (
            Field("size", bit=0, width=12, doc="Size: table size in 4 KiB units - 1 (QEMU 11:0)"),
            Field("base", bit=12, width=40, doc="DevTabBase bits 51:12"),
            Field("rsvd_hi", bit=52, width=12, doc="stored as written"),
        ),
    )
    cmdbuf_base = _qword(
        0x0008,
        "Command Buffer Base Address (AMDVI_MMIO_COMMAND_BASE)",
        _base_fields("ComLen: log2 of the number of 16-byte entries"),
    )
    evtlog_base = _qword(
        0x0010,
        "Event Log Base Address (AMDVI_MMIO_EVENT_BASE)",
        _base_fields("EventLen: log2 of the number of 16-byte entries"),
    )
    control = _qword(
        0x0018,
        "IOMMU Control (AMDVI_MMIO_CONTROL)",
        (
            Field("iommu_en", bit=0, doc="IommuEn: translation on"),
            Field("ht_tun_en", bit=1, doc="HtTunEn"),
            Field("event_log_en", bit=2, doc="EventLogEn"),
            Field("event_int_en", bit=3, doc="EventIntEn: MSI on a new event"),
            Field("com_wait_int_en", bit=4, doc="ComWaitIntEn (QEMU does not gate the MSI)"),
            Field("inv_timeout", bit=5, width=3, doc="InvTimeOut"),
            Field("misc", bit=8, width=4, doc="PassPW, ResPassPW, Coherent, Isoc"),
            Field("cmd_buf_en", bit=12, doc="CmdBufEn"),
            Field("ppr", bit=13, width=4, doc="PprLogEn, PprIntEn, PprEn, GTEn"),
            Field("ga_en", bit=17, doc="GAEn"),
            Field("other", bit=18, width=46, doc="stored as written"),
        ),
    )
    excl_base = _qword(0x0020, "Exclusion Range Base (QEMU ignores writes)", access=RO)
    excl_limit = _qword(0x0028, "Exclusion Range Limit (AMDVI_MMIO_EXCL_LIMIT, unused)")
    ext_features = Reg(
        0x0030,
        width=64,
        access=RO,
        reset=EXT_FEATURES,
        fields=(
            Field("pref_sup", bit=0, doc="PreFSup"),
            Field("ppr_sup", bit=1, doc="PPRSup"),
            Field("xt_sup", bit=2, doc="XTSup"),
            Field("nx_sup", bit=3, doc="NXSup"),
            Field("gt_sup", bit=4, doc="GTSup"),
            Field("rsvd5", bit=5, doc="reserved"),
            Field("ia_sup", bit=6, doc="IASup: INVALIDATE_IOMMU_ALL"),
            Field("ga_sup", bit=7, doc="GASup"),
            Field("he_sup", bit=8, doc="HESup"),
            Field("pc_sup", bit=9, doc="PCSup"),
            Field("hats", bit=10, width=2, doc="HATS: host address translation size"),
            Field("gats", bit=12, width=2, doc="GATS"),
            Field("other", bit=14, width=50, doc="not implemented"),
        ),
        doc="Extended Feature Register (AMDVI_MMIO_EXT_FEATURES)",
    )
    ppr_base = _qword(0x0038, "PPR Log Base Address (AMDVI_MMIO_PPR_BASE, unused)")
    cmd_head = _qword(0x2000, "Command Buffer Head Pointer (byte offset, bits 18:4)")
    cmd_tail = _qword(0x2008, "Command Buffer Tail Pointer (writing it runs the commands)")
    evt_head = _qword(0x2010, "Event Log Head Pointer")
    evt_tail = _qword(0x2018, "Event Log Tail Pointer")
    status = _qword(
        0x2020,
        "IOMMU Status (AMDVI_MMIO_STATUS)",
        (
            Field("event_overflow", bit=0, access=W1C, doc="EventOverflow"),
            Field("event_log_int", bit=1, access=W1C, doc="EventLogInt"),
            Field("com_wait_int", bit=2, access=W1C, doc="ComWaitInt"),
            Field("event_log_run", bit=3, access=RO, doc="EventLogRun"),
            Field("cmd_buf_run", bit=4, access=RO, doc="CmdBufRun"),
            Field("ppr_overflow", bit=5, access=W1C, doc="PprOverflow"),
            Field("ppr_int", bit=6, access=W1C, doc="PprInt"),
            Field("ppr_log_run", bit=7, access=RO, doc="PprLogRun"),
            Field("other", bit=8, width=56, doc="QEMU stores what is written"),
        ),
    )
    ppr_head = _qword(0x2030, "PPR Log Head Pointer (unused)")
    ppr_tail = _qword(0x2038, "PPR Log Tail Pointer (unused)")


def _control_bit(field: str) -> int:
    """A Control bit as a mask, from the bank's declaration (for a guest driver composing
    the value it writes)."""
    reg = AmdviRegs.lookup("control")
    assert reg is not None
    return reg.field(field).mask


CTRL_IOMMU_EN = _control_bit("iommu_en")
CTRL_EVENT_LOG_EN = _control_bit("event_log_en")
CTRL_EVENT_INT_EN = _control_bit("event_int_en")
CTRL_COM_WAIT_INT_EN = _control_bit("com_wait_int_en")
CTRL_CMD_BUF_EN = _control_bit("cmd_buf_en")


# amdvi_mmio_get_index's name tables (QEMU 7.2; the index is a uint8_t, clamped to the last)
MMIO_LOW_NAMES = (
    "AMDVI_MMIO_DEVTAB_BASE",
    "AMDVI_MMIO_CMDBUF_BASE",
    "AMDVI_MMIO_EVTLOG_BASE",
    "AMDVI_MMIO_CONTROL",
    "AMDVI_MMIO_EXCL_BASE",
    "AMDVI_MMIO_EXCL_LIMIT",
    "AMDVI_MMIO_EXT_FEATURES",
    "AMDVI_MMIO_PPR_BASE",
    "UNHANDLED",
)
MMIO_HIGH_NAMES = (
    "AMDVI_MMIO_COMMAND_HEAD",
    "AMDVI_MMIO_COMMAND_TAIL",
    "AMDVI_MMIO_EVTLOG_HEAD",
    "AMDVI_MMIO_EVTLOG_TAIL",
    "AMDVI_MMIO_STATUS",
    "AMDVI_MMIO_PPR_HEAD",
    "AMDVI_MMIO_PPR_TAIL",
    "UNHANDLED",
)


def mmio_reg_name(addr: int) -> str:
    """The register name QEMU 7.2's MMIO trace prints for an offset."""
    index = ((addr & ~0x2000) // 8) & 0xFF
    if addr & 0x2000:
        return MMIO_HIGH_NAMES[min(index, len(MMIO_HIGH_NAMES) - 1)]
    return MMIO_LOW_NAMES[min(index, len(MMIO_LOW_NAMES) - 1)]
