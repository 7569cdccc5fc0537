"""QEMU 7.2's amd-iommu (devices/amdvi/), checked against the real thing.

Values marked "QEMU 7.2.22" were read back from ``qemu-system-x86_64 -M q35 -nodefaults -S
-qtest stdio -device amd-iommu`` (Debian 7.2+dfsg-7+deb12u18): the PCI config space, the
MMIO access rules, the trace texts and the quirks (no event is ever written, Status writes
are ignored, the command head reads 0x1000 after a wrap). Behaviour QEMU cannot show over
qtest (DMA needs a running clock) follows hw/i386/amd_iommu.c.
"""

from __future__ import annotations

import json

import pytest
from dmamon.devices import Machine, PciDevice
from dmamon.devices.amdvi import AmdIommu, AmdIommuDriver, DriverError, find_iommu
from dmamon.devices.amdvi.formats import (
    ALL_PAGES,
    DecodedEvent,
    cmd_completion_wait,
    cmd_invalidate_all,
    cmd_invalidate_devtab_entry,
    cmd_invalidate_interrupt_table,
    cmd_invalidate_iommu_pages,
    cmd_invalidate_iotlb_pages,
    decode_command,
    decode_event,
    decode_invalidation_range,
    encode_dte,
    encode_event,
    encode_pte,
    invalidation_address,
)
from dmamon.memory import ConfigError, IOMMUPerm, MemTxResult

OK = MemTxResult.OK
MMIO = 0xFED80000
EDU_BAR = 0xFE000000
CMDBUF, EVTLOG, DEVTAB = 0x200000, 0x300000, 0x400000
SEM = 0x500000
EDU_DEVID = 0x10  # 00:02.0, after amd-iommu at 00:01.0
RO, WO, RW = IOMMUPerm.RO, IOMMUPerm.WO, IOMMUPerm.RW
QEMU_72 = ("amdvi-event-log", "amdvi-status-w1c", "amdvi-cmdbuf-head-wrap", "amdvi-page-walk")


# -- helpers -------------------------------------------------------------------------------


def make(*devices: str, qemu72: bool = False) -> tuple[Machine, AmdIommu]:
    m = Machine(devices=["amd-iommu", "edu,id=edu0", *devices])
    if qemu72:
        for name in QEMU_72:
            m.engine.fixes.set(name, False)
    iommu = find_iommu(m)
    assert iommu is not None
    return m, iommu


def cfg_read(m: Machine, slot: int, reg: int, bus: int = 0) -> int:
    m.io_as.store(0xCF8, 4, 0x80000000 | bus << 16 | slot << 11 | reg)
    return m.io_as.load(0xCFC, 4)[1]


def cfg_write(m: Machine, slot: int, reg: int, value: int, size: int = 4, bus: int = 0) -> None:
    m.io_as.store(0xCF8, 4, 0x80000000 | bus << 16 | slot << 11 | (reg & ~3))
    m.io_as.store(0xCFC + (reg & 3), size, value)


def wreg(m: Machine, off: int, value: int, size: int = 8) -> None:
    assert m.memory.store(MMIO + off, size, value) == OK


def rreg(m: Machine, off: int, size: int = 8) -> int:
    res, value = m.memory.load(MMIO + off, size)
    assert res == OK
    return value


def wq(m: Machine, addr: int, value: int) -> None:
    assert m.memory.store(addr, 8, value) == OK


def rq(m: Machine, addr: int) -> int:
    return m.memory.load(addr, 8)[1]


def program(m: Machine, control: int = 0x1005) -> None:
    """Device table 8 KiB at DEVTAB, command buffer and event log of 256 entries, then
    Control (default IommuEn | EventLogEn | CmdBufEn)."""
    wreg(m, 0x00, DEVTAB | 1)
    wreg(m, 0x08, CMDBUF | 8 << 56)
    wreg(m, 0x10, EVTLOG | 8 << 56)
    wreg(m, 0x18, control)


def commands(m: Machine, *cmds: tuple[int, int], start: int = 0) -> None:
    """Write commands at entry ``start`` and move the tail past them."""
    off = start * 16
    for q0, q1 in cmds:
        wq(m, CMDBUF + off, q0)
        wq(m, CMDBUF + off + 8, q1)
        off += 16
    wreg(m, 0x2008, off)


def enable_edu(m: Machine, slot: int = 2) -> None:
    cfg_write(m, slot, 0x10, EDU_BAR)
    cfg_write(m, slot, 0x04, 0x0006, 2)


def edu_dma(m: Machine, src: int, dst: int, count: int, to_ram: bool) -> None:
    for off, value in ((0x80, src), (0x88, dst), (0x90, count)):
        assert m.memory.store(EDU_BAR + off, 8, value) == OK
    assert m.memory.store(EDU_BAR + 0x98, 8, 0x3 if to_ram else 0x1) == OK
    m.step(200_000_000)


def events(iommu: AmdIommu) -> list[DecodedEvent]:
    return [e for _, e in iommu.decoded_events()]


def trace_lines(m: Machine, prefix: str) -> list[str]:
    return [r.text for r in m.engine.tracer.ring if r.text.startswith(prefix)]


def table4(m: Machine, base: int, iova: int, leaf: int, pde_perm: IOMMUPerm = RW) -> int:
    """A 4-level table at ``base`` (four consecutive pages) whose last level maps ``iova``
    with entry ``leaf``; returns the leaf's address."""
    tables = [base + i * 0x1000 for i in range(4)]
    for level, table in zip((4, 3, 2), tables, strict=False):
        idx = (iova >> (12 + 9 * (level - 1))) & 0x1FF
        wq(m, table + idx * 8, encode_pte(table + 0x1000, level - 1, pde_perm))
    leaf_addr = tables[3] + ((iova >> 12) & 0x1FF) * 8
    wq(m, leaf_addr, leaf)
    return leaf_addr


def attach(m: Machine, devid: int, root: int, mode: int = 4, domain: int = 1, perm=RW) -> None:
    q = encode_dte(root, mode, domain, perm)
    for i, v in enumerate(q):
        wq(m, DEVTAB + devid * 32 + 8 * i, v)


@pytest.fixture
def mapped() -> tuple[Machine, AmdIommu, int]:
    """IOMMU programmed by hand, edu (00:02.0) in domain 1 with IOVA 0x1000000 -> GPA
    0x100000 read/write through a 4-level table at 0x600000. Returns the leaf's address."""
    m, iommu = make()
    program(m)
    enable_edu(m)
    leaf = table4(m, 0x600000, 0x1000000, encode_pte(0x100000, 0, RW))
    attach(m, EDU_DEVID, 0x600000)
    return m, iommu, leaf


# -- PCI identity --------------------------------------------------------------------------


def test_amd_iommu_config_space_matches_qemu_72() -> None:
    m, _ = make()
    got = [cfg_read(m, 1, r) for r in range(0, 0x70, 4)]
    # QEMU 7.2.22: device ID = devfn (8), class 0806, capability list 0x60->0x5c->0x58->0x40,
    # the MMIO base in the capability at 0x44.
    assert got == [
        0x00081022, 0x00100000, 0x08060000, 0, 0, 0, 0, 0, 0, 0, 0, 0x11001AF4, 0, 0x60, 0, 0,
        0x1F03000F, 0xFED80000, 0, 0xFF000000, 0x00182840, 0, 0x4005, 0x5808, 0x00805C05,
        0, 0, 0,
    ]  # fmt: skip


def test_amd_iommu_takes_the_next_free_slot_and_its_devfn_becomes_the_device_id() -> None:
    m = Machine(devices=["edu,id=edu0", "amd-iommu"])
    # QEMU 7.2.22 with "-device edu -device amd-iommu": 00:02.0 reads 0x00101022
    assert cfg_read(m, 2, 0) == 0x00101022


def test_a_second_amd_iommu_is_refused_with_qemus_message() -> None:
    m, _ = make()
    with pytest.raises(
        ConfigError, match=r"^QEMU does not support multiple vIOMMUs for x86 yet\.$"
    ):
        m.device_add("amd-iommu")


def test_the_capability_block_is_read_only_and_msi_is_writable() -> None:
    m, _ = make()
    for reg in (0x40, 0x44, 0x58, 0x5C):
        cfg_write(m, 1, reg, 0xFFFFFFFF)
    cfg_write(m, 1, 0x60, 0xFFFFFFFF)
    cfg_write(m, 1, 0x64, 0xFFFFFFFF)
    # QEMU 7.2.22: 0x1f03000f 0xfed80000 0x4005 0x5808 0x815c05 0xfffffffc
    assert [cfg_read(m, 1, r) for r in (0x40, 0x44, 0x58, 0x5C, 0x60, 0x64)] == [
        0x1F03000F, 0xFED80000, 0x4005, 0x5808, 0x00815C05, 0xFFFFFFFC,
    ]  # fmt: skip


def test_the_mmio_block_is_mapped_at_0xfed80000_outside_any_bar() -> None:
    m, _ = make()
    fr = m.memory.lookup(MMIO)
    assert fr is not None and fr.region.name == "amdvi-mmio"
    assert (fr.start, fr.end) == (MMIO, MMIO + 0x4000)


# -- MMIO access rules ---------------------------------------------------------------------


def test_extended_features_read_qemu_72s_value() -> None:
    m, _ = make()
    assert rreg(m, 0x30) == 0x29D3


def test_one_byte_reads_return_all_ones() -> None:
    m, _ = make()
    assert rreg(m, 0x30, 1) == 0xFF


def test_two_and_four_byte_reads_return_the_register_bytes() -> None:
    m, _ = make()
    assert (rreg(m, 0x30, 2), rreg(m, 0x34, 4)) == (0x29D3, 0)


def test_an_unaligned_read_is_split_as_qemu_splits_it() -> None:
    m, _ = make()
    # QEMU 7.2.22 "read 0xfed80031 4" -> 0xff0000ff (1-byte, 2-byte, 1-byte pieces)
    assert m.memory.read(MMIO + 0x31, 4) == (OK, bytes([0xFF, 0, 0, 0xFF]))


def test_one_byte_writes_are_not_stored() -> None:
    m, _ = make()
    wreg(m, 0x18, 0x1, 1)
    assert rreg(m, 0x18) == 0


def test_two_byte_writes_are_stored() -> None:
    m, _ = make()
    wreg(m, 0x18, 0x1, 2)
    assert rreg(m, 0x18) == 1


def test_a_four_byte_write_stores_only_its_half() -> None:
    m, _ = make()
    wreg(m, 0x1C, 0xFFFFFFFF, 4)
    assert rreg(m, 0x18) == 0xFFFFFFFF_00000000


@pytest.mark.parametrize("off", [0x20, 0x30, 0x40, 0x1000, 0x2040])
def test_writes_where_qemu_has_no_handler_are_ignored(off: int) -> None:
    m, _ = make()
    wreg(m, off, 0x1234567890ABCDEF)
    assert rreg(m, off) == (0x29D3 if off == 0x30 else 0)


@pytest.mark.parametrize("off", [0x00, 0x28, 0x38, 0x2000, 0x2008, 0x2010, 0x2018, 0x2030])
def test_handled_registers_store_the_whole_value_written(off: int) -> None:
    m, _ = make()
    wreg(m, off, 0xFFFFFFFFFFFFFFFF)
    assert rreg(m, off) == 0xFFFFFFFFFFFFFFFF


def test_enabling_the_command_buffer_and_event_log_sets_their_run_bits() -> None:
    m, _ = make()
    wreg(m, 0x18, 0x1005)
    assert rreg(m, 0x2020) == 0x18


def test_run_bits_need_iommu_en() -> None:
    m, _ = make()
    wreg(m, 0x18, 0x1004)
    assert rreg(m, 0x2020) == 0


def test_status_w1c_bits_clear_when_written_with_one() -> None:
    m, _ = make()
    program(m)
    commands(m, cmd_completion_wait(SEM, 1, interrupt=True))
    wreg(m, 0x2020, 0x4)
    assert rreg(m, 0x2020) == 0x18


def test_status_writes_are_ignored_by_qemu_72() -> None:
    m, _ = make(qemu72=True)
    program(m)
    commands(m, cmd_completion_wait(SEM, 1, interrupt=True))
    wreg(m, 0x2020, 0x4)
    assert rreg(m, 0x2020) == 0x1C  # QEMU 7.2.22: ComWaitInt stays


def test_mmio_reads_and_writes_both_trace_amdvi_mmio_read() -> None:
    m, _ = make()
    m.engine.tracer.set_state("amdvi_mmio_*", True)
    wreg(m, 0x1C, 0, 4)
    rreg(m, 0x2030)
    # QEMU 7.2.22 -trace amdvi_*: writes print amdvi_mmio_read too; the high names are
    # indexed from 0x2000 (0x2030 -> PPR_TAIL)
    assert trace_lines(m, "amdvi_mmio") == [
        "amdvi_mmio_read AMDVI_MMIO_CONTROL read addr 0x1c, size 4 offset 0x18",
        "amdvi_mmio_read AMDVI_MMIO_PPR_TAIL read addr 0x2030, size 8 offset 0x2030",
    ]


def test_the_mmio_trace_names_offsets_past_the_tables_by_a_byte_sized_index() -> None:
    m, _ = make()
    m.engine.tracer.set_state("amdvi_mmio_read", True)
    rreg(m, 0x1000)
    assert trace_lines(m, "amdvi_mmio_read") == [
        "amdvi_mmio_read AMDVI_MMIO_DEVTAB_BASE read addr 0x1000, size 8 offset 0x1000"
    ]


# -- commands ------------------------------------------------------------------------------


def test_completion_wait_stores_its_data() -> None:
    m, _ = make()
    program(m)
    commands(m, cmd_completion_wait(SEM, 0x1122334455667788))
    assert rq(m, SEM) == 0x1122334455667788


def test_the_head_follows_the_executed_commands() -> None:
    m, _ = make()
    program(m)
    commands(m, cmd_completion_wait(SEM, 1), cmd_completion_wait(SEM, 2))
    assert (rreg(m, 0x2000), rq(m, SEM)) == (0x20, 2)


def test_completion_wait_with_i_sets_com_wait_int_and_sends_the_msi() -> None:
    m, iommu = make()
    cfg_write(m, 1, 0x64, 0xFEE00000)
    cfg_write(m, 1, 0x6C, 0x4041, 2)
    cfg_write(m, 1, 0x60, 0x00815C05)
    program(m)
    commands(m, cmd_completion_wait(SEM, 1, store=False, interrupt=True))
    assert (rreg(m, 0x2020) & 0x4, m.msi_log[-1], rq(m, SEM)) == (0x4, (0xFEE00000, 0x4041), 0)


def test_completion_wait_with_reserved_bits_logs_illegal_command_and_still_stores() -> None:
    m, iommu = make()
    program(m)
    q0, q1 = cmd_completion_wait(SEM, 0x55)
    commands(m, (q0 | 1 << 52, q1))
    assert rq(m, SEM) == 0x55
    assert [e.describe() for e in events(iommu)] == [
        f"ILLEGAL_COMMAND_ERROR devid 00:00.0 address {CMDBUF:#x} opcode 0x1"
    ]


def test_commands_wait_while_the_command_buffer_is_disabled() -> None:
    m, _ = make()
    program(m, control=0x0001)
    m.engine.tracer.set_state("amdvi_command_error", True)
    commands(m, cmd_completion_wait(SEM, 7))
    assert (rq(m, SEM), trace_lines(m, "amdvi_command_error")) == (
        0,
        ["amdvi_command_error error: Executing commands with command buffer disabled 0x1"],
    )


def test_commands_queued_while_disabled_run_when_the_buffer_is_enabled() -> None:
    m, _ = make()
    program(m, control=0x0001)
    commands(m, cmd_completion_wait(SEM, 7))
    wreg(m, 0x18, 0x1001)
    assert rq(m, SEM) == 7


def _fill_wrap(m: Machine) -> None:
    # reproducers/amd-iommu-cmdbuf-head-wrap.DERIVED.txt
    for i in range(256):
        wq(m, CMDBUF + i * 16, 1 << 60)
        wq(m, CMDBUF + i * 16 + 8, 0)
    wreg(m, 0x08, 0x0800000000000000 | CMDBUF)
    wreg(m, 0x18, 0x1001)
    wreg(m, 0x2008, 0xFF0)
    wreg(m, 0x2008, 0x0)


def test_the_command_head_wraps_to_zero() -> None:
    m, _ = make()
    _fill_wrap(m)
    assert rreg(m, 0x2000) == 0


def test_qemu_72_publishes_the_head_before_wrapping_it() -> None:
    m, _ = make(qemu72=True)
    _fill_wrap(m)
    assert rreg(m, 0x2000) == 0x1000  # QEMU 7.2.22


def test_a_tail_the_head_can_never_reach_hangs_the_machine() -> None:
    m, _ = make()
    wreg(m, 0x08, CMDBUF)  # one entry: the head wraps at 0x10 and never meets 0x20
    wreg(m, 0x18, 0x1001)
    assert m.memory.store(MMIO + 0x2008, 8, 0x20) == MemTxResult.ERROR
    assert (m.run_state, m.engine.halt is not None and m.engine.halt.summary) == (
        "hung",
        "amd-iommu: the command tail 0x20 lies beyond the 0x10-byte command buffer; the head "
        "wraps before reaching it and amdvi_cmdbuf_run() loops forever",
    )


def test_an_unknown_opcode_logs_the_second_quads_type_as_qemu_72_does() -> None:
    m, iommu = make()
    program(m)
    m.engine.tracer.set_state("amdvi_unhandled_command", True)
    commands(m, (0x9 << 60, 0xA << 60))
    # QEMU 7.2.22: "amdvi_unhandled_command unhandled command 0xa"
    assert trace_lines(m, "amdvi_unhandled") == ["amdvi_unhandled_command unhandled command 0xa"]
    assert events(iommu)[0].flags == 0xA


def test_a_failed_command_fetch_logs_command_hw_error() -> None:
    m, iommu = make()
    program(m)
    wreg(m, 0x08, 0xC000_0000 | 8 << 56)  # unassigned memory
    wreg(m, 0x2008, 0x10)
    assert [e.describe() for e in events(iommu)] == [
        "COMMAND_HW_ERROR devid 00:00.0 address 0xc0000000"
    ]


def test_invalidate_devtab_entry_flushes_nothing(mapped) -> None:
    m, iommu, _ = mapped
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    commands(m, cmd_invalidate_devtab_entry(EDU_DEVID))
    assert len(iommu.iotlb_entries()) == 1


def test_invalidate_iommu_pages_drops_every_entry_of_the_domain(mapped) -> None:
    m, iommu, _ = mapped
    table4(m, 0x600000, 0x1001000, encode_pte(0x101000, 0, RW))
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    iommu.translate(EDU_DEVID, 0x1001000, RO)
    commands(m, cmd_invalidate_iommu_pages(1, 0x1000000))  # one page, but QEMU drops all
    assert iommu.iotlb_entries() == []


def test_invalidate_iommu_pages_keeps_other_domains(mapped) -> None:
    m, iommu, _ = mapped
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    commands(m, cmd_invalidate_iommu_pages(2, 0, ALL_PAGES))
    assert len(iommu.iotlb_entries()) == 1


def test_invalidate_iotlb_pages_drops_one_page_of_the_device(mapped) -> None:
    m, iommu, _ = mapped
    table4(m, 0x600000, 0x1001000, encode_pte(0x101000, 0, RW))
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    iommu.translate(EDU_DEVID, 0x1001000, RO)
    commands(m, cmd_invalidate_iotlb_pages(EDU_DEVID, 0x1000000))
    assert [e.iova for e in iommu.iotlb_entries()] == [0x1001000]


def test_invalidate_iotlb_pages_with_s_drops_every_page_of_the_device(mapped) -> None:
    m, iommu, _ = mapped
    table4(m, 0x600000, 0x1001000, encode_pte(0x101000, 0, RW))
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    iommu.translate(EDU_DEVID, 0x1001000, RO)
    commands(m, cmd_invalidate_iotlb_pages(EDU_DEVID, 0, ALL_PAGES))
    assert iommu.iotlb_entries() == []


def test_invalidate_interrupt_table_with_reserved_bits_is_an_illegal_command() -> None:
    m, iommu = make()
    program(m)
    q0, q1 = cmd_invalidate_interrupt_table(EDU_DEVID)
    commands(m, (q0, 1))
    assert [e.name for e in events(iommu)] == ["ILLEGAL_COMMAND_ERROR"]


def test_invalidate_all_empties_the_iotlb(mapped) -> None:
    m, iommu, _ = mapped
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    commands(m, cmd_invalidate_all())
    assert iommu.iotlb_entries() == []


def test_prefetch_and_complete_ppr_are_accepted_without_events() -> None:
    m, iommu = make()
    program(m)
    commands(m, (0x6 << 60 | EDU_DEVID, 0), (0x7 << 60 | EDU_DEVID, 0))
    assert (rreg(m, 0x2000), events(iommu)) == (0x20, [])


def test_the_command_history_numbers_and_explains_each_command() -> None:
    m, iommu = make()
    program(m)
    commands(m, cmd_invalidate_devtab_entry(EDU_DEVID), cmd_completion_wait(SEM, 1))
    assert [(r.seq, r.command.name, r.outcome) for r in iommu.command_history()] == [
        (1, "INVALIDATE_DEVTAB_ENTRY", "devid 00:02.0: nothing flushed (QEMU keeps no DTE cache)"),
        (2, "COMPLETION_WAIT", f"stored 0x1 at {SEM:#x}"),
    ]


# -- translation ---------------------------------------------------------------------------


def test_dma_passes_untranslated_while_the_iommu_is_disabled() -> None:
    m, iommu = make()
    edu = m.device("edu0")
    assert isinstance(edu, PciDevice)
    assert edu.bus_master_alias is not None and edu.bus_master_alias.alias is m.system


def test_enabling_the_iommu_retargets_every_function_and_disabling_restores_them() -> None:
    m, iommu = make()
    edu = m.device("edu0")
    assert isinstance(edu, PciDevice)
    wreg(m, 0x18, 0x1)
    assert edu.bus_master_alias is not None
    on = edu.bus_master_alias.alias
    wreg(m, 0x18, 0x0)
    assert (on is not None and on.name, edu.bus_master_alias.alias) == ("amdvi_root", m.system)


def test_a_device_whose_dte_has_v_0_passes_untranslated() -> None:
    m, iommu = make()
    program(m)
    entry = iommu.translate(EDU_DEVID, 0x123456, WO)
    assert (entry.translated_addr, entry.perm) == (0x123000, RW)


def test_a_dte_with_tv_0_stops_the_walk_without_an_event() -> None:
    m, iommu = make()
    program(m)
    wq(m, DEVTAB + EDU_DEVID * 32, 1 | 3 << 61)
    entry = iommu.translate(EDU_DEVID, 0x5000, RO)
    assert (entry.perm, entry.fault and entry.fault.reason, events(iommu)) == (
        IOMMUPerm.NONE,
        "DTE[TV]=0: no page table, the walk stops (no event)",
        [],
    )


def test_qemu_72_passes_a_dte_with_tv_0_untranslated_with_its_permissions() -> None:
    m, iommu = make(qemu72=True)
    program(m)
    wq(m, DEVTAB + EDU_DEVID * 32, 1 | 1 << 61)  # V, IR only
    entry = iommu.translate(EDU_DEVID, 0x5000, RO)
    assert (entry.translated_addr, entry.perm) == (0x5000, RO)


def test_a_four_level_walk_translates_and_fills_the_iotlb(mapped) -> None:
    m, iommu, _ = mapped
    entry = iommu.translate(EDU_DEVID, 0x1000123, RO)
    assert (entry.translated_addr, entry.addr_mask, entry.perm) == (0x100000, 0xFFF, RW)
    assert [(v.devid, v.iova, v.translated_addr, v.domain_id) for v in iommu.iotlb_entries()] == [
        (EDU_DEVID, 0x1000000, 0x100000, 1)
    ]


def test_a_three_level_table_translates() -> None:
    m, iommu = make()
    program(m)
    iova = 0x40201000
    wq(m, 0x700000 + ((iova >> 30) & 0x1FF) * 8, encode_pte(0x701000, 2))
    wq(m, 0x701000 + ((iova >> 21) & 0x1FF) * 8, encode_pte(0x702000, 1))
    wq(m, 0x702000 + ((iova >> 12) & 0x1FF) * 8, encode_pte(0x123000, 0))
    attach(m, EDU_DEVID, 0x700000, mode=3)
    assert iommu.translate(EDU_DEVID, iova + 8, RO).translated_addr == 0x123000


def test_a_leaf_in_a_level_two_table_maps_a_2mib_page() -> None:
    m, iommu = make()
    program(m)
    wq(m, 0x700000, encode_pte(0x701000, 2))  # level 3 entry 0 -> level 2 table
    wq(m, 0x701000 + 0x11 * 8, encode_pte(0x800000, 0))  # level 2 entry 0x11: a 2 MiB leaf
    attach(m, EDU_DEVID, 0x700000, mode=3)
    entry = iommu.translate(EDU_DEVID, 0x2345678, RO)
    assert (entry.translated_addr, entry.addr_mask) == (0x800000, 0x1FFFFF)


def test_a_next_level_7_entry_encodes_its_page_size_by_the_first_zero_bit() -> None:
    m, iommu = make()
    program(m)
    # level 1 entry 4 with Next Level 7 and address bit 12 set, bit 13 clear: a 16 KiB page
    table4(m, 0x600000, 0x1004000, encode_pte(0x200000 | 0x1000, 7))
    attach(m, EDU_DEVID, 0x600000)
    entry = iommu.translate(EDU_DEVID, 0x1004345, RO)
    assert (entry.translated_addr, entry.addr_mask) == (0x200000, 0x3FFF)


def test_permissions_are_anded_at_every_level() -> None:
    m, iommu = make()
    program(m)
    table4(m, 0x600000, 0x1000000, encode_pte(0x100000, 0, RW), pde_perm=RO)
    attach(m, EDU_DEVID, 0x600000)
    entry = iommu.translate(EDU_DEVID, 0x1000000, WO)
    assert (entry.perm, [e.describe() for e in events(iommu)]) == (
        IOMMUPerm.NONE,
        ["IO_PAGE_FAULT devid 00:02.0 address 0x1000000 flags I,write"],
    )


def test_a_read_through_a_read_only_upper_level_caches_only_read() -> None:
    m, iommu = make()
    program(m)
    table4(m, 0x600000, 0x1000000, encode_pte(0x100000, 0, RW), pde_perm=RO)
    attach(m, EDU_DEVID, 0x600000)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert iommu.iotlb_entries()[0].perm == RO


def test_qemu_72_caches_the_leafs_permissions_past_a_read_only_upper_level() -> None:
    m, iommu = make(qemu72=True)
    program(m)
    table4(m, 0x600000, 0x1000000, encode_pte(0x100000, 0, RW), pde_perm=RO)
    attach(m, EDU_DEVID, 0x600000)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    # the write now hits the IOTLB with the leaf's RW: QEMU lets it through
    assert iommu.translate(EDU_DEVID, 0x1000000, WO).perm == RW


def test_a_zero_leaf_logs_an_io_page_fault() -> None:
    m, iommu = make()
    program(m)
    table4(m, 0x600000, 0x1000000, 0)
    attach(m, EDU_DEVID, 0x600000)
    entry = iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert entry.fault is not None
    assert (entry.fault.event, [e.describe() for e in events(iommu)]) == (
        "IO_PAGE_FAULT",
        ["IO_PAGE_FAULT devid 00:02.0 address 0x1000000 flags I,read"],
    )


def test_qemu_72_fails_a_zero_leaf_without_an_event(mapped) -> None:
    m, iommu = make(qemu72=True)
    m.engine.fixes.set("amdvi-event-log", True)  # so that an event would show
    program(m)
    table4(m, 0x600000, 0x1000000, 0)
    attach(m, EDU_DEVID, 0x600000)
    entry = iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert (entry.perm, iommu.event_history()) == (IOMMUPerm.NONE, [])


def test_a_write_to_a_read_only_leaf_logs_an_io_page_fault_with_the_write_flag() -> None:
    m, iommu = make()
    program(m)
    table4(m, 0x600000, 0x1000000, encode_pte(0x100000, 0, RO))
    attach(m, EDU_DEVID, 0x600000)
    iommu.translate(EDU_DEVID, 0x1000000, WO)
    assert [e.flags for e in events(iommu)] == [0x8 | 0x2]


def test_qemu_72_denies_a_write_to_a_read_only_leaf_without_an_event() -> None:
    m, iommu = make(qemu72=True)
    m.engine.fixes.set("amdvi-event-log", True)
    program(m)
    table4(m, 0x600000, 0x1000000, encode_pte(0x100000, 0, RO))
    attach(m, EDU_DEVID, 0x600000)
    entry = iommu.translate(EDU_DEVID, 0x1000000, WO)
    assert (entry.perm, entry.fault is not None, iommu.event_history()) == (RO, True, [])


def test_reserved_dte_bits_log_illegal_dev_table_entry() -> None:
    m, iommu = make()
    program(m)
    attach(m, EDU_DEVID, 0x600000)
    wq(m, DEVTAB + EDU_DEVID * 32 + 24, 1)  # quad 3 must be zero
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert [e.describe() for e in events(iommu)] == [
        f"ILLEGAL_DEV_TABLE_ENTRY devid 00:02.0 address {DEVTAB + EDU_DEVID * 32:#x}"
    ]


def test_an_iova_beyond_what_the_mode_maps_faults() -> None:
    m, iommu = make()
    program(m)
    attach(m, EDU_DEVID, 0x700000, mode=3)
    entry = iommu.translate(EDU_DEVID, 1 << 39, RO)
    assert entry.fault is not None and entry.fault.reason == (
        "the IOVA is beyond what a 3-level table maps"
    )


def test_a_device_table_in_unassigned_memory_logs_dev_tab_hw_error() -> None:
    m, iommu = make()
    program(m)
    wreg(m, 0x00, 0xC0000000 | 1)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert [e.name for e in events(iommu)] == ["DEV_TAB_HW_ERROR"]


def test_faults_set_signaled_target_abort_in_the_pci_status() -> None:
    m, iommu = make()
    program(m)
    table4(m, 0x600000, 0x1000000, 0)
    attach(m, EDU_DEVID, 0x600000)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert cfg_read(m, 1, 0x04) >> 16 == 0x0810


def test_io_page_faults_carry_the_devfn_not_the_full_device_id() -> None:
    m, iommu = make()
    program(m)
    attach(m, 0x0110, 0x600000)  # 01:02.0
    table4(m, 0x600000, 0x1000000, 0)
    iommu.translate(0x0110, 0x1000000, RO)
    assert events(iommu)[0].devid == 0x10  # amdvi_page_walk passes as->devfn


def test_the_msi_window_passes_writes_untranslated(mapped) -> None:
    m, iommu, _ = mapped
    edu = m.device("edu0")
    assert isinstance(edu, PciDevice) and edu.dma is not None
    assert edu.dma.store(0xFEE00000, 4, 0x4021) == OK
    assert m.msi_log[-1] == (0xFEE00000, 0x4021)


def test_failed_translations_are_not_cached() -> None:
    m, iommu = make()
    program(m)
    table4(m, 0x600000, 0x1000000, 0)
    attach(m, EDU_DEVID, 0x600000)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert iommu.iotlb_entries() == []


def test_the_iotlb_resets_when_1024_entries_are_full() -> None:
    m, iommu = make()
    program(m)
    attach(m, EDU_DEVID, 0x600000, mode=0)  # mode 0: identity, cached per 4 KiB page
    for page in range(1025):
        iommu.translate(EDU_DEVID, page << 12, RO)
    assert len(iommu.iotlb_entries()) == 1


def test_translation_traces_use_qemus_texts(mapped) -> None:
    m, iommu, _ = mapped
    m.engine.tracer.set_state("amdvi_*", True)
    iommu.translate(EDU_DEVID, 0x1000010, RO)
    iommu.translate(EDU_DEVID, 0x1000020, RO)
    assert trace_lines(m, "amdvi_") == [
        "amdvi_cache_update  update iotlb domid 0x1 devid: 00:02.0 gpa 0x1000010 hpa 0x100000",
        "amdvi_translation_result devid: 00:02.0 gpa 0x1000010 hpa 0x100000",
        "amdvi_iotlb_hit hit iotlb devid 00:02.0 gpa 0x1000020 hpa 0x100000",
        "amdvi_translation_result devid: 00:02.0 gpa 0x1000020 hpa 0x100000",
    ]


# -- IOTLB staleness -----------------------------------------------------------------------


def test_a_pte_change_without_invalidation_keeps_using_the_stale_entry(mapped) -> None:
    m, iommu, leaf = mapped
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    wq(m, leaf, encode_pte(0x300000, 0, RW))
    assert iommu.translate(EDU_DEVID, 0x1000000, RO).translated_addr == 0x100000


def test_invalidating_the_domain_makes_the_new_pte_visible(mapped) -> None:
    m, iommu, leaf = mapped
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    wq(m, leaf, encode_pte(0x300000, 0, RW))
    commands(m, cmd_invalidate_iommu_pages(1, 0x1000000), cmd_completion_wait(SEM, 1))
    assert iommu.translate(EDU_DEVID, 0x1000000, RO).translated_addr == 0x300000


# -- walk explanations ---------------------------------------------------------------------


def test_walk_explains_every_level(mapped) -> None:
    m, iommu, leaf = mapped
    w = iommu.walk(EDU_DEVID, 0x1000000, RO)
    assert [(s.kind, s.level, s.index, s.index_bits, s.entry_addr) for s in w.steps] == [
        ("dte", 4, EDU_DEVID, None, DEVTAB + EDU_DEVID * 32),
        ("pde", 4, 0, (47, 39), 0x600000),
        ("pde", 3, 0, (38, 30), 0x601000),
        ("pde", 2, 8, (29, 21), 0x602000 + 8 * 8),
        ("pte", 1, 0, (20, 12), leaf),
    ]
    assert (w.ok, w.mode, w.translated_addr, w.page_size) == (True, "translated", 0x100000, 4096)


def test_walk_decodes_the_dte_fields(mapped) -> None:
    m, iommu, _ = mapped
    dte = iommu.walk(EDU_DEVID, 0x1000000, RO).steps[0]
    assert dict(dte.fields) == {
        "V": 1, "TV": 1, "Mode": 4, "PTRoot": 0x600000, "IR": 1, "IW": 1, "DomainID": 1, "IV": 0,
    }  # fmt: skip


def test_walk_names_the_level_that_denies_the_access() -> None:
    m, iommu = make()
    program(m)
    table4(m, 0x600000, 0x1000000, encode_pte(0x100000, 0, RW), pde_perm=RO)
    attach(m, EDU_DEVID, 0x600000)
    w = iommu.walk(EDU_DEVID, 0x1000000, WO)
    assert (w.ok, w.event, w.reason, [s.perm_ok for s in w.steps]) == (
        False,
        "IO_PAGE_FAULT",
        "level 4 entry at 0x600000 leaves read, not write (permissions are AND-ed down the walk)",
        [True, False],
    )


def test_walk_has_no_side_effects() -> None:
    m, iommu = make()
    program(m)
    table4(m, 0x600000, 0x1000000, 0)
    attach(m, EDU_DEVID, 0x600000)
    w = iommu.walk(EDU_DEVID, 0x1000000, RO)
    assert (w.ok, iommu.event_history(), iommu.iotlb_entries()) == (False, [], [])


def test_walk_points_out_a_stale_iotlb_entry(mapped) -> None:
    m, iommu, leaf = mapped
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    wq(m, leaf, 0)
    w = iommu.walk(EDU_DEVID, 0x1000000, RO)
    assert (w.ok, w.iotlb is not None and w.iotlb.translated_addr, w.iotlb_note) == (
        False,
        0x100000,
        "hit: a device access uses this cached entry, which no longer matches the tables "
        "(stale until INVALIDATE_IOMMU_PAGES for its domain)",
    )


def test_walk_of_a_pci_function_uses_its_requester_id(mapped) -> None:
    m, iommu, _ = mapped
    edu = m.device("edu0")
    assert isinstance(edu, PciDevice)
    assert iommu.walk(edu, 0x1000000).devid == EDU_DEVID


def test_walk_reports_a_disabled_iommu() -> None:
    m, iommu = make()
    w = iommu.walk(EDU_DEVID, 0x1234, RO)
    assert (w.mode, w.ok, w.translated_addr) == ("disabled", True, 0x1234)


def test_walk_converts_to_json(mapped) -> None:
    m, iommu, _ = mapped
    data = json.loads(json.dumps(iommu.walk(EDU_DEVID, 0x1000000, WO).to_dict()))
    assert (data["devid"], data["perm"], data["steps"][4]["fields"]["Addr"]) == (
        "00:02.0",
        "write",
        0x100000,
    )


# -- the event log -------------------------------------------------------------------------


def test_an_io_page_fault_is_written_at_the_tail(mapped) -> None:
    m, iommu, leaf = mapped
    wq(m, leaf, 0)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert (rq(m, EVTLOG), rq(m, EVTLOG + 8), rreg(m, 0x2018)) == (
        0x2009 << 48 | EDU_DEVID,  # IO_PAGE_FAULT, I | read
        0x1000000,
        0x10,
    )


def test_event_log_int_and_the_msi_follow_event_int_en(mapped) -> None:
    m, iommu, leaf = mapped
    cfg_write(m, 1, 0x64, 0xFEE00000)
    cfg_write(m, 1, 0x60, 0x00815C05)
    wreg(m, 0x18, 0x100D)  # + EventIntEn
    wq(m, leaf, 0)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert (rreg(m, 0x2020) & 0x2, iommu.msi_count) == (0x2, 1)


def test_no_event_interrupt_without_event_int_en(mapped) -> None:
    m, iommu, leaf = mapped
    wq(m, leaf, 0)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert rreg(m, 0x2020) & 0x6 == 0


def test_a_full_event_log_sets_event_overflow_and_drops_the_event() -> None:
    m, iommu = make()
    wreg(m, 0x10, EVTLOG | 1 << 56)  # two entries: room for one (head == tail + 16 is full)
    wreg(m, 0x00, DEVTAB | 1)
    wreg(m, 0x18, 0x100D)
    table4(m, 0x600000, 0x1000000, 0)
    attach(m, EDU_DEVID, 0x600000)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert (rreg(m, 0x2020) & 0x1, [r.outcome for r in iommu.event_history()]) == (
        0x1,
        [f"written at {EVTLOG:#x}", "dropped: event log full (EventOverflow)"],
    )


def test_the_event_log_wraps_when_the_guest_consumes_it() -> None:
    m, iommu = make()
    wreg(m, 0x10, EVTLOG | 1 << 56)
    wreg(m, 0x00, DEVTAB | 1)
    wreg(m, 0x18, 0x1005)
    table4(m, 0x600000, 0x1000000, 0)
    attach(m, EDU_DEVID, 0x600000)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    wreg(m, 0x2010, 0x10)  # consumed
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert (rreg(m, 0x2018), rq(m, EVTLOG + 0x10 + 8)) == (0, 0x1000000)


def test_qemu_72_never_writes_an_event(mapped) -> None:
    m, iommu = make(qemu72=True)
    program(m)
    table4(m, 0x600000, 0x1000000, encode_pte(0x100000, 0, RW), pde_perm=RO)
    attach(m, EDU_DEVID, 0x600000)
    iommu.translate(EDU_DEVID, 0x1000000, WO)
    assert (rq(m, EVTLOG), rreg(m, 0x2018), iommu.event_history()[0].outcome) == (
        0,
        0,
        "dropped: QEMU 7.2 never writes events (fix amdvi-event-log)",
    )


def test_events_are_dropped_while_event_logging_is_off(mapped) -> None:
    m, iommu, leaf = mapped
    wreg(m, 0x18, 0x1001)
    wq(m, leaf, 0)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    assert iommu.event_history()[0].outcome == "dropped: event logging is off (EventLogEn)"


def test_writing_the_event_log_base_resets_head_and_tail() -> None:
    m, iommu = make()
    wreg(m, 0x2010, 0x20)
    wreg(m, 0x2018, 0x30)
    wreg(m, 0x10, EVTLOG | 8 << 56)
    assert (rreg(m, 0x2010), rreg(m, 0x2018)) == (0, 0)


# -- DMA through the IOMMU -----------------------------------------------------------------


def test_edu_reads_guest_memory_through_a_mapping(mapped) -> None:
    m, iommu, _ = mapped
    m.memory.write(0x100000, b"through the IOMMU")
    edu_dma(m, 0x1000000, 0x40000, 17, to_ram=False)
    edu = m.device("edu0")
    assert bytes(edu.dma_buf[:17]) == b"through the IOMMU"  # type: ignore[attr-defined]


def test_edu_writes_guest_memory_through_a_mapping(mapped) -> None:
    m, iommu, _ = mapped
    edu = m.device("edu0")
    edu.dma_buf[:4] = b"edu!"  # type: ignore[attr-defined]
    edu_dma(m, 0x40000, 0x1000000, 4, to_ram=True)
    assert m.memory.read(0x100000, 4) == (OK, b"edu!")


def test_edu_dma_from_an_unmapped_iova_fails_as_unassigned_memory(mapped) -> None:
    m, iommu, _ = mapped
    m.engine.tracer.set_log_items(["guest_errors"])
    edu_dma(m, 0x2000000, 0x40000, 4, to_ram=False)
    assert trace_lines(m, "Invalid") == [
        "Invalid read at addr 0x2000000, size 4, region '(null)', reason: rejected"
    ]
    assert [e.describe() for e in events(iommu)] == [
        "IO_PAGE_FAULT devid 00:02.0 address 0x2000000 flags I,read"
    ]


def test_a_refused_dma_carries_the_iommus_explanation(mapped) -> None:
    m, iommu, _ = mapped
    edu = m.device("edu0")
    assert isinstance(edu, PciDevice) and edu.dma is not None
    res = edu.dma.read(0x2000000, 4)
    assert res.fault is not None
    assert (res.result, res.fault.requester_id, res.fault.event) == (
        MemTxResult.DECODE_ERROR,
        EDU_DEVID,
        "IO_PAGE_FAULT",
    )


def test_system_reset_brings_back_pass_through_and_clears_the_registers(mapped) -> None:
    m, iommu, _ = mapped
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    m.system_reset()
    edu = m.device("edu0")
    assert isinstance(edu, PciDevice) and edu.bus_master_alias is not None
    assert (rreg(m, 0x18), rreg(m, 0x30), iommu.iotlb_entries(), edu.bus_master_alias.alias) == (
        0,
        0x29D3,
        [],
        m.system,
    )


# -- in-flight DMA against invalidation (scenario d) ---------------------------------------


def _race(drain: bool) -> tuple[Machine, AmdIommu, AmdIommuDriver, int]:
    """edu (map_dma) maps IOVA 0x1000000 at command time; the guest then unmaps it and
    waits for completion; returns the completion result's value seen at once."""
    m = Machine(devices=["amd-iommu", "edu,id=edu0,map_dma=on"])
    m.engine.fixes.set("iommu-inval-drain", drain)
    iommu = find_iommu(m)
    assert iommu is not None
    enable_edu(m)
    drv = AmdIommuDriver(m)
    drv.setup()
    edu = m.device("edu0")
    assert isinstance(edu, PciDevice)
    drv.map(edu, 0x1000000, 0x100000, 0x1000)
    edu.dma_buf[:8] = b"DEVICE!!"  # type: ignore[attr-defined]
    for off, value in ((0x80, 0x40000), (0x88, 0x1000000), (0x90, 8), (0x98, 0x3)):
        m.memory.store(EDU_BAR + off, 8, value)
    res = drv.unmap(edu, 0x1000000, 0x1000)
    assert res.invalidation is not None
    return m, iommu, drv, int(res.invalidation.completed)


def test_without_drain_the_completion_wait_signals_while_dma_is_in_flight() -> None:
    m, iommu, drv, done = _race(drain=False)
    m.memory.write(0x100000, (0x1122334455667788).to_bytes(8, "little"))  # guest reuses it
    m.step(200_000_000)
    assert (done, m.memory.read(0x100000, 8)[1], m.engine.dma.reports) == (
        1,
        b"DEVICE!!",
        ["edu0: mapping #1 written through a translation the IOMMU already invalidated "
         "(iova 0x1000000)"],
    )  # fmt: skip


def test_with_drain_the_completion_wait_waits_for_the_in_flight_mapping() -> None:
    m, iommu, drv, done = _race(drain=True)
    sem_before = rq(m, drv.semaphore)
    m.step(200_000_000)
    assert (done, sem_before, rq(m, drv.semaphore), m.engine.dma.reports) == (0, 2, 3, [])


def test_a_deferred_completion_wait_keeps_the_head_on_it() -> None:
    m, iommu, drv, _ = _race(drain=True)
    head = rreg(m, 0x2000)
    m.step(200_000_000)
    assert (head, rreg(m, 0x2000), iommu.stalled) == (0x50, 0x60, False)


def test_drain_traces_the_deferral_and_the_resumption() -> None:
    m = Machine(devices=["amd-iommu", "edu,id=edu0,map_dma=on"])
    m.engine.tracer.set_state("amdvi_completion_wait_d*", True)
    m.engine.fixes.set("iommu-inval-drain", True)
    enable_edu(m)
    drv = AmdIommuDriver(m)
    drv.setup()
    edu = m.device("edu0")
    assert isinstance(edu, PciDevice)
    drv.map(edu, 0x1000000, 0x100000, 0x1000)
    for off, value in ((0x80, 0x40000), (0x88, 0x1000000), (0x90, 8), (0x98, 0x3)):
        m.memory.store(EDU_BAR + off, 8, value)
    drv.unmap(edu, 0x1000000, 0x1000)
    m.step(200_000_000)
    assert trace_lines(m, "amdvi_completion_wait_d") == [
        "amdvi_completion_wait_deferred completion wait deferred: 1 in-flight mapping(s) of "
        "domain 1 still use invalidated translations",
        "amdvi_completion_wait_drained completion wait resumed: in-flight mappings released "
        "after 100000000 ns",
    ]


def test_drain_does_not_wait_for_mappings_outside_the_invalidated_range() -> None:
    m, iommu = make()
    m.engine.fixes.set("iommu-inval-drain", True)
    enable_edu(m)
    drv = AmdIommuDriver(m)
    drv.setup()
    edu = m.device("edu0")
    assert isinstance(edu, PciDevice) and edu.dma is not None
    drv.map(edu, 0x1000000, 0x100000, 0x2000)
    _, held = edu.dma.map(0x1001000, 8, True)
    res = drv.unmap(edu, 0x1000000, 0x1000)
    assert held is not None and res.invalidation is not None
    assert res.invalidation.completed


def test_drain_does_not_wait_for_another_domains_mappings() -> None:
    m, iommu = make("edu,id=edu1")
    m.engine.fixes.set("iommu-inval-drain", True)
    enable_edu(m)
    cfg_write(m, 3, 0x04, 0x0004, 2)
    drv = AmdIommuDriver(m)
    drv.setup()
    edu0, edu1 = m.device("edu0"), m.device("edu1")
    assert isinstance(edu0, PciDevice) and isinstance(edu1, PciDevice) and edu1.dma is not None
    drv.map(edu0, 0x1000000, 0x100000, 0x1000)
    drv.map(edu1, 0x1000000, 0x200000, 0x1000)
    _, held = edu1.dma.map(0x1000000, 8, True)
    res = drv.unmap(edu0, 0x1000000, 0x1000)
    assert held is not None and res.invalidation is not None and res.invalidation.completed


# -- the guest-driver helper ---------------------------------------------------------------


def test_driver_setup_programs_the_structures_in_its_reserved_range() -> None:
    m, iommu = make()
    drv = AmdIommuDriver(m)
    drv.setup()
    base = 0x8000000 - (2 << 20)  # top 2 MiB of the 128 MiB below 4 GiB
    assert (rreg(m, 0x00), rreg(m, 0x08), rreg(m, 0x10), rreg(m, 0x18)) == (
        base | 1,
        (base + 0x2000) | 8 << 56,
        (base + 0x3000) | 8 << 56,
        0x1005,
    )


def test_driver_map_writes_a_leaf_the_walk_finds() -> None:
    m, iommu = make()
    drv = AmdIommuDriver(m)
    drv.setup()
    res = drv.map(EDU_DEVID, 0x1000000, 0x100000, 0x1000, "r")
    w = iommu.walk(EDU_DEVID, 0x1000000, RO)
    assert (w.steps[-1].entry_addr, w.translated_addr, w.granted) == (res.ptes[0], 0x100000, RO)


def test_driver_pte_address_names_the_leaf() -> None:
    m, iommu = make()
    drv = AmdIommuDriver(m)
    drv.setup()
    res = drv.map(EDU_DEVID, 0x1000000, 0x100000, 0x1000)
    assert drv.pte_address(EDU_DEVID, 0x1000000) == res.ptes[0]


def test_driver_unmap_clears_the_leaf_and_the_iotlb() -> None:
    m, iommu = make()
    drv = AmdIommuDriver(m)
    drv.setup()
    res = drv.map(EDU_DEVID, 0x1000000, 0x100000, 0x1000)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    drv.unmap(EDU_DEVID, 0x1000000, 0x1000)
    assert (rq(m, res.ptes[0]), iommu.iotlb_entries()) == (0, [])


def test_driver_map_without_invalidation_leaves_the_iotlb_stale() -> None:
    m, iommu = make()
    drv = AmdIommuDriver(m)
    drv.setup()
    drv.map(EDU_DEVID, 0x1000000, 0x100000, 0x1000)
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    drv.map(EDU_DEVID, 0x1000000, 0x300000, 0x1000, invalidate=False)
    assert iommu.translate(EDU_DEVID, 0x1000000, RO).translated_addr == 0x100000


def test_driver_maps_2mib_pages() -> None:
    m, iommu = make()
    drv = AmdIommuDriver(m)
    drv.setup()
    drv.map(EDU_DEVID, 0x40000000, 0x200000, 0x200000, page_size=0x200000)
    assert iommu.translate(EDU_DEVID, 0x40012345, RO).translated_addr == 0x200000


def test_driver_rejects_misaligned_addresses() -> None:
    m, _ = make()
    drv = AmdIommuDriver(m)
    drv.setup()
    with pytest.raises(DriverError, match=r"^IOVA 0x1000010 and GPA 0x100000 must be"):
        drv.map(EDU_DEVID, 0x1000010, 0x100000, 0x1000)


def test_driver_needs_setup_first() -> None:
    m, _ = make()
    with pytest.raises(DriverError, match=r"^the IOMMU is not set up by this driver"):
        AmdIommuDriver(m).map(EDU_DEVID, 0, 0, 0x1000)


def test_driver_needs_an_iommu() -> None:
    with pytest.raises(DriverError, match=r"^no amd-iommu device"):
        AmdIommuDriver(Machine())


def test_driver_commands_wait_while_translation_is_off() -> None:
    m, _ = make()
    drv = AmdIommuDriver(m)
    drv.setup(enable=False)
    res = drv.flush()
    assert (res.completed, res.note) == (
        False,
        "translation is off: the commands run when it is turned on",
    )


def test_driver_reads_and_consumes_events(mapped) -> None:
    m, iommu = make()
    drv = AmdIommuDriver(m)
    drv.setup()
    drv.map(EDU_DEVID, 0x1000000, 0x100000, 0x1000)
    iommu.translate(EDU_DEVID, 0x5000000, RO)
    got = drv.read_events(consume=True)
    assert ([e.name for e in got], drv.read_events()) == (["IO_PAGE_FAULT"], [])


# -- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("addr", "size", "field", "s"),
    [
        (0x1000000, 0x1000, 0x1000000, False),
        (0x1000000, 0x2000, 0x1000000, True),
        (0x1000000, 0x4000, 0x1001000, True),
        (0x1001000, 0x2000, 0x1001000, True),  # straddles 8 KiB: widened to 16 KiB
        (0, 1 << 52, 0x7FFF_FFFF_FFFF_F000, True),
    ],
)
def test_invalidation_address_encodes_the_range_with_the_s_bit(
    addr: int, size: int, field: int, s: bool
) -> None:
    assert invalidation_address(addr, size) == (field, s)


def test_decoding_an_invalidation_address_gives_back_the_aligned_range() -> None:
    field, s = invalidation_address(0x1001000, 0x2000)
    assert decode_invalidation_range(field, s) == (0x1000000, 0x1004000)


def test_a_completion_wait_decodes_to_plain_words() -> None:
    assert decode_command(*cmd_completion_wait(0x840000, 1, interrupt=True)).describe() == (
        "COMPLETION_WAIT store=0x840000 data=1 S=1 I=1"
    )


def test_an_io_page_fault_entry_decodes_to_plain_words() -> None:
    assert decode_event(*encode_event(2, 0x10, 0x2000000, 0x8 | 2)).describe() == (
        "IO_PAGE_FAULT devid 00:02.0 address 0x2000000 flags I,write"
    )


# -- views for the monitor -----------------------------------------------------------------


def test_devices_view_lists_each_requester_id_with_its_dte() -> None:
    m, iommu = make()
    drv = AmdIommuDriver(m)
    drv.setup()
    drv.map(EDU_DEVID, 0x1000000, 0x100000, 0x1000)
    views = {v.devid: v for v in iommu.devices_view()}
    edu = views[EDU_DEVID]
    assert (edu.functions, edu.translated, edu.dte is not None and edu.dte.domain_id) == (
        ("edu0",),
        True,
        1,
    )


def test_domains_view_groups_devices_by_domain() -> None:
    m, iommu = make("edu,id=edu1")
    drv = AmdIommuDriver(m)
    drv.setup()
    drv.attach(EDU_DEVID, 5)
    drv.attach(0x18, 5)
    assert [(d.domain_id, d.devids) for d in iommu.domains_view()] == [(5, (EDU_DEVID, 0x18))]


def test_decode_registers_splits_control_into_fields() -> None:
    m, iommu = make()
    wreg(m, 0x18, 0x1005)
    control = next(r for r in iommu.decode_registers() if r.name == "control")
    assert dict(control.fields)["cmd_buf_en"] == 1 and control.offset == 0x18


def test_the_driver_that_set_up_the_iommu_is_found_again() -> None:
    m, _ = make()
    drv = AmdIommuDriver(m)
    drv.setup()
    assert AmdIommuDriver.of(m) is drv


def test_amd_iommu_takes_no_pci_address_as_in_qemu() -> None:
    with pytest.raises(ConfigError, match=r"^Property 'amd-iommu\.addr' not found$"):
        Machine(devices=["amd-iommu,addr=5"])


# -- composition: info records, typed properties, the walk's RAM cache ---------------------


def test_the_walk_reads_the_device_table_again_after_a_topology_change(mapped) -> None:
    from dmamon.memory import MemoryRegion, MmioOps

    m, iommu, _ = mapped
    assert iommu.translate(EDU_DEVID, 0x1000234, RO).translated_addr == 0x100000
    # A region over the device table (reads 0: DTE[V]=0) must be seen by the next walk,
    # although the last one read the table straight from RAM.
    hole = MemoryRegion.io_region("hole", 0x1000, MmioOps(read=lambda off, size: 0))
    m.system.add_subregion(DEVTAB, hole, priority=10)
    iommu.iotlb_flush()
    e = iommu.translate(EDU_DEVID, 0x1000234, RO)
    assert (e.translated_addr, e.perm) == (0x1000000, RW)  # untranslated
    m.system.del_subregion(hole)
    iommu.iotlb_flush()
    assert iommu.translate(EDU_DEVID, 0x1000234, RO).translated_addr == 0x100000


def test_info_gives_typed_records_that_render_as_text_and_json(mapped) -> None:
    from dataclasses import asdict

    from dmamon.devices.amdvi.info import AmdIommuInfo, info_lines

    m, iommu, _ = mapped
    iommu.translate(EDU_DEVID, 0x1000000, RO)
    info = iommu.info()
    assert isinstance(info, AmdIommuInfo)
    data = json.loads(json.dumps(asdict(info)))
    assert data["state"] == iommu.state()
    assert data["mmio_base"] == MMIO and data["state"]["enabled"] is True
    assert [e["iova"] for e in data["iotlb"]] == [0x1000000]
    (edu,) = [d for d in data["devices"] if d["devid"] == EDU_DEVID]
    assert edu["functions"] == ["edu0"] and edu["translated"] is True
    assert data["domains"] == [
        {"domain_id": 1, "devids": [EDU_DEVID], "roots": [0x600000], "iotlb_entries": 1}
    ]
    lines = info_lines(info)
    assert lines[0] == "mmio 0xfed80000+0x4000, DMA translated, IOTLB 1 entries"
    assert "  00:02.0 0x1000000 -> 0x100000 0x1000 domain 1 perm 3" in lines
    assert "  1: devices 00:02.0, roots 0x600000, 1 IOTLB entries" in lines


def test_properties_are_a_typed_frozen_record() -> None:
    from dmamon.devices.amdvi.device import AmdIommuProps

    m = Machine(devices=["amd-iommu,intremap=off,pt=off"])
    iommu = find_iommu(m)
    assert iommu is not None
    assert iommu.properties == AmdIommuProps(intremap="off", device_iotlb=False, pt=False)


def test_control_bit_constants_come_from_the_register_bank() -> None:
    from dmamon.devices.amdvi import registers as r

    bits = [r.CTRL_IOMMU_EN, r.CTRL_EVENT_LOG_EN, r.CTRL_EVENT_INT_EN, r.CTRL_COM_WAIT_INT_EN]
    assert bits + [r.CTRL_CMD_BUF_EN] == [0x1, 0x4, 0x8, 0x10, 0x1000]
