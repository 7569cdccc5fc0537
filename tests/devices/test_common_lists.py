"""NVMe PRP lists and SGLs, AHCI PRDTs (devices/common/prp.py, sgl.py, prdt.py)."""

from __future__ import annotations

import struct

import pytest
from dmamon.devices.common import (
    NVME_DATA_SGL_LEN_INVALID,
    NVME_DATA_TRAS_ERROR,
    NVME_INVALID_FIELD,
    NVME_INVALID_PRP_OFFSET,
    NVME_INVALID_SGL_SEG_DESCR,
    NVME_SGL_DESCR_TYPE_INVALID,
    PRD_I,
    SGL_BIT_BUCKET,
    SGL_DATA_BLOCK,
    SGL_LAST_SEGMENT,
    SGL_SEGMENT,
    PrdEntry,
    PrpError,
    Segment,
    SglDesc,
    SglError,
    SglPiece,
    WalkFault,
    prdt_entries,
    prdt_segments,
    prp_segments,
    sgl_segments,
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


# -- NVMe SGLs ----------------------------------------------------------------------------


def _sgl(mem: Mem, addr: int, *descs: tuple[int, int, int]) -> None:
    for i, (a, n, kind) in enumerate(descs):
        mem.ram[addr + 16 * i : addr + 16 * i + 16] = struct.pack("<QI3xB", a, n, kind << 4)


def test_a_data_block_sgl1_is_the_whole_transfer() -> None:
    pieces = sgl_segments(
        Mem().read, step_budget(10), SglDesc(0x8000, 0x200, SGL_DATA_BLOCK), 0x200
    )
    assert pieces == [SglPiece(0x8000, 0x200)]


def test_segments_chain_until_a_segment_ends_with_data() -> None:
    mem = Mem()
    _sgl(mem, 0x1000, (0x8000, 0x100, SGL_DATA_BLOCK), (0x2000, 32, SGL_LAST_SEGMENT))
    _sgl(mem, 0x2000, (0x9000, 0x10, SGL_BIT_BUCKET), (0xA000, 0x100, SGL_DATA_BLOCK))
    sgl1 = SglDesc(0x1000, 32, SGL_SEGMENT)
    pieces = sgl_segments(mem.read, step_budget(10), sgl1, 0x180)
    assert pieces == [
        SglPiece(0x8000, 0x100),
        SglPiece(0x9000, 0x10, bit_bucket=True),
        SglPiece(0xA000, 0x70),
    ]
    assert mem.reads == [(0x1000, 32), (0x2000, 32)]


@pytest.mark.parametrize(
    ("sgl1", "length", "status"),
    [
        (SglDesc(0x1000, 24, SGL_SEGMENT), 0x10, NVME_INVALID_SGL_SEG_DESCR),  # not x16
        (SglDesc(0x1000, 16, 5), 0x10, NVME_INVALID_SGL_SEG_DESCR),  # not a segment
        (SglDesc(0x3000, 32, SGL_LAST_SEGMENT), 0x10, NVME_INVALID_SGL_SEG_DESCR),  # chains
        (SglDesc(0x8000, 0x10, SGL_DATA_BLOCK), 0x20, NVME_DATA_SGL_LEN_INVALID),  # short
        (SglDesc(0x4000, 32, SGL_SEGMENT), 0x10, NVME_DATA_SGL_LEN_INVALID),  # excess
        (SglDesc(0x5000, 32, SGL_SEGMENT), 0x20, NVME_SGL_DESCR_TYPE_INVALID),
        (SglDesc(0x80000, 16, SGL_SEGMENT), 0x10, NVME_DATA_TRAS_ERROR),
    ],
)
def test_sgl_mistakes_complete_with_qemus_status(sgl1: SglDesc, length: int, status: int) -> None:
    mem = Mem()
    _sgl(mem, 0x3000, (0x8000, 8, SGL_DATA_BLOCK), (0x6000, 16, SGL_SEGMENT))
    _sgl(mem, 0x4000, (0x8000, 0x10, SGL_DATA_BLOCK), (0x9000, 0x10, SGL_DATA_BLOCK))
    _sgl(mem, 0x5000, (0x8000, 0x10, 7), (0x9000, 0x10, SGL_DATA_BLOCK))
    with pytest.raises(SglError) as e:
        sgl_segments(mem.read, step_budget(10), sgl1, length)
    assert e.value.status == status


def test_excess_length_is_allowed_when_the_controller_says_so() -> None:
    mem = Mem()
    _sgl(mem, 0x4000, (0x8000, 0x10, SGL_DATA_BLOCK), (0x9000, 0x10, SGL_DATA_BLOCK))
    sgl1 = SglDesc(0x4000, 32, SGL_SEGMENT)
    assert sgl_segments(mem.read, step_budget(10), sgl1, 0x10, excess_ok=True) == [
        SglPiece(0x8000, 0x10)
    ]


def test_a_segment_chaining_to_itself_is_a_modelled_hang() -> None:
    mem = Mem()
    _sgl(mem, 0x1000, (0x8000, 0, SGL_DATA_BLOCK), (0x1000, 32, SGL_SEGMENT))
    with pytest.raises(MachineHalt) as e:
        sgl_segments(mem.read, step_budget(50), SglDesc(0x1000, 32, SGL_SEGMENT), 0x10)
    assert e.value.kind == "hung"
