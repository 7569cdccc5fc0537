"""Address spaces: RAM, ROM, unassigned space, MMIO splitting and widening, guest_errors
lines, map/unmap and IOMMU translation (memory/address_space.py).

Expected values follow QEMU 7.2: softmmu/physmem.c flatview_read_continue (RAM is clipped at
its range end, an I/O access goes whole to the region of its first byte),
softmmu/memory.c memory_access_size / access_with_adjusted_size /
memory_region_access_valid, and the unassigned region (max access 4, always rejects).
"""

from __future__ import annotations

import struct

import pytest
from dmamon.memory import (
    AddressSpace,
    Engine,
    IOMMUFault,
    IOMMUPerm,
    IOMMUTLBEntry,
    MemoryRegion,
    MemReentrancyGuard,
    MemTxAttrs,
    MemTxResult,
    MmioOps,
)

OK = MemTxResult.OK
DECODE = MemTxResult.DECODE_ERROR


class Owner:
    """The little a region's owner must offer the kernel."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.guard = MemReentrancyGuard()


class Regs:
    """A byte-addressed register file that records every callback."""

    def __init__(self, size: int = 0x100) -> None:
        self.mem = bytearray(size)
        for i in range(size):
            self.mem[i] = (i * 7 + 1) & 0xFF
        self.calls: list[tuple[str, int, int]] = []

    def read(self, off: int, size: int) -> int:
        self.calls.append(("r", off, size))
        return int.from_bytes(self.mem[off : off + size].ljust(size, b"\0"), "little")

    def write(self, off: int, value: int, size: int) -> None:
        self.calls.append(("w", off, size))
        self.mem[off : off + size] = value.to_bytes(size, "little")

    def value(self, off: int, size: int) -> int:
        return int.from_bytes(self.mem[off : off + size], "little")


def build(
    *,
    ram_size: int = 0x10000,
    ops: MmioOps | None = None,
    dev_at: int = 0x100000,
    dev_size: int = 0x100,
) -> tuple[AddressSpace, Engine, MemoryRegion]:
    """RAM at 0, a ROM at 0x80000, an I/O region at ``dev_at``; returns (space, engine, dev)."""
    engine = Engine()
    root = MemoryRegion.container("system")
    root.add_subregion(0, MemoryRegion.ram_region("pc.ram", ram_size))
    root.add_subregion(0x80000, MemoryRegion.rom_region("pc.bios", 0x1000, b"\xaa" * 0x1000))
    dev = MemoryRegion.io_region("dev", dev_size, ops or MmioOps(), owner=Owner("dev0"))
    root.add_subregion(dev_at, dev)
    return AddressSpace("memory", root, engine), engine, dev


def regs_ops(regs: Regs, **kw: int | bool) -> MmioOps:
    return MmioOps(read=regs.read, write=regs.write, **kw)  # type: ignore[arg-type]


def guest_errors(engine: Engine) -> list[str]:
    return [r.text for r in engine.tracer.ring if r.name == "guest_errors"]


def logging_engine(engine: Engine) -> Engine:
    engine.tracer.set_log_items(["guest_errors"])
    return engine


# -- RAM, ROM, holes ---------------------------------------------------------------------


def test_ram_reads_back_what_was_written() -> None:
    space, _, _ = build()
    assert space.write(0x1234, b"hello") == OK
    assert space.read(0x1234, 5) == (OK, b"hello")


def test_rom_ignores_guest_writes_without_an_error() -> None:
    space, _, _ = build()
    assert space.write(0x80010, b"\x00\x01") == OK
    assert space.read(0x80010, 2) == (OK, b"\xaa\xaa")
    assert space.store(0x80010, 4, 0) == OK
    assert space.load(0x80010, 4) == (OK, 0xAAAAAAAA)


def test_reading_unassigned_space_gives_zeros_and_a_decode_error() -> None:
    space, _, _ = build()
    assert space.read(0x2000000C, 4) == (DECODE, bytes(4))
    assert space.load(0x2000000C, 4) == (DECODE, 0)
    assert space.write(0x2000000C, b"\x01") == DECODE


def test_unassigned_accesses_log_qemus_line_only_with_guest_errors() -> None:
    space, engine, _ = build()
    space.read(0x2000000C, 4)
    assert guest_errors(engine) == []
    logging_engine(engine)
    space.read(0x2000000C, 4)
    assert guest_errors(engine) == [
        "Invalid read at addr 0x2000000C, size 4, region '(null)', reason: rejected"
    ]


def test_unassigned_space_is_accessed_in_aligned_pieces_of_at_most_4_bytes() -> None:
    space, engine, _ = build()
    logging_engine(engine)
    space.read(0x2000000C, 8)
    space.read(0x20000002, 8)
    space.write(0x20000003, b"\x01\x00")
    assert guest_errors(engine) == [
        "Invalid read at addr 0x2000000C, size 4, region '(null)', reason: rejected",
        "Invalid read at addr 0x20000010, size 4, region '(null)', reason: rejected",
        "Invalid read at addr 0x20000002, size 2, region '(null)', reason: rejected",
        "Invalid read at addr 0x20000004, size 4, region '(null)', reason: rejected",
        "Invalid read at addr 0x20000008, size 2, region '(null)', reason: rejected",
        "Invalid write at addr 0x20000003, size 1, region '(null)', reason: rejected",
        "Invalid write at addr 0x20000004, size 1, region '(null)', reason: rejected",
    ]


def test_an_access_running_off_the_end_of_ram_fails_only_for_the_hole() -> None:
    space, engine, _ = build(ram_size=0x10000)
    logging_engine(engine)
    space.write(0xFFFC, b"\x11\x22\x33\x44")
    out = space.access(0xFFFC, memoryview(bytearray(8)), False)
    assert out.result == DECODE and out.fail_addr == 0x10000
    assert space.read(0xFFFC, 8) == (DECODE, b"\x11\x22\x33\x44" + bytes(4))
    assert space.load(0xFFFC, 8) == (DECODE, 0x44332211)
    assert guest_errors(engine)[-1] == (
        "Invalid read at addr 0x10000, size 4, region '(null)', reason: rejected"
    )


def test_the_bus_wraps_at_2_pow_64() -> None:
    space, _, _ = build()
    space.write(0, b"\x5a\x5b")
    assert space.read((1 << 64) + 0, 2) == (OK, b"\x5a\x5b")


# -- MMIO: splitting, widening, validity ---------------------------------------------------


def test_an_mmio_read_larger_than_valid_max_is_split_in_valid_max_pieces() -> None:
    regs = Regs()
    space, _, _ = build(ops=regs_ops(regs, valid_max=4, impl_max=4))
    assert space.read(0x100000, 8) == (OK, bytes(regs.mem[0:8]))
    assert regs.calls == [("r", 0, 4), ("r", 4, 4)]


def test_valid_max_0_means_4() -> None:
    regs = Regs()
    space, _, _ = build(ops=regs_ops(regs, valid_min=1, valid_max=0, impl_max=8))
    space.read(0x100000, 8)
    assert regs.calls == [("r", 0, 4), ("r", 4, 4)]


def test_a_misaligned_mmio_access_is_cut_to_its_alignment() -> None:
    regs = Regs()
    space, _, _ = build(ops=regs_ops(regs, valid_max=4, impl_max=4))
    assert space.load(0x100002, 4) == (OK, regs.value(2, 4))
    assert regs.calls == [("r", 2, 2), ("r", 4, 2)]


def test_impl_unaligned_regions_take_misaligned_accesses_whole() -> None:
    regs = Regs()
    ops = regs_ops(regs, valid_max=4, impl_max=4, valid_unaligned=True, impl_unaligned=True)
    space, _, _ = build(ops=ops)
    assert space.load(0x100003, 4) == (OK, regs.value(3, 4))
    assert regs.calls == [("r", 3, 4)]


def test_a_narrow_access_is_widened_to_impl_min_and_the_low_bytes_are_kept() -> None:
    regs = Regs()
    space, _, _ = build(ops=regs_ops(regs, valid_min=1, valid_max=4, impl_min=4, impl_max=4))
    assert space.load(0x100004, 1) == (OK, regs.mem[4])
    assert space.store(0x100008, 2, 0xBEEF) == OK
    assert regs.calls == [("r", 4, 4), ("w", 8, 4)]
    assert regs.value(8, 4) == 0xBEEF


def test_a_wide_access_is_split_to_impl_max_little_endian() -> None:
    regs = Regs()
    space, _, _ = build(ops=regs_ops(regs, valid_max=8, impl_min=1, impl_max=2))
    assert space.load(0x100010, 8) == (OK, regs.value(0x10, 8))
    assert space.store(0x100020, 8, 0x8877665544332211) == OK
    assert regs.calls == [("r", 0x10, 2), ("r", 0x12, 2), ("r", 0x14, 2), ("r", 0x16, 2)] + [
        ("w", 0x20, 2),
        ("w", 0x22, 2),
        ("w", 0x24, 2),
        ("w", 0x26, 2),
    ]
    assert regs.mem[0x20:0x28] == bytes.fromhex("1122334455667788")


def test_an_mmio_access_crossing_the_region_end_goes_whole_to_the_region() -> None:
    regs = Regs(0x110)
    space, _, _ = build(ops=regs_ops(regs, valid_max=4), dev_size=0x100)
    space.read(0x1000FE, 2)
    assert regs.calls == [("r", 0xFE, 2)]


def test_a_size_outside_valid_logs_invalid_size_and_reads_zero() -> None:
    regs = Regs()
    space, engine, _ = build(ops=regs_ops(regs, valid_min=4, valid_max=8, impl_min=4, impl_max=8))
    logging_engine(engine)
    assert space.load(0x100000, 1) == (DECODE, 0)
    assert space.store(0x100001, 1, 5) == DECODE
    assert space.load(0x100002, 4) == (DECODE, 0)  # cut to 2 by alignment, then too small
    assert regs.calls == []
    assert guest_errors(engine) == [
        "Invalid read at addr 0x0, size 1, region 'dev', reason: invalid size (min:4 max:8)",
        "Invalid write at addr 0x1, size 1, region 'dev', reason: invalid size (min:4 max:8)",
        "Invalid read at addr 0x2, size 2, region 'dev', reason: invalid size (min:4 max:8)",
        "Invalid read at addr 0x4, size 2, region 'dev', reason: invalid size (min:4 max:8)",
    ]


def test_a_misaligned_access_to_an_impl_unaligned_region_logs_unaligned() -> None:
    regs = Regs()
    ops = regs_ops(regs, valid_max=4, impl_max=4, impl_unaligned=True)
    space, engine, _ = build(ops=ops)
    logging_engine(engine)
    assert space.read(0x1000A2, 4) == (DECODE, bytes(4))
    assert guest_errors(engine) == [
        "Invalid read at addr 0xA2, size 4, region 'dev', reason: unaligned"
    ]


def test_an_access_the_accepts_callback_refuses_logs_rejected() -> None:
    regs = Regs()
    seen: list[tuple[int, int, bool, MemTxAttrs]] = []

    def accepts(off: int, size: int, is_write: bool, attrs: MemTxAttrs) -> bool:
        seen.append((off, size, is_write, attrs))
        return off != 0x40

    space, engine, _ = build(
        ops=regs_ops(regs, valid_max=4)
        if False
        else MmioOps(read=regs.read, write=regs.write, accepts=accepts)
    )
    logging_engine(engine)
    attrs = MemTxAttrs(requester_id=0x18)
    assert space.store(0x100040, 4, 1, attrs) == DECODE
    assert space.store(0x100044, 4, 1, attrs) == OK
    assert seen == [(0x40, 4, True, attrs), (0x44, 4, True, attrs)]
    assert guest_errors(engine) == [
        "Invalid write at addr 0x40, size 4, region 'dev', reason: rejected"
    ]


def test_with_attrs_callbacks_see_the_attributes_and_their_results_are_ored() -> None:
    got: list[MemTxAttrs] = []

    def read_with_attrs(off: int, size: int, attrs: MemTxAttrs) -> tuple[MemTxResult, int]:
        got.append(attrs)
        return (MemTxResult.ERROR if off == 4 else OK), 0x11

    def write_with_attrs(off: int, value: int, size: int, attrs: MemTxAttrs) -> MemTxResult:
        got.append(attrs)
        return MemTxResult.ACCESS_ERROR

    ops = MmioOps(read_with_attrs=read_with_attrs, write_with_attrs=write_with_attrs, valid_max=8)
    space, _, _ = build(ops=ops)
    attrs = MemTxAttrs(requester_id=0x08)
    assert space.load(0x100000, 8, attrs) == (MemTxResult.ERROR, 0x0000001100000011)
    assert space.store(0x100000, 4, 0, attrs) == MemTxResult.ACCESS_ERROR
    assert got == [attrs, attrs, attrs]


def test_load_and_store_agree_with_read_and_write_everywhere() -> None:
    regs = Regs()
    space, _, _ = build(ram_size=0x10000, ops=regs_ops(regs, valid_max=8, impl_max=8))
    space.write(0xFFF0, bytes(range(16)))
    for addr in (0x0FF8, 0xFFFC, 0xFFFE, 0x80000, 0x100000, 0x100003, 0x100006, 0x2000000):
        for size in (1, 2, 4, 8):
            res, data = space.read(addr, size)
            assert space.load(addr, size) == (res, int.from_bytes(data, "little")), (addr, size)


def test_store_truncates_the_value_to_its_width() -> None:
    space, _, _ = build()
    space.store(0x100, 2, 0x123456)
    assert space.read(0x100, 4) == (OK, b"\x56\x34\x00\x00")


def test_ops_read_and_write_events_trace_each_piece_with_the_absolute_address() -> None:
    regs = Regs()
    space, engine, dev = build(ops=regs_ops(regs, valid_max=8, impl_max=4))
    engine.tracer.set_state("memory_region_ops_*", True)
    space.load(0x100008, 8)
    space.store(0x100010, 2, 0xABCD)
    traces = [r.text for r in engine.tracer.ring if r.kind == "trace"]
    v0, v1 = regs.value(8, 4), regs.value(12, 4)
    mr = "cpu -1 mr 0x1"  # numbered per machine, in the order traces first meet regions
    assert traces == [
        f"memory_region_ops_read {mr} addr 0x100008 value {v0:#x} size 4 name 'dev'",
        f"memory_region_ops_read {mr} addr 0x10000c value {v1:#x} size 4 name 'dev'",
        f"memory_region_ops_write {mr} addr 0x100010 value 0xabcd size 2 name 'dev'",
    ]


# -- map / unmap ---------------------------------------------------------------------------


def test_mapping_ram_gives_a_direct_view_of_guest_memory() -> None:
    space, _, _ = build()
    res, m, fault = space.map(0x2000, 0x100, True)
    assert res == OK and m is not None and fault is None
    assert not m.bounce and m.length == 0x100
    m.view[0:4] = b"\xde\xad\xbe\xef"
    assert space.read(0x2000, 4) == (OK, b"\xde\xad\xbe\xef")
    assert space.unmap(m, 4) == OK


def test_a_ram_mapping_stops_where_the_ram_ends() -> None:
    space, _, _ = build(ram_size=0x10000)
    _, m, _ = space.map(0xFF00, 0x1000, False)
    assert m is not None and m.length == 0x100 and not m.bounce


def test_mapping_mmio_uses_the_bounce_buffer_filled_by_a_read() -> None:
    regs = Regs()
    space, _, _ = build(ops=regs_ops(regs, valid_max=4))
    res, m, _ = space.map(0x100000, 8, False)
    assert res == OK and m is not None and m.bounce
    assert bytes(m.view) == bytes(regs.mem[0:8])
    calls = list(regs.calls)
    assert space.unmap(m, 8) == OK
    assert regs.calls == calls  # a read mapping is not written back


def test_a_write_bounce_buffer_is_written_back_on_unmap_up_to_access_len() -> None:
    regs = Regs()
    space, _, _ = build(ops=regs_ops(regs, valid_max=4))
    _, m, _ = space.map(0x100010, 8, True)
    assert m is not None and m.bounce and regs.calls == []
    m.view[0:8] = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    assert space.unmap(m, 4) == OK
    assert regs.calls == [("w", 0x10, 4)]
    assert regs.mem[0x10:0x14] == b"\x01\x02\x03\x04"


def test_writing_rom_through_a_mapping_bounces_and_is_dropped() -> None:
    space, _, _ = build()
    _, m, _ = space.map(0x80000, 4, True)
    assert m is not None and m.bounce
    m.view[0:4] = bytes(4)
    space.unmap(m, 4)
    assert space.read(0x80000, 4) == (OK, b"\xaa" * 4)


def test_the_bounce_buffer_has_one_user_at_a_time() -> None:
    space, _, _ = build(ops=MmioOps(valid_max=4))
    _, first, _ = space.map(0x100000, 4, False)
    assert first is not None and first.bounce
    res, second, _ = space.map(0x100000, 4, False)
    assert res == MemTxResult.ERROR and second is None
    space.unmap(first, 0)
    _, third, _ = space.map(0x100000, 4, False)
    assert third is not None and third.bounce


def test_a_bounce_mapping_is_at_most_one_page() -> None:
    space, _, _ = build(ops=MmioOps(valid_max=4), dev_size=0x4000)
    _, m, _ = space.map(0x100000, 0x3000, False)
    assert m is not None and m.length == 0x1000


def test_mapping_zero_bytes_is_an_error() -> None:
    space, _, _ = build()
    assert space.map(0, 0, False) == (MemTxResult.ERROR, None, None)


# -- IOMMU windows -------------------------------------------------------------------------


class FakeIOMMU:
    """Page 0x1000 -> 0x5000 read/write, page 0x2000 -> 0x6000 read-only, others fault."""

    def __init__(self, target: AddressSpace) -> None:
        self.target = target
        self.asked: list[tuple[int, IOMMUPerm, MemTxAttrs]] = []

    def translate(self, iova: int, perm: IOMMUPerm, attrs: MemTxAttrs) -> IOMMUTLBEntry:
        self.asked.append((iova, perm, attrs))
        page = iova & ~0xFFF
        table = {0x1000: (0x5000, IOMMUPerm.RW), 0x2000: (0x6000, IOMMUPerm.RO)}
        if page in table:
            phys, p = table[page]
            if p & perm:
                return IOMMUTLBEntry(self.target, page, phys, 0xFFF, p)
        rid = attrs.requester_id or 0
        fault = IOMMUFault(rid, iova, perm, "not present", "IO_PAGE_FAULT")
        return IOMMUTLBEntry(None, page, 0, 0xFFF, IOMMUPerm.NONE, fault)


def iommu_space() -> tuple[AddressSpace, AddressSpace, FakeIOMMU, Engine]:
    engine = Engine()
    sysroot = MemoryRegion.container("system")
    sysroot.add_subregion(0, MemoryRegion.ram_region("pc.ram", 0x10000))
    system = AddressSpace("memory", sysroot, engine)
    iommu = FakeIOMMU(system)
    dev_root = MemoryRegion.container("dev-root")
    dev_root.add_subregion(0, MemoryRegion.iommu_region("iommu", 1 << 64, iommu))
    return AddressSpace("edu", dev_root, engine), system, iommu, engine


def test_accesses_through_an_iommu_window_reach_the_translated_address() -> None:
    dev, system, iommu, _ = iommu_space()
    system.write(0x5010, b"abcd")
    attrs = MemTxAttrs(requester_id=0x08)
    assert dev.read(0x1010, 4, attrs) == (OK, b"abcd")
    assert dev.write(0x1020, b"wxyz", attrs) == OK
    assert system.read(0x5020, 4) == (OK, b"wxyz")
    assert iommu.asked == [(0x1010, IOMMUPerm.RO, attrs), (0x1020, IOMMUPerm.WO, attrs)]


def test_an_iommu_access_is_translated_page_by_page() -> None:
    dev, system, _, _ = iommu_space()
    system.write(0x5FFE, b"\x01\x02")
    system.write(0x6000, b"\x03\x04")
    assert dev.read(0x1FFE, 4) == (OK, b"\x01\x02\x03\x04")


def test_a_refused_translation_is_unassigned_memory_and_keeps_the_fault() -> None:
    dev, system, _, engine = iommu_space()
    logging_engine(engine)
    attrs = MemTxAttrs(requester_id=0x10)
    out = dev.access(0x2000, memoryview(bytearray(b"\xff" * 4)), True, attrs)
    assert out.result == DECODE and out.fail_addr == 0x2000
    assert out.fault == IOMMUFault(0x10, 0x2000, IOMMUPerm.WO, "not present", "IO_PAGE_FAULT")
    assert system.read(0x6000, 4) == (OK, bytes(4))
    assert guest_errors(engine) == [
        "Invalid write at addr 0x2000, size 4, region '(null)', reason: rejected"
    ]


def test_translate_follows_the_iommu_and_clips_to_the_page() -> None:
    dev, system, _, _ = iommu_space()
    target, addr, length, entry, res, fault = dev.translate(0x1F00, 0x1000, False)
    assert (target, addr, length, res, fault) == (system, 0x5F00, 0x100, OK, None)
    assert entry is not None and entry.translated_addr == 0x5000


def test_translate_reports_a_refused_translation() -> None:
    dev, _, _, _ = iommu_space()
    target, _, _, _, res, fault = dev.translate(0x9000, 4, False)
    assert target is None and res == DECODE
    assert fault is not None and fault.reason == "not present"


def test_mapping_through_an_iommu_gives_a_direct_view_of_the_translated_ram() -> None:
    dev, system, _, _ = iommu_space()
    res, m, fault = dev.map(0x1800, 0x1000, True)
    assert res == OK and fault is None and m is not None
    assert not m.bounce and m.length == 0x800
    assert m.translation is not None and m.translation.translated_addr == 0x5000
    m.view[0:2] = b"hi"
    assert system.read(0x5800, 2) == (OK, b"hi")


def test_mapping_a_refused_iova_fails_with_the_fault() -> None:
    dev, _, _, _ = iommu_space()
    res, m, fault = dev.map(0x2000, 16, True)
    assert res == DECODE and m is None
    assert fault is not None and fault.iova == 0x2000


def test_struct_sizes_used_by_the_fast_paths_are_little_endian() -> None:
    assert struct.calcsize("<Q") == 8
    space, _, _ = build()
    space.store(0x40, 8, 0x0102030405060708)
    assert space.read(0x40, 8) == (OK, bytes.fromhex("0807060504030201"))


@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_every_fixed_width_round_trips_through_ram(size: int) -> None:
    space, _, _ = build()
    value = int.from_bytes(bytes(range(1, size + 1)), "little")
    assert space.store(0x300, size, value) == OK
    assert space.load(0x300, size) == (OK, value)


def test_a_single_traced_access_is_traced_too() -> None:
    regs = Regs()
    space, engine, dev = build(ops=regs_ops(regs, valid_max=4))
    space.load(0x100004, 4)  # untraced first, so the range is cached
    engine.tracer.set_state("memory_region_ops_read", True)
    space.load(0x100004, 4)
    assert [r.text for r in engine.tracer.ring] == [
        f"memory_region_ops_read cpu -1 mr 0x1 addr 0x100004 value "
        f"{regs.value(4, 4):#x} size 4 name 'dev'"
    ]


def test_a_region_given_new_ops_uses_them_at_once() -> None:
    old, new = Regs(), Regs()
    new.mem[0:4] = b"\x01\x02\x03\x04"
    space, _, dev = build(ops=regs_ops(old, valid_max=4))
    space.load(0x100000, 4)
    dev.ops = regs_ops(new, valid_max=4)
    assert space.load(0x100000, 4) == (OK, 0x04030201)
    assert space.store(0x100000, 4, 7) == OK
    assert new.calls == [("r", 0, 4), ("w", 0, 4)]


def test_the_dispatch_in_progress_is_named_when_a_write_handler_hangs() -> None:
    engine = Engine(watchdog_steps=10)

    def spin(off: int, value: int, size: int) -> None:
        while True:
            engine.tick()

    root = MemoryRegion.container("system")
    ops = MmioOps(write=spin)
    root.add_subregion(0x1000, MemoryRegion.io_region("spin-mmio", 0x10, ops, Owner("dev0")))
    space = AddressSpace("memory", root, engine)
    assert space.store(0x1008, 4, 5) == MemTxResult.ERROR
    assert engine.halt is not None
    assert engine.halt.details == ("  in dev0 spin-mmio+0x8 write 0x5 (4 bytes)",)
