"""The DMA API devices use, and the mapping tracker behind the DMA checker (memory/dma.py)."""

from __future__ import annotations

from dmamon.memory import (
    AddressSpace,
    DmaPort,
    DmaResult,
    Engine,
    IOMMUFault,
    IOMMUPerm,
    IOMMUTLBEntry,
    MemoryRegion,
    MemTxAttrs,
    MemTxResult,
    MmioOps,
)

OK = MemTxResult.OK
DECODE = MemTxResult.DECODE_ERROR
RID = 0x0008  # 00:01.0


def port(ram_size: int = 0x10000) -> tuple[DmaPort, AddressSpace, Engine]:
    engine = Engine()
    root = MemoryRegion.container("system")
    root.add_subregion(0, MemoryRegion.ram_region("pc.ram", ram_size))
    space = AddressSpace("memory", root, engine)
    return DmaPort(engine, space, RID, "edu0"), space, engine


class OneToOneIOMMU:
    """Identity translation for pages below 0x8000, faults above."""

    def __init__(self, target: AddressSpace) -> None:
        self.target = target

    def translate(self, iova: int, perm: IOMMUPerm, attrs: MemTxAttrs) -> IOMMUTLBEntry:
        page = iova & ~0xFFF
        if page < 0x8000:
            return IOMMUTLBEntry(self.target, page, page, 0xFFF, IOMMUPerm.RW)
        fault = IOMMUFault(attrs.requester_id or 0, iova, perm, "not present")
        return IOMMUTLBEntry(None, page, 0, 0xFFF, IOMMUPerm.NONE, fault)


def translated_port() -> tuple[DmaPort, AddressSpace, Engine]:
    plain, system, engine = port()
    root = MemoryRegion.container("bus master container")
    root.add_subregion(0, MemoryRegion.iommu_region("iommu", 1 << 64, OneToOneIOMMU(system)))
    space = AddressSpace("edu", root, engine)
    return DmaPort(engine, space, RID, "edu0"), system, engine


def traces(engine: Engine) -> list[str]:
    return [r.text for r in engine.tracer.ring if r.kind == "trace"]


def test_a_dma_read_returns_the_bytes_and_ok() -> None:
    dma, space, _ = port()
    space.write(0x1000, b"0123456789abcdef")
    res = dma.read(0x1000, 16)
    assert res == DmaResult(OK, b"0123456789abcdef", None, None)
    assert res.ok


def test_a_dma_write_lands_in_guest_memory() -> None:
    dma, space, _ = port()
    assert dma.write(0x2000, b"\xca\xfe") == DmaResult(OK, b"", None, None)
    assert space.read(0x2000, 2) == (OK, b"\xca\xfe")


def test_a_dma_read_past_the_end_of_ram_reads_zeros_there_and_names_the_first_bad_address() -> None:
    dma, space, _ = port(ram_size=0x10000)
    space.write(0xFFFE, b"\x01\x02")
    res = dma.read(0xFFFE, 6)
    assert (res.result, res.data, res.fault_addr) == (DECODE, b"\x01\x02\x00\x00\x00\x00", 0x10000)
    assert not res.ok


def test_a_dma_write_to_unassigned_space_is_a_decode_error() -> None:
    dma, _, _ = port()
    res = dma.write(0x900000, b"\x01")
    assert (res.result, res.fault_addr) == (DECODE, 0x900000)


def test_dma_carries_the_requester_id_of_its_device() -> None:
    engine = Engine()
    seen: list[MemTxAttrs] = []

    def accepts(off: int, size: int, is_write: bool, attrs: MemTxAttrs) -> bool:
        seen.append(attrs)
        return True

    root = MemoryRegion.container("system")
    root.add_subregion(0, MemoryRegion.io_region("sink", 0x10, MmioOps(accepts=accepts)))
    dma = DmaPort(engine, AddressSpace("memory", root, engine), RID, "edu0")
    dma.store(0, 4, 1)
    dma.load(0, 4)
    assert seen == [MemTxAttrs(requester_id=RID)] * 2


def test_fixed_width_dma_helpers_are_little_endian() -> None:
    dma, space, _ = port()
    assert dma.store(0x10, 4, 0x11223344) == OK
    assert space.read(0x10, 4) == (OK, b"\x44\x33\x22\x11")
    assert dma.load(0x10, 2) == (OK, 0x3344)


def test_dma_reads_and_writes_are_traced_when_enabled() -> None:
    dma, _, engine = port()
    dma.read(0x1000, 16)
    assert traces(engine) == []
    engine.tracer.set_state("dma_*", True)
    dma.read(0x1000, 16)
    dma.write(0x900000, b"\x00")
    assert traces(engine) == [
        "dma_read dev edu0 rid 00:01.0 addr 0x1000 len 16 result MEMTX_OK",
        "dma_write dev edu0 rid 00:01.0 addr 0x900000 len 1 result MEMTX_DECODE_ERROR",
    ]


def test_a_mapping_is_tracked_while_live_and_forgotten_after_unmap() -> None:
    dma, space, engine = port()
    res, m = dma.map(0x3000, 0x100, True)
    assert res.ok and m is not None
    assert (m.id, m.device, m.requester_id, m.addr, m.length, m.live) == (
        1,
        "edu0",
        RID,
        0x3000,
        0x100,
        True,
    )
    assert engine.dma.mappings == {1: m}
    m.write(0, b"abc")
    assert space.read(0x3000, 3) == (OK, b"abc")
    assert m.read(1, 2) == b"bc"
    assert dma.unmap(m, 3) == OK
    assert not m.live and engine.dma.mappings == {}
    assert engine.dma.reports == []


def test_mapping_ids_count_up_per_machine() -> None:
    dma, _, _ = port()
    ids = [m.id for m in (dma.map(0x1000 * i, 16, False)[1] for i in range(3)) if m is not None]
    assert ids == [1, 2, 3]


def test_map_and_unmap_are_traced_when_enabled() -> None:
    dma, _, engine = port()
    engine.tracer.set_state("dma_*map", True)
    _, m = dma.map(0x3000, 0x100, True)
    assert m is not None
    dma.unmap(m, 0x10)
    assert traces(engine) == [
        "dma_map dev edu0 id 1 addr 0x3000 len 256 dir to-memory result MEMTX_OK",
        "dma_unmap dev edu0 id 1 addr 0x3000 len 16",
    ]


def test_unmapping_twice_is_reported_by_the_checker() -> None:
    dma, _, engine = port()
    engine.tracer.set_state("dma_checker", True)
    _, m = dma.map(0x3000, 0x10, False)
    assert m is not None
    dma.unmap(m, 0)
    assert dma.unmap(m, 0) == MemTxResult.ERROR
    assert engine.dma.reports == ["edu0: mapping #1 unmapped twice"]
    assert traces(engine) == ["dma_checker dev edu0 mapping #1 unmapped twice"]


def test_using_a_mapping_after_unmap_is_reported_and_the_bytes_still_land() -> None:
    dma, space, engine = port()
    _, m = dma.map(0x3000, 0x10, True)
    assert m is not None
    dma.unmap(m, 0)
    m.write(0, b"late")
    assert m.read(0, 4) == b"late"
    assert space.read(0x3000, 4) == (OK, b"late")
    assert engine.dma.reports == [
        "edu0: mapping #1 written after unmap (addr 0x3000)",
        "edu0: mapping #1 read after unmap (addr 0x3000)",
    ]


def test_a_mapping_that_cannot_be_made_returns_the_fault() -> None:
    dma, _, engine = translated_port()
    res, m = dma.map(0x9000, 16, False)
    assert m is None and res.result == DECODE and res.fault_addr == 0x9000
    assert res.fault is not None and res.fault.reason == "not present"
    assert engine.dma.mappings == {}


def test_an_invalidation_marks_live_translated_mappings_in_its_range_stale() -> None:
    dma, _, engine = translated_port()
    _, hit = dma.map(0x1000, 0x100, False)
    _, miss = dma.map(0x4000, 0x100, False)
    assert hit is not None and miss is not None and hit.translation is not None
    gen = engine.dma.generation
    assert engine.dma.invalidate(0x1000, 0x2000) == [hit]
    assert engine.dma.generation == gen + 1
    assert engine.dma.stale_mappings() == [hit]
    hit.read(0, 1)
    assert engine.dma.reports == [
        "edu0: mapping #1 read through a translation the IOMMU already invalidated (iova 0x1000)"
    ]


def test_an_invalidation_for_another_requester_leaves_the_mapping_alone() -> None:
    dma, _, engine = translated_port()
    _, m = dma.map(0x1000, 0x100, False)
    assert engine.dma.invalidate(0, 1 << 64, requester_id=0x10) == []
    assert m is not None and not m.stale


def test_untranslated_mappings_are_never_stale() -> None:
    dma, _, engine = port()
    _, m = dma.map(0x1000, 0x100, False)
    assert engine.dma.invalidate(0, 1 << 64) == []
    assert m is not None and m.translation is None


def test_clearing_the_tracker_forgets_mappings_and_reports() -> None:
    dma, _, engine = port()
    _, m = dma.map(0x1000, 0x100, False)
    assert m is not None
    dma.unmap(m, 0)
    dma.unmap(m, 0)
    engine.dma.clear()
    assert engine.dma.mappings == {} and engine.dma.reports == []


def test_dma_with_bus_mastering_off_logs_qemus_unassigned_lines() -> None:
    """QEMU 7.2, edu DMA edu->RAM of 7 bytes to 0x2002 with COMMAND.MASTER clear
    (``-d guest_errors``): the disabled bus-master alias leaves the access unassigned."""
    engine = Engine()
    system = MemoryRegion.container("system")
    system.add_subregion(0, MemoryRegion.ram_region("pc.ram", 0x10000))
    root = MemoryRegion.container("bus master container")
    alias = MemoryRegion.alias_region("bus master", system, 0, system.size)
    alias.set_enabled(False)
    root.add_subregion(0, alias)
    dma = DmaPort(engine, AddressSpace("edu", root, engine), RID, "edu0")
    engine.tracer.set_log_items(["guest_errors"])
    assert dma.write(0x2002, b"1234567").result == DECODE
    assert dma.read(0x1000, 8).result == DECODE
    assert [r.text for r in engine.tracer.ring] == [
        "Invalid write at addr 0x2002, size 2, region '(null)', reason: rejected",
        "Invalid write at addr 0x2004, size 4, region '(null)', reason: rejected",
        "Invalid write at addr 0x2008, size 1, region '(null)', reason: rejected",
        "Invalid read at addr 0x1000, size 4, region '(null)', reason: rejected",
        "Invalid read at addr 0x1004, size 4, region '(null)', reason: rejected",
    ]
    assert dict(engine.tracer.ring[0].fields) == {
        "access": "write", "addr": 0x2002, "size": 2, "region": "(null)", "reason": "rejected"
    }  # fmt: skip
    alias.set_enabled(True)
    assert dma.write(0x2002, b"1234567").ok and len(engine.tracer.ring) == 5
