"""NVMe PRP lists and AHCI PRDTs (devices/common/prp.py, prdt.py)."""

from __future__ import annotations

import struct

import pytest
from dmamon.devices.common import (
    NVME_DATA_TRAS_ERROR,
    NVME_INVALID_FIELD,
    NVME_INVALID_PRP_OFFSET,
    PRD_I,
    PrdEntry,
    PrpError,
    Segment,
    WalkFault,
    prdt_entries,
    prdt_segments,
    prp_segments,
    step_budget,
)
from dmamon.memory import MachineHalt

PAGE = 4096


class Mem:
    """Guest memory: a bytearray; reads past its end fail."""

    def __init__(self, size: int = 0x40000) -> None:
        self.ram = bytearray(size)
        self.reads: list[tuple[int, int]] = []

    def read(self, addr: int, length: int) -> bytes | None:
        self.reads.append((addr, length))
        if addr + length > len(self.ram):
            return None
        return bytes(self.ram[addr : addr + length])

    def qwords(self, addr: int, *values: int) -> None:
        self.ram[addr : addr + 8 * len(values)] = struct.pack(f"<{len(values)}Q", *values)


def test_prp1_alone_covers_a_transfer_inside_its_page() -> None:
    segs = prp_segments(Mem().read, step_budget(10), 0x1200, 0, 0x100)
    assert segs == [Segment(0x1200, 0x100)]


def test_prp2_is_the_second_page_when_two_pages_hold_the_data() -> None:
    segs = prp_segments(Mem().read, step_budget(10), 0x1F00, 0x8000, 0x300)
    assert segs == [Segment(0x1F00, 0x100), Segment(0x8000, 0x200)]


def test_a_missing_or_misaligned_prp2_is_refused_with_nvme_status() -> None:
    with pytest.raises(PrpError) as e:
        prp_segments(Mem().read, step_budget(10), 0x1F00, 0, 0x300)
    assert e.value.status == NVME_INVALID_FIELD
    with pytest.raises(PrpError) as e:
        prp_segments(Mem().read, step_budget(10), 0x1F00, 0x8010, 0x300)
    assert e.value.status == NVME_INVALID_PRP_OFFSET and e.value.addr == 0x8010


def test_a_prp_list_is_read_in_one_dma_and_mapped_page_by_page() -> None:
    mem = Mem()
    mem.qwords(0x3000, 0x10000, 0x11000, 0x12000)
    segs = prp_segments(mem.read, step_budget(10), 0x1800, 0x3000, 0x800 + 2 * PAGE + 0x10)
    assert segs == [
        Segment(0x1800, 0x800),
        Segment(0x10000, PAGE),
        Segment(0x11000, PAGE),
        Segment(0x12000, 0x10),
    ]
    assert mem.reads == [(0x3000, 24)]


def test_the_last_entry_of_a_list_page_chains_to_the_next_page() -> None:
    mem = Mem()
    # A list starting 16 bytes before the end of its page: one data entry, one chain entry.
    mem.qwords(0x3FF0, 0x10000, 0x5000)
    mem.qwords(0x5000, 0x11000, 0x12000)
    segs = prp_segments(mem.read, step_budget(10), 0x1000, 0x3FF0, 4 * PAGE)
    assert [s.addr for s in segs] == [0x1000, 0x10000, 0x11000, 0x12000]
    assert mem.reads == [(0x3FF0, 16), (0x5000, 16)]


def test_a_misaligned_list_entry_or_a_failed_list_read_is_an_error() -> None:
    mem = Mem()
    mem.qwords(0x3000, 0x10004, 0x11000)
    with pytest.raises(PrpError) as e:
        prp_segments(mem.read, step_budget(10), 0x1000, 0x3000, 3 * PAGE)
    assert (e.value.status, e.value.addr) == (NVME_INVALID_PRP_OFFSET, 0x10004)
    with pytest.raises(PrpError) as e:
        prp_segments(mem.read, step_budget(10), 0x1000, 0x80000, 3 * PAGE)
    assert e.value.status == NVME_DATA_TRAS_ERROR
    assert "DATA_TRAS_ERROR (status 0x4) at PRP 0x80000" in str(e.value)


def test_a_huge_transfer_ends_at_the_step_budget() -> None:
    mem = Mem()
    mem.qwords(0x3000, *(0x10000 + PAGE * i for i in range(512)))
    with pytest.raises(MachineHalt):
        prp_segments(mem.read, step_budget(100), 0x1000, 0x3000, 400 * PAGE)


def _prd(mem: Mem, addr: int, dba: int, count: int, irq: bool = False) -> None:
    dw3 = (count - 1) | (PRD_I if irq else 0)
    mem.ram[addr : addr + 16] = struct.pack("<QII", dba, 0, dw3)


def test_prdt_entries_decode_dba_dbc_and_the_i_bit() -> None:
    mem = Mem()
    _prd(mem, 0x2080, 0x1_0000_1001, 512)  # bit 0 of DBA is reserved
    _prd(mem, 0x2090, 0x20000, 0x400000, irq=True)  # 4 MiB, the largest
    entries = prdt_entries(mem.read, step_budget(10), 0x2080, 2)
    assert entries == [
        PrdEntry(0x1_0000_1000, 512, False),
        PrdEntry(0x20000, 0x400000, True),
    ]
    assert mem.reads == [(0x2080, 32)]


def test_prdt_segments_skip_the_offset_and_stop_at_the_limit() -> None:
    entries = [PrdEntry(0x1000, 512, False), PrdEntry(0x8000, 1024, False)]
    assert prdt_segments(entries) == [Segment(0x1000, 512), Segment(0x8000, 1024)]
    assert prdt_segments(entries, offset=600, limit=100) == [Segment(0x8000 + 88, 100)]
    assert prdt_segments(entries, offset=0, limit=700) == [
        Segment(0x1000, 512),
        Segment(0x8000, 188),
    ]
    assert prdt_segments(entries, offset=2000) == []


def test_prdt_bounds_and_faults() -> None:
    with pytest.raises(ValueError, match="PRDTL must be 0..65535"):
        prdt_entries(Mem().read, step_budget(10), 0, 0x10000)
    assert prdt_entries(Mem().read, step_budget(10), 0, 0) == []
    with pytest.raises(WalkFault, match="PRDT walk: DMA read of 32 bytes at 0x3fff0"):
        prdt_entries(Mem().read, step_budget(10), 0x3FFF0, 2)
    with pytest.raises(MachineHalt):
        prdt_entries(Mem().read, step_budget(10), 0, 11)
