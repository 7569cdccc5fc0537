"""xHCI TRB rings (devices/common/trb.py): cycle bits, Link TRBs, chained TDs, and the
endless walks of CVE-2020-14394 as bounded, reported hangs."""

from __future__ import annotations

import struct

import pytest
from dmamon.devices import Machine
from dmamon.devices.common import (
    MAX_TD_TRBS,
    TRB_C,
    TRB_CH,
    TRB_LINK,
    TRB_SETUP,
    TRB_STATUS,
    TRB_TC,
    Trb,
    TrbRing,
    WalkFault,
    dma_reader,
    step_budget,
)
from dmamon.memory import MachineHalt

NORMAL, DATA = 1, 3


class Mem:
    """Guest memory for walkers: a bytearray with a hole (reads there fail)."""

    def __init__(self, size: int = 0x10000) -> None:
        self.ram = bytearray(size)
        self.reads: list[int] = []

    def read(self, addr: int, length: int) -> bytes | None:
        self.reads.append(addr)
        if addr + length > len(self.ram):
            return None
        return bytes(self.ram[addr : addr + length])

    def trb(self, addr: int, kind: int, control: int = TRB_C, parameter: int = 0) -> None:
        self.ram[addr : addr + 16] = struct.pack("<QII", parameter, 0, control | kind << 10)


def test_fetch_returns_trbs_while_the_cycle_bit_matches() -> None:
    mem = Mem()
    mem.trb(0x1000, NORMAL, TRB_C, parameter=0xAB)
    mem.trb(0x1010, NORMAL, 0)  # cycle 0: the producer has not written it yet
    ring = TrbRing(mem.read, step_budget(10), 0x1000)
    trb = ring.fetch()
    assert trb == Trb(0x1000, 0xAB, 0, TRB_C | NORMAL << 10)
    assert trb.type == NORMAL and trb.cycle and not trb.chain
    assert ring.fetch() is None and ring.dequeue == 0x1010


def test_a_link_trb_with_toggle_cycle_wraps_the_ring_and_flips_ccs() -> None:
    mem = Mem()
    mem.trb(0x1000, NORMAL, TRB_C)
    mem.trb(0x1010, TRB_LINK, TRB_C | TRB_TC, parameter=0x1000)
    ring = TrbRing(mem.read, step_budget(10), 0x1000)
    assert ring.fetch() is not None
    assert ring.fetch() is None  # wrapped with CCS 0; the old TRB (C=1) is not ours
    assert (ring.dequeue, ring.ccs) == (0x1000, False)
    mem.trb(0x1000, NORMAL, 0)  # the producer's next lap writes C=0
    assert ring.fetch() is not None and ring.dequeue == 0x1010


def test_fetch_gives_up_after_the_link_trb_limit() -> None:
    mem = Mem()
    mem.trb(0x2000, TRB_LINK, TRB_C, parameter=0x2000)
    ring = TrbRing(mem.read, step_budget(1000), 0x2000, link_limit=32)
    assert ring.fetch() is None
    assert len(mem.reads) == 33


def test_a_ring_of_link_trbs_only_is_a_hang_naming_the_loop() -> None:
    mem = Mem()
    mem.trb(0x3000, TRB_LINK, TRB_C, parameter=0x3040)
    mem.trb(0x3040, TRB_LINK, TRB_C, parameter=0x3080)
    mem.trb(0x3080, TRB_LINK, TRB_C, parameter=0x3000)
    ring = TrbRing(mem.read, step_budget(100), 0x3000, link_limit=None)
    with pytest.raises(MachineHalt) as e:
        ring.chain_length(max_trbs=None)
    assert e.value.kind == "hung"
    assert "did not finish within 100 steps" in e.value.summary
    assert "  Link TRB loop: 0x3000 -> 0x3040 -> 0x3080 -> 0x3000" in e.value.details
    # Back at 0x3000 with the same CCS and nothing counted: endless, charged at once.
    assert "  TRB walk: 4 TRBs read, dequeue 0x3000, ccs 1" in e.value.details
    assert len(mem.reads) == 4


def test_chain_length_counts_one_td_and_bundles_setup_to_status() -> None:
    mem = Mem()
    mem.trb(0x1000, TRB_SETUP, TRB_C)  # no CH, but Setup..Status are one TD
    mem.trb(0x1010, DATA, TRB_C)
    mem.trb(0x1020, TRB_LINK, TRB_C, parameter=0x4000)
    mem.trb(0x4000, TRB_STATUS, TRB_C)
    ring = TrbRing(mem.read, step_budget(100), 0x1000)
    chain = ring.chain_length()
    assert (chain.length, chain.end, chain.addr) == (3, "td", 0x4010) and chain.complete
    assert ring.dequeue == 0x1000  # counting consumes nothing


def test_chain_length_stops_at_a_cycle_mismatch() -> None:
    mem = Mem()
    mem.trb(0x1000, NORMAL, TRB_C | TRB_CH)
    chain = TrbRing(mem.read, step_budget(100), 0x1000).chain_length()
    assert (chain.length, chain.end) == (1, "empty") and not chain.complete


def _chained_to_end_of_ram(mem: Mem) -> None:
    for addr in range(0xFF00, 0x10000, 16):
        mem.trb(addr, NORMAL, TRB_C | TRB_CH)


def test_the_fixed_walk_stops_at_the_failed_read_past_ram() -> None:
    mem = Mem()
    _chained_to_end_of_ram(mem)
    chain = TrbRing(mem.read, step_budget(1000), 0xFF00).chain_length()
    assert (chain.length, chain.end, chain.addr) == (16, "dma-failed", 0x10000)


def test_the_pre_2022_walk_off_ram_is_a_hang_with_the_dequeue_pointer() -> None:
    mem = Mem()
    _chained_to_end_of_ram(mem)
    ring = TrbRing(mem.read, step_budget(500), 0xFF00)
    with pytest.raises(MachineHalt) as e:
        ring.chain_length(check_dma=False, max_trbs=None)
    assert e.value.details == ("  TRB walk: 500 TRBs read, dequeue 0x11e30, ccs 1",)


def test_the_fixed_walk_bounds_a_td_at_the_maximum_ring_size() -> None:
    mem = Mem()
    mem.trb(0x1000, NORMAL, TRB_C | TRB_CH)
    mem.trb(0x1010, TRB_LINK, TRB_C, parameter=0x1000)
    chain = TrbRing(mem.read, step_budget(10**6), 0x1000, link_limit=None).chain_length()
    assert (chain.length, chain.end) == (MAX_TD_TRBS, "too-long")


def test_fetch_reports_a_failed_read() -> None:
    with pytest.raises(WalkFault, match="TRB: DMA read of 16 bytes at 0x20000 failed"):
        TrbRing(Mem().read, step_budget(10), 0x20000).fetch()


def test_in_a_machine_the_endless_walk_ends_through_the_engine_watchdog() -> None:
    m = Machine(devices=["e1000e-lite,id=nic0"])
    m.io_as.store(0xCF8, 4, 0x80000804)  # 00:01.0 COMMAND: bus master on
    m.io_as.store(0xCFC, 2, 0x0004)
    m.memory.store(0x5000 + 12, 4, TRB_C | TRB_LINK << 10)
    m.memory.store(0x5000, 8, 0x5000)
    dev = m.device("nic0")
    assert dev.dma is not None
    ring = TrbRing(dma_reader(dev.dma), m.engine.tick, 0x5000, link_limit=None)
    assert not m.engine.run_activation(lambda: ring.fetch() and None)
    assert m.halted
    halt = m.engine.halt
    assert halt is not None and halt.kind == "hung"
    assert "  Link TRB loop: 0x5000 -> 0x5000" in halt.details


def test_walkers_read_through_the_iommu_so_translation_and_faults_apply() -> None:
    from dmamon.devices.amdvi.driver import AmdIommuDriver

    m = Machine(devices=["amd-iommu", "e1000e-lite,id=nic0"])
    dev = m.device("nic0")
    m.io_as.store(0xCF8, 4, 0x80000004 | dev.requester_id << 8)  # COMMAND: bus master on
    m.io_as.store(0xCFC, 2, 0x0004)
    m.memory.store(0x7000 + 12, 4, TRB_C | NORMAL << 10)
    drv = AmdIommuDriver(m)
    drv.setup()
    drv.map(dev, 0x40000, 0x7000, 0x1000, "r")  # IOVA 0x40000 -> GPA 0x7000
    assert dev.dma is not None
    read = dma_reader(dev.dma)
    trb = TrbRing(read, step_budget(10), 0x40000).fetch()
    assert trb is not None and trb.addr == 0x40000 and trb.type == NORMAL
    with pytest.raises(WalkFault, match="at 0x7000 failed"):
        TrbRing(read, step_budget(10), 0x7000).fetch()  # a GPA is no IOVA: IO_PAGE_FAULT
