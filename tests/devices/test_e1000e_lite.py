"""e1000e-lite: registers at the 82574L offsets, legacy rings, MAC loopback, and
LP#1886362's use after free with the re-entrancy guard off (devices/e1000e_lite.py)."""

from __future__ import annotations

import pytest
from dmamon.devices import Machine
from dmamon.devices.e1000e_lite import E1000eLite, RxDesc, TxDesc
from dmamon.memory import ConfigError, MemTxResult

BAR = 0xFEB00000
TX_RING = 0x10000
RX_RING = 0x20000
FRAME_AT = 0x30000
RX_BUF = 0x40000
OWN_MAC = bytes.fromhex("525400123456")
PEER_MAC = bytes.fromhex("525400abcdef")
EOP_RS = 0x09
RCTL_EN = 0x2
RCTL_LBM_MAC = 0x40
RCTL_BSIZE_256 = 0x3 << 16
RCTL_SECRC = 1 << 26
ICR_TXDW, ICR_TXQE, ICR_RXO, ICR_RXT0, ICR_ASSERTED = 0x1, 0x2, 0x40, 0x80, 0x8000_0000
UAF = (
    "SIM-UAF: nic0 rx_pkt.vec#1 freed at net_rx_pkt_iovec_realloc in e1000e_receive_iov "
    "(nested, rx depth 2), used at e1000e_write_packet_to_guest (outer, rx depth 1)"
)


def make(*extra: str, spec: str = "e1000e-lite,id=nic0") -> Machine:
    """A machine with nic0 at 00:01.0, BAR0 at 0xfeb00000, memory and bus master on."""
    m = Machine(devices=[spec, *extra])
    io = m.io_as
    io.store(0xCF8, 4, 0x80000810)
    io.store(0xCFC, 4, BAR)
    io.store(0xCF8, 4, 0x80000804)
    io.store(0xCFC, 2, 0x0006)
    return m


def nic(m: Machine) -> E1000eLite:
    d = m.device("nic0")
    assert isinstance(d, E1000eLite)
    return d


def wr(m: Machine, off: int, value: int) -> MemTxResult:
    return m.memory.store(BAR + off, 4, value)


def rd(m: Machine, off: int) -> int:
    res, value = m.memory.load(BAR + off, 4)
    assert res == MemTxResult.OK
    return value


def frame(length: int = 64, dst: bytes = OWN_MAC, tail: bytes = b"") -> bytes:
    body = dst + PEER_MAC + b"\x08\x00"
    body += bytes(range(256)) * (length // 256 + 1)
    body = body[: length - len(tail)] + tail
    assert len(body) == length
    return body


def setup_rings(m: Machine, rdt: int = 4, rctl: int = RCTL_EN, tdlen: int = 0x80) -> None:
    wr(m, 0x3800, TX_RING)
    wr(m, 0x3808, tdlen)
    wr(m, 0x2800, RX_RING)
    wr(m, 0x2808, 0x80)
    wr(m, 0x2818, rdt)
    wr(m, 0x0100, rctl)
    wr(m, 0x0400, 0x2)  # TCTL.EN


def send(m: Machine, data: bytes, index: int = 0, cmd: int = EOP_RS) -> None:
    at = FRAME_AT + 0x1000 * index
    m.memory.write(at, data)
    m.memory.write(TX_RING + 16 * index, TxDesc.pack(at, len(data), cmd))


def rx_desc(m: Machine, index: int) -> tuple[int, int, int, int]:
    return RxDesc.unpack(m.memory.read(RX_RING + 16 * index, 16)[1])


def warnings(m: Machine) -> list[str]:
    return [r.text for r in m.engine.tracer.ring if r.kind == "warning"]


# -- identity and registers ----------------------------------------------------------------


def test_the_pci_identity_is_the_82574l_an_ethernet_controller() -> None:
    m = make()
    d = nic(m)
    assert d.config_read(0, 4) == 0x10D38086
    assert d.config_read(0x0A, 2) == 0x0200
    assert d.config_read(0x2C, 4) == 0x00008086


def test_bar0_is_a_128_kib_memory_bar_named_e1000e_mmio() -> None:
    m = make()
    io = m.io_as
    io.store(0xCF8, 4, 0x80000810)
    io.store(0xCFC, 4, 0xFFFFFFFF)
    assert io.load(0xCFC, 4)[1] == 0xFFFE0000
    assert nic(m).bars[0].region.name == "e1000e-mmio"


def test_registers_reset_to_qemus_values() -> None:
    m = make()
    assert rd(m, 0x0000) == 0x00140241  # CTRL, as QEMU 7.2's xp shows it
    assert rd(m, 0x0008) == 0x00080283  # STATUS: link up, 1000 Mb/s, full duplex
    assert rd(m, 0x3840) == 0x00000403  # TARC0 with the queue enable bit
    assert rd(m, 0x2828) == 0x00010000  # RXDCTL
    assert (rd(m, 0x5400), rd(m, 0x5404)) == (0x12005452, 0x80005634)


def test_the_mac_property_sets_the_receive_address_registers() -> None:
    m = make(spec="e1000e-lite,id=nic0,mac=02:00:00:00:00:01")
    assert (rd(m, 0x5400), rd(m, 0x5404)) == (0x00000002, 0x80000100)


def test_a_malformed_mac_property_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as e:
        Machine(devices=["e1000e-lite,id=nic0,mac=52:54:00"])
    assert str(e.value) == (
        "Property 'e1000e-lite.mac' expects a MAC like 52:54:00:12:34:56, not '52:54:00'"
    )


def test_a_byte_write_sets_the_whole_register_as_qemus_e1000e_does() -> None:
    m = make()
    assert m.memory.write(BAR + 0x103, b"\xff") == MemTxResult.OK
    assert nic(m).regs.peek("rctl") == 0xFF


def test_the_82542_alias_offsets_reach_the_ring_registers() -> None:
    m = make()
    wr(m, 0x420, 0x12345670)
    wr(m, 0x128, 3)
    assert nic(m).regs.peek("tdbal") == 0x12345670
    assert nic(m).regs.peek("rdt") == 3


def test_ring_registers_keep_only_their_valid_bits() -> None:
    m = make()
    wr(m, 0x3800, 0xFFFFFFFF)
    wr(m, 0x3808, 0xFFFFFFFF)
    wr(m, 0x3818, 0xFFFFFFFF)
    assert (rd(m, 0x3800), rd(m, 0x3808), rd(m, 0x3818)) == (0xFFFFFFF0, 0xFFF80, 0xFFFF)


def test_an_unknown_register_reads_zero_and_ignores_writes() -> None:
    m = make()
    m.engine.tracer.set_state("e1000e_wrn_regs_*", True)
    wr(m, 0x1234, 5)
    assert rd(m, 0x1234) == 0
    assert [r.text for r in m.engine.tracer.ring] == [
        "e1000e_wrn_regs_write_unknown WARNING: Write to unknown register 0x1234, 4 byte(s), "
        "value: 0x5",
        "e1000e_wrn_regs_read_unknown WARNING: Read from unknown register 0x1234, 4 byte(s)",
    ]


def test_status_and_statistics_ignore_writes() -> None:
    m = make()
    wr(m, 0x0008, 0)
    wr(m, 0x4080, 7)
    assert rd(m, 0x0008) == 0x00080283 and rd(m, 0x4080) == 0


def test_ctrl_rst_resets_the_registers_and_clears_itself() -> None:
    m = make()
    setup_rings(m)
    wr(m, 0x0000, 0x00140241 | 1 << 26)
    assert rd(m, 0x0000) == 0x00140241
    assert (rd(m, 0x3800), rd(m, 0x0100), rd(m, 0x5404)) == (0, 0, 0x80005634)


# -- transmit --------------------------------------------------------------------------------


def test_a_transmitted_frame_leaves_on_the_wire_inside_the_tdt_write() -> None:
    m = make()
    setup_rings(m)
    data = frame(64, dst=PEER_MAC)
    send(m, data)
    wr(m, 0x3818, 1)
    assert list(nic(m).wire) == [data]
    assert rd(m, 0x3810) == 1  # TDH caught up with TDT


def test_a_descriptor_with_rs_is_written_back_with_dd() -> None:
    m = make()
    setup_rings(m)
    send(m, frame(64))
    wr(m, 0x3818, 1)
    assert m.memory.read(TX_RING + 12, 1)[1] == b"\x01"


def test_transmit_raises_txdw_and_txqe_and_counts_the_frame() -> None:
    m = make()
    setup_rings(m)
    send(m, frame(64, dst=PEER_MAC))
    wr(m, 0x3818, 1)
    d = nic(m)
    assert d.regs.peek("icr") == ICR_ASSERTED | ICR_TXQE | ICR_TXDW
    assert (rd(m, 0x4080), rd(m, 0x40D4)) == (1, 1)
    assert (rd(m, 0x4080), rd(m, 0x40D4)) == (0, 0)  # statistics clear on read


def test_nothing_is_sent_while_tctl_en_is_clear() -> None:
    m = make()
    setup_rings(m)
    wr(m, 0x0400, 0)
    send(m, frame(64))
    wr(m, 0x3818, 1)
    assert list(nic(m).wire) == [] and rd(m, 0x3810) == 0


def test_nothing_is_sent_while_the_queue_is_disabled_in_tarc0() -> None:
    m = make()
    setup_rings(m)
    wr(m, 0x3840, 0x3)
    send(m, frame(64))
    wr(m, 0x3818, 1)
    assert list(nic(m).wire) == [] and rd(m, 0x3810) == 0


def test_enabling_tctl_sends_what_is_already_in_the_ring() -> None:
    m = make()
    setup_rings(m)
    wr(m, 0x0400, 0)
    send(m, frame(64, dst=PEER_MAC))
    wr(m, 0x3818, 1)
    wr(m, 0x0400, 0x2)
    assert len(nic(m).wire) == 1


def test_a_frame_spread_over_descriptors_is_sent_at_eop() -> None:
    m = make()
    setup_rings(m)
    data = frame(100, dst=PEER_MAC)
    send(m, data[:40], 0, cmd=0x00)
    send(m, data[40:], 1, cmd=EOP_RS)
    wr(m, 0x3818, 2)
    assert list(nic(m).wire) == [data]


def test_a_frame_shorter_than_an_ethernet_header_is_not_sent() -> None:
    m = make()
    setup_rings(m)
    send(m, b"\x01" * 13)
    wr(m, 0x3818, 1)
    assert list(nic(m).wire) == [] and rd(m, 0x3810) == 1


def test_a_tail_beyond_the_ring_counts_as_an_empty_ring() -> None:
    m = make()
    setup_rings(m)
    send(m, frame(64))
    wr(m, 0x3818, 8)  # 8 descriptors in 0x80 bytes: index 8 is outside
    assert list(nic(m).wire) == [] and rd(m, 0x3810) == 0


def test_the_head_wraps_at_the_end_of_the_ring() -> None:
    m = make()
    setup_rings(m)
    wr(m, 0x3810, 7)
    send(m, frame(64, dst=PEER_MAC), 7)
    wr(m, 0x3818, 0)
    assert rd(m, 0x3810) == 0 and len(nic(m).wire) == 1


# -- receive through MAC loopback -------------------------------------------------------


def loopback(m: Machine, rctl: int = RCTL_EN | RCTL_LBM_MAC, rdt: int = 4) -> None:
    setup_rings(m, rdt=rdt, rctl=rctl)
    for i in range(8):
        m.memory.write(RX_RING + 16 * i, RxDesc.pack(RX_BUF + 0x1000 * i))


def test_mac_loopback_writes_the_frame_into_the_next_rx_buffer() -> None:
    m = make()
    loopback(m)
    data = frame(64)
    send(m, data)
    wr(m, 0x3818, 1)
    assert m.memory.read(RX_BUF, 64)[1] == data
    assert rx_desc(m, 0) == (RX_BUF, 68, 0x03, 0)  # length with the FCS, DD | EOP
    assert rd(m, 0x2810) == 1
    assert list(nic(m).wire) == []


def test_secrc_leaves_the_fcs_out_of_the_length() -> None:
    m = make()
    loopback(m, rctl=RCTL_EN | RCTL_LBM_MAC | RCTL_SECRC)
    send(m, frame(64))
    wr(m, 0x3818, 1)
    assert rx_desc(m, 0) == (RX_BUF, 64, 0x03, 0)


def test_a_short_frame_is_padded_to_60_bytes_and_counted_undersize() -> None:
    m = make()
    loopback(m, rctl=RCTL_EN | RCTL_LBM_MAC | RCTL_SECRC)
    send(m, frame(20))
    wr(m, 0x3818, 1)
    assert rx_desc(m, 0)[1] == 60 and rd(m, 0x40A4) == 1


def test_a_frame_larger_than_the_buffer_spans_descriptors() -> None:
    m = make()
    loopback(m, rctl=RCTL_EN | RCTL_LBM_MAC | RCTL_BSIZE_256)
    data = frame(300)
    send(m, data)
    wr(m, 0x3818, 1)
    assert rx_desc(m, 0) == (RX_BUF, 256, 0x01, 0)
    assert rx_desc(m, 1) == (RX_BUF + 0x1000, 48, 0x03, 0)
    assert m.memory.read(RX_BUF + 0x1000, 44)[1] == data[256:]
    assert rd(m, 0x2810) == 2


def test_receive_raises_rxt0_and_counts_the_frame() -> None:
    m = make()
    loopback(m)
    send(m, frame(64))
    wr(m, 0x3818, 1)
    assert nic(m).regs.peek("icr") & ICR_RXT0
    assert (rd(m, 0x4074), rd(m, 0x40D0)) == (1, 1)


def test_without_room_in_the_rx_ring_the_frame_is_dropped_with_rxo() -> None:
    m = make()
    loopback(m, rdt=0)
    send(m, frame(64))
    wr(m, 0x3818, 1)
    assert nic(m).regs.peek("icr") & ICR_RXO
    assert rd(m, 0x4010) == 1 and rd(m, 0x2810) == 0


def test_a_null_rx_descriptor_is_skipped() -> None:
    m = make()
    loopback(m)
    m.memory.write(RX_RING, RxDesc.pack(0))
    data = frame(64)
    send(m, data)
    wr(m, 0x3818, 1)
    assert rx_desc(m, 0) == (0, 0, 0x01, 0)
    assert m.memory.read(RX_BUF + 0x1000, 64)[1] == data
    assert rd(m, 0x2810) == 2


def test_a_frame_for_another_address_is_filtered_unless_promiscuous() -> None:
    m = make()
    loopback(m)
    send(m, frame(64, dst=PEER_MAC))
    wr(m, 0x3818, 1)
    assert rd(m, 0x2810) == 0
    wr(m, 0x0100, RCTL_EN | RCTL_LBM_MAC | 0x8)  # UPE
    send(m, frame(64, dst=PEER_MAC), 1)
    wr(m, 0x3818, 2)
    assert rd(m, 0x2810) == 1


def test_broadcast_needs_bam() -> None:
    m = make()
    loopback(m)
    send(m, frame(64, dst=b"\xff" * 6))
    wr(m, 0x3818, 1)
    assert rd(m, 0x2810) == 0
    wr(m, 0x0100, RCTL_EN | RCTL_LBM_MAC | 1 << 15)
    send(m, frame(64, dst=b"\xff" * 6), 1)
    wr(m, 0x3818, 2)
    assert rd(m, 0x2810) == 1


def test_nothing_is_received_while_rctl_en_is_clear() -> None:
    m = make()
    loopback(m, rctl=RCTL_LBM_MAC)
    send(m, frame(64))
    wr(m, 0x3818, 1)
    assert rd(m, 0x2810) == 0 and rd(m, 0x3810) == 1


def test_each_receive_reallocates_the_packet_vector_on_the_sim_heap() -> None:
    m = make()
    loopback(m)
    m.engine.tracer.set_state("sim_heap_*", True)
    send(m, frame(64), 0)
    send(m, frame(64), 1)
    wr(m, 0x3818, 2)
    site = "net_rx_pkt_iovec_realloc in e1000e_receive_iov (outer, rx depth 1)"
    assert [r.text for r in m.engine.tracer.ring] == [
        f"sim_heap_alloc dev nic0 obj rx_pkt.vec#1 site {site}",
        f"sim_heap_free dev nic0 obj rx_pkt.vec#1 site {site}",
        f"sim_heap_alloc dev nic0 obj rx_pkt.vec#2 site {site}",
    ]


def test_a_frame_from_the_network_is_received() -> None:
    m = make()
    loopback(m, rctl=RCTL_EN)
    data = frame(64)
    nic(m).receive(data)
    assert m.memory.read(RX_BUF, 64)[1] == data and rd(m, 0x2810) == 1


# -- interrupts ----------------------------------------------------------------------------


def test_an_enabled_cause_raises_intx_and_clearing_icr_lowers_it() -> None:
    m = make()
    wr(m, 0x00D0, ICR_TXQE)  # IMS
    setup_rings(m)  # TCTL.EN with an empty ring: TXQE
    assert nic(m).irq_level == 1
    wr(m, 0x00C0, 0xFFFFFFFF)  # ICR is write-1-to-clear
    assert nic(m).irq_level == 0 and rd(m, 0x00C0) == 0


def test_reading_icr_clears_it_while_ims_is_zero() -> None:
    m = make()
    setup_rings(m)
    assert rd(m, 0x00C0) == ICR_ASSERTED | ICR_TXQE
    assert rd(m, 0x00C0) == 0


def test_ics_sets_causes_and_imc_masks_them() -> None:
    m = make()
    wr(m, 0x00D0, ICR_RXT0)
    wr(m, 0x00C8, ICR_RXT0)
    assert nic(m).irq_level == 1
    wr(m, 0x00D8, ICR_RXT0)
    assert nic(m).irq_level == 0 and rd(m, 0x00D0) == 0


def test_with_msi_enabled_a_new_cause_sends_one_message() -> None:
    m = make()
    d = nic(m)
    cap = d.msi_cap
    d.config_write(cap + 4, 0xFEE00000, 4)
    d.config_write(cap + 12, 0x0041, 2)
    d.config_write(cap + 2, 0x0001, 2)
    wr(m, 0x00D0, ICR_RXT0)
    wr(m, 0x00C8, ICR_RXT0)
    wr(m, 0x00C8, ICR_RXT0)
    assert m.msi_log == [(0xFEE00000, 0x0041)] and d.irq_level == 0


# -- the re-entrancy scenario (LP#1886362) --------------------------------------------------


def lab_a2(m: Machine) -> None:
    """Lab A2: RX descriptor 1's buffer is the NIC's own TDT; the frame's bytes 256..259
    (the part that lands there) hold 1; two RX descriptors free, 256-byte buffers."""
    setup_rings(m, rdt=2, rctl=RCTL_EN | RCTL_LBM_MAC | RCTL_BSIZE_256)
    m.memory.write(RX_RING, RxDesc.pack(RX_BUF) + RxDesc.pack(BAR + 0x3818))
    send(m, frame(260, tail=(1).to_bytes(4, "little")))


def test_with_the_guard_the_rx_dma_into_tdt_is_blocked_with_qemus_warning() -> None:
    m = make()
    lab_a2(m)
    assert wr(m, 0x3818, 1) == MemTxResult.OK
    assert warnings(m) == [
        "warning: Blocked re-entrant IO on MemoryRegion: e1000e-mmio at addr: 0x3818"
    ]
    assert m.run_state == "running"


def test_with_the_guard_the_nic_finishes_both_rings_and_counts_one_frame_each_way() -> None:
    m = make()
    lab_a2(m)
    wr(m, 0x3818, 1)
    assert (rd(m, 0x3810), rd(m, 0x2810)) == (1, 2)
    assert rx_desc(m, 1) == (BAR + 0x3818, 8, 0x03, 0)
    assert (rd(m, 0x4080), rd(m, 0x4074)) == (1, 1)


def test_without_the_guard_the_nested_receive_frees_the_packet_the_outer_one_uses() -> None:
    m = make()
    lab_a2(m)
    m.engine.fixes.set("reentrancy-guard", False)
    assert wr(m, 0x3818, 1) == MemTxResult.ERROR
    assert m.run_state == "crashed"
    assert m.engine.halt is not None and m.engine.halt.summary == UAF
    assert warnings(m)[0] == f"warning: machine crashed: {UAF}"


def test_without_the_guard_the_nested_transmit_ran_inside_the_receive() -> None:
    m = make()
    lab_a2(m)
    m.engine.fixes.set("reentrancy-guard", False)
    m.engine.tracer.set_state("e1000e_lite_tx_frame", True)
    m.engine.tracer.set_state("e1000e_rx_not_written_to_guest", True)
    wr(m, 0x3818, 1)
    assert [r.text for r in m.engine.tracer.ring if r.kind == "trace"] == [
        "e1000e_lite_tx_frame dev nic0 frame of 260 bytes sent to loopback",
        # tx->tx_pkt is shared: the nested run appends to the frame still being sent
        "e1000e_lite_tx_frame dev nic0 frame of 520 bytes sent to loopback",
        "e1000e_rx_not_written_to_guest Received packet NOT written to guest (ICR causes 64)",
    ]


def test_system_reset_brings_the_crashed_nic_back() -> None:
    m = make()
    lab_a2(m)
    m.engine.fixes.set("reentrancy-guard", False)
    wr(m, 0x3818, 1)
    m.system_reset()
    assert m.run_state == "running"
    d = nic(m)
    assert d.regs.peek("tdt") == 0 and d.heap.live == {}


def test_a_frame_from_the_network_cannot_dma_into_the_nics_own_registers() -> None:
    m = make()
    setup_rings(m, rdt=2, rctl=RCTL_EN)
    m.memory.write(RX_RING, RxDesc.pack(BAR + 0x3818))
    nic(m).receive(frame(64))
    assert warnings(m) == [
        "warning: Blocked re-entrant IO on MemoryRegion: e1000e-mmio at addr: 0x3818"
    ]
    assert m.engine.active == 0 and not nic(m).guard.engaged_in_io


def test_a_tx_ring_walk_longer_than_the_watchdog_budget_is_a_modelled_hang() -> None:
    m = make()
    m.engine.watchdog_steps = 50
    setup_rings(m, tdlen=0x1000)  # 256 descriptors, all empty (length 0, no EOP)
    assert wr(m, 0x3818, 200) == MemTxResult.ERROR
    assert m.run_state == "hung"
    assert m.engine.halt is not None
    assert m.engine.halt.summary == "watchdog: nic0 TX ring walk did not finish within 50 steps"
    assert m.engine.halt.details == ("  in nic0 e1000e-mmio+0x3818 write 0xc8 (4 bytes)",)


# -- the published reproducer -----------------------------------------------------------

# LP#1886362, "the former reproducer" as quoted by Philippe Mathieu-Daude (qemu-devel,
# 2020-09-03; reference/reproducers/lp1886362-e1000e-dma-to-own-mmio.txt), replayed
# unchanged: q35's e1000e is 00:02.0 with BAR0 at 0xe1020000.
LP1886362 = """\
outl 0xcf8 0x80001010
outl 0xcfc 0xe1020000
outl 0xcf8 0x80001014
outl 0xcf8 0x80001004
outw 0xcfc 0x7
outl 0xcf8 0x800010a2
write 0xe102003b 0x1 0xff
write 0xe1020103 0x1e 0xffffff055c5e5c30be4511d084ffffffffffffffffffffffffffffffffff
write 0xe1020420 0x4 0xffffffff
write 0xe1020424 0x4 0xffffffff
write 0xe102042b 0x1 0xff
write 0xe1020430 0x4 0x055c5e5c
write 0x5c041 0x1 0x04
write 0x5c042 0x1 0x02
write 0x5c043 0x1 0xe1
write 0x5c048 0x1 0x8a
write 0x5c04a 0x1 0x31
write 0x5c04b 0x1 0xff
write 0xe1020403 0x1 0xff
"""


def replay_lp1886362(guard: bool) -> Machine:
    from dmamon.qtest import execute

    m = Machine(devices=["e1000e-lite,id=nic0,addr=2"])
    m.engine.fixes.set("reentrancy-guard", guard)
    for line in LP1886362.splitlines():
        assert execute(m, line.split()).ok
    return m


def test_the_published_lp1886362_reproducer_is_blocked_at_the_nics_own_tctl() -> None:
    m = replay_lp1886362(guard=True)
    # The address of the illegal accesses in the RFC's trace: 0xe1020400, TCTL.
    assert warnings(m) == [
        "warning: Blocked re-entrant IO on MemoryRegion: e1000e-mmio at addr: 0x400"
    ]
    assert m.run_state == "running"


def test_without_the_guard_the_published_reproducer_crashes_the_machine() -> None:
    m = replay_lp1886362(guard=False)
    assert m.run_state == "crashed"
    assert m.engine.halt is not None
    assert m.engine.halt.summary.startswith("stack overflow: 65 nested MMIO dispatches into nic0")
    assert m.engine.halt.details[1] == "  #1 nic0 e1000e-mmio+0x400 write 0xfb (4 bytes)"


# -- info() records and the libqos-style driver -------------------------------------------


def test_info_describes_rings_interrupts_and_counters_as_records() -> None:
    import dataclasses

    from dmamon.devices.e1000e_lite import E1000eLiteDriver, RingView

    m = Machine(devices=["e1000e-lite,id=nic0"])
    drv = E1000eLiteDriver(m)
    drv.enable()
    drv.setup_tx()
    drv.queue_frame(frame(64, dst=PEER_MAC))
    before = nic(m).info()
    assert before.tx == RingView(TX_RING, 128, 8, 0, 0, 0, True)
    drv.kick()
    info = nic(m).info()
    assert info.tx == RingView(TX_RING, 128, 8, 1, 1, 0, True)
    assert (info.stats.gptc, info.stats.tpt, info.wire_frames) == (1, 1, 1)
    assert info.interrupts.icr == ICR_ASSERTED | ICR_TXDW | ICR_TXQE and not info.loopback
    data = dataclasses.asdict(info)
    assert data["mac"] == "52:54:00:12:34:56" and data["rx"]["enabled"] is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.mac = "x"  # type: ignore[misc]


def test_the_driver_maps_the_bar_enables_bus_mastering_and_sends() -> None:
    from dmamon.devices.e1000e_lite import E1000eLiteDriver

    m = Machine(devices=["e1000e-lite,id=nic0"])
    drv = E1000eLiteDriver(m)
    drv.enable()
    assert drv.config_read(0x04, 2) & 0x6 == 0x6
    assert drv.config_read(0x10, 4) & ~0xF == BAR
    drv.setup_tx()
    sent = [frame(60 + i, dst=PEER_MAC) for i in range(3)]
    assert [drv.send(f) for f in sent] == [0, 1, 2]
    assert list(nic(m).wire) == sent
    assert all(drv.tx_done(i) for i in range(3))
    assert rd(m, 0x3810) == 3  # TDH


def test_the_driver_loops_a_frame_back_into_its_rx_ring() -> None:
    from dmamon.devices.e1000e_lite import E1000eLiteDriver

    m = Machine(devices=["e1000e-lite,id=nic0"])
    drv = E1000eLiteDriver(m)
    drv.enable()
    drv.setup_tx()
    drv.setup_rx(RX_RING, RX_BUF, loopback=True)
    drv.send(frame(64))
    info = nic(m).info()
    assert info.loopback and info.stats.gprc == 1 and info.rx.head == 1
    assert info.rx_pkt_vec is not None and info.rx_pkt_vec.startswith("rx_pkt.vec")
    addr, length, status, _ = RxDesc.unpack(m.memory.read(RX_RING, 16)[1])
    assert (addr, length, status) == (RX_BUF, 68, 0x3)


def test_driver_mistakes_are_one_line_errors() -> None:
    from dmamon.devices.e1000e_lite import E1000eLiteDriver, E1000eLiteDriverError

    m = Machine(devices=["e1000e-lite,id=nic0"])
    with pytest.raises(E1000eLiteDriverError, match="no e1000e-lite with id 'nic9'"):
        E1000eLiteDriver(m, "nic9")
    with pytest.raises(E1000eLiteDriverError, match="128 KiB aligned"):
        E1000eLiteDriver(m, bar=BAR + 0x1000)
    drv = E1000eLiteDriver(m)
    drv.enable()
    drv.setup_tx()
    drv.writel(0x0400, 0)  # TCTL.EN off: nothing is consumed
    for _ in range(7):
        drv.send(frame(64))
    with pytest.raises(E1000eLiteDriverError, match="TX ring full"):
        drv.queue_frame(frame(64))
    with pytest.raises(E1000eLiteDriverError, match="1..2048 bytes"):
        drv.queue_frame(b"")
