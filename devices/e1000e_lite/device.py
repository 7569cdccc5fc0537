"""``e1000e-lite``: a reduced Intel 82574L (QEMU's ``e1000e``) for the re-entrancy labs.

It keeps what LP#1886362 needs and nothing else: PCI 8086:10d3, BAR0 = 128 KiB
``e1000e-mmio`` with e1000e's real register offsets (and the 82542 aliases QEMU accepts
for the ring registers), legacy 16-byte TX and RX descriptors, the transmit ring walked
synchronously inside the TDT (or TCTL) write as ``e1000e_set_tdt`` → ``e1000e_start_xmit``
does, MAC loopback (``RCTL.LBM`` = MAC) straight into the receive path, and a receive
packet whose fragment vector lives on the device's sim heap and is reallocated on every
receive, as ``net_rx_pkt_attach_iovec_ex`` → ``net_rx_pkt_iovec_realloc`` does in QEMU.

With the re-entrancy guard off, a looped-back frame that the receive path DMA-writes into
the NIC's own TDT runs the transmit path *inside* the receive path; the nested receive
reallocates the packet vector and the outer ``e1000e_write_packet_to_guest`` then reads
the freed one: ``SIM-UAF``, the ASAN report of LP#1886362. With the guard on, the nested
MMIO write is refused with QEMU's warning and the device carries on.

Left out: PHY/MDIC, EEPROM, flash and I/O BARs, MSI-X, interrupt moderation, offloads,
extended and packet-split descriptors, VLAN, multicast hashing, RSS, the second queue.
Every ring walk is bounded by the ring size and by the engine's watchdog
(``engine.tick``), so nothing a guest programs can hang the monitor.
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING

from dmamon.devices.base import SimObject
from dmamon.devices.e1000e_lite.descriptors import (
    DESC_LEN,
    ETH_HLEN,
    FCS_LEN,
    MAX_TX_FRAGS,
    MAX_TX_FRAME,
    MAX_VLAN_FRAME,
    MIN_FRAME,
    RING_DESC,
    RX_DESC,
    RXD_STAT_DD,
    RXD_STAT_EOP,
    TXD_CMD_DEXT,
    TXD_CMD_EOP,
    TXD_CMD_RS,
    TXD_DTYP_D,
    TXD_STAT_DD,
    U64,
    RxDesc,
    TxDesc,
)
from dmamon.devices.e1000e_lite.regs import (
    ALIASES,
    CTRL_RST,
    ICR_ASSERTED,
    ICR_RXO,
    ICR_RXT0,
    ICR_TXDW,
    ICR_TXQE,
    MMIO_SIZE,
    RAH_AV,
    RCTL_BAM,
    RCTL_BSEX,
    RCTL_EN,
    RCTL_LBM_MAC,
    RCTL_LPE,
    RCTL_MPE,
    RCTL_SECRC,
    RCTL_SZ_MASK,
    RCTL_UPE,
    STATUS_LU,
    TARC_ENABLE,
    TCTL_EN,
    E1000eLiteRegs,
)
from dmamon.devices.e1000e_lite.trace_events import (
    e1000e_core_ctrl_sw_reset,
    e1000e_core_read,
    e1000e_core_write,
    e1000e_irq_legacy_notify,
    e1000e_irq_msi_notify,
    e1000e_irq_set_cause_exit,
    e1000e_lite_tx_frame,
    e1000e_ring_free_space,
    e1000e_rx_desc_buff_write,
    e1000e_rx_descr,
    e1000e_rx_flt_dropped,
    e1000e_rx_has_buffers,
    e1000e_rx_not_written_to_guest,
    e1000e_rx_null_descriptor,
    e1000e_rx_receive_iov,
    e1000e_rx_set_rctl,
    e1000e_rx_set_rdt,
    e1000e_rx_written_to_guest,
    e1000e_tx_descr,
    e1000e_tx_disabled,
    e1000e_wrn_regs_read_unknown,
    e1000e_wrn_regs_write_ro,
    e1000e_wrn_regs_write_unknown,
    e1000x_rx_disabled,
    e1000x_rx_link_down,
    e1000x_rx_oversized,
)
from dmamon.devices.pci.device import PciDevice
from dmamon.devices.props import Prop
from dmamon.devices.regs import RC, RO, RegisterBank, before_write, on_read, on_write
from dmamon.memory import ConfigError, MemoryRegion, MmioOps

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = ["E1000eLite", "E1000eLiteRegs", "RxDesc", "TxDesc"]


_TX = ("tdbal", "tdbah", "tdlen", "tdh", "tdt")
_RX = ("rdbal", "rdbah", "rdlen", "rdh", "rdt")


_MAC_RE = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}\Z")


def _parse_mac(text: str) -> bytes:
    if not _MAC_RE.match(text):
        raise ConfigError(
            f"Property 'e1000e-lite.mac' expects a MAC like 52:54:00:12:34:56, not {text!r}"
        )
    return bytes(int(p, 16) for p in text.split(":"))


class E1000eLite(PciDevice, type_name="e1000e-lite"):
    """Intel 82574L reduced to TX/RX legacy rings and MAC loopback.

    Attributes:
        regs: the register bank (``reg read nic0 tdt``, ``info registers nic0``).
        wire: the last 16 frames sent out without loopback (no netdev is modelled).
        mac: the MAC address from the ``mac`` property.
    """

    description = "Intel 82574L (e1000e) reduced: legacy TX/RX rings, MAC loopback"
    vendor_id = 0x8086
    device_id = 0x10D3
    revision = 0
    class_id = 0x0200  # PCI_CLASS_NETWORK_ETHERNET
    subsystem_vendor_id = 0x8086
    subsystem_id = 0x0000
    interrupt_pin = 1
    register_banks = (E1000eLiteRegs,)
    props = (Prop("mac", "str", "52:54:00:12:34:56", "MAC address (RAL0/RAH0 at reset)"),)

    def __init__(self, machine: Machine, name: str, props: dict[str, int | bool | str]) -> None:
        super().__init__(machine, name, props)
        self.mac = _parse_mac(str(props["mac"]))
        self.regs = E1000eLiteRegs(self)
        self.mmio = MemoryRegion.io_region(
            "e1000e-mmio",
            MMIO_SIZE,
            # QEMU e1000e_mmio_ops: 4-byte implementation, any guest size.
            MmioOps(
                read=self._mmio_read,
                write=self._mmio_write,
                valid_min=1,
                valid_max=0,
                impl_min=4,
                impl_max=4,
            ),
            owner=self,
        )
        self.init_msi(1, is_64=True)
        self.register_bar(0, self.mmio)
        self.wire: deque[bytes] = deque(maxlen=16)  # frames sent out (no netdev is modelled)
        self._tx_frags: list[bytes] = []
        self._tx_size = 0
        self._tx_skip = False
        self._rx_vec: SimObject | None = None  # rx_pkt's fragment vector (net_rx_pkt.vec)
        self._rx_depth = 0
        self._msi_pending = 0
        self._tx_walk = f"{name} TX ring walk"  # watchdog labels
        self._rx_walk = f"{name} RX ring walk"
        self._set_mac_regs()

    def banks(self) -> dict[str, RegisterBank]:
        return {"regs": self.regs}

    def reset(self) -> None:
        super().reset()
        self.regs.reset()
        self._set_mac_regs()
        self._soft_state_reset()
        self._rx_depth = 0
        self.wire.clear()

    def _soft_state_reset(self) -> None:
        self._tx_frags = []
        self._tx_size = 0
        self._tx_skip = False
        self._rx_vec = None
        self._msi_pending = 0

    def _set_mac_regs(self) -> None:
        m = self.mac
        self.regs.poke("ral0", int.from_bytes(m[0:4], "little"))
        self.regs.poke("rah0", int.from_bytes(m[4:6], "little") | RAH_AV)

    # -- MMIO (e1000e_mmio_read / e1000e_mmio_write → e1000e_core_read / _write) ---------------

    @staticmethod
    def _index(off: int) -> int:
        # QEMU uses addr >> 2 as the register index: a sub-word access at 0x103 is a whole
        # access to RCTL at 0x100 (e1000e_get_reg_index_with_offset).
        index = off & 0x1FFFC
        return ALIASES.get(index, index)

    def _mmio_write(self, off: int, val: int, size: int) -> None:
        index = self._index(off)
        info = E1000eLiteRegs.lookup(index)
        if info is None or info.offset != index:
            self.tracer.emit(e1000e_wrn_regs_write_unknown, index=index, size=size, val=val)
            return
        if info.access is RO or info.access is RC:
            self.tracer.emit(e1000e_wrn_regs_write_ro, index=index, size=size, val=val)
            return
        self.tracer.emit(e1000e_core_write, index=index, size=size, val=val)
        self.regs.write(index, val & 0xFFFF_FFFF, 4)

    def _mmio_read(self, off: int, size: int) -> int:
        index = self._index(off)
        info = E1000eLiteRegs.lookup(index)
        if info is None or info.offset != index:
            self.tracer.emit(e1000e_wrn_regs_read_unknown, index=index, size=size)
            return 0
        val = self.regs.read(index, 4)
        self.tracer.emit(e1000e_core_read, index=index, size=size, val=val)
        return val

    # -- register behaviour ------------------------------------------------------------------

    @before_write("ctrl")
    def _ctrl_write(self, old: int, new: int) -> int | None:
        if new & CTRL_RST:
            # e1000e_set_ctrl → e1000e_reset(core, true) in current QEMU (7.2 only restored
            # the MAC address): registers to reset values; RST itself is self-clearing.
            self.tracer.emit(e1000e_core_ctrl_sw_reset)
            self.regs.reset()
            self._set_mac_regs()
            self._soft_state_reset()
            self._update_interrupt_state()
        return new & ~CTRL_RST

    @before_write("rctl")
    def _rctl_write(self, old: int, new: int) -> int | None:
        self.tracer.emit(e1000e_rx_set_rctl, rctl=new)
        return new

    @on_write("tctl")
    def _tctl_written(self, old: int, new: int) -> None:
        # e1000e_set_tctl kicks the queue whose TARC enable bit is set.
        if self.regs.peek("tarc0") & TARC_ENABLE:
            self._start_xmit()

    @on_write("tdt")
    def _tdt_written(self, old: int, new: int) -> None:
        # e1000e_set_tdt: the doorbell runs the whole TX ring inside the MMIO write.
        if self.regs.peek("tarc0") & TARC_ENABLE:
            self._start_xmit()

    @on_write("rdt")
    def _rdt_written(self, old: int, new: int) -> None:
        self.tracer.emit(e1000e_rx_set_rdt, queue_idx=0, val=new)

    @on_write("ics")
    def _ics_written(self, old: int, new: int) -> None:
        self._set_interrupt_cause(new)

    @on_write("icr")
    def _icr_written(self, old: int, new: int) -> None:
        self._update_interrupt_state()

    @on_read("icr")
    def _icr_read(self, value: int) -> int:
        # e1000e_mac_icr_read: reading ICR clears it while no cause is enabled in IMS.
        if not self.regs.peek("ims"):
            self.regs.poke("icr", 0)
            self._update_interrupt_state()
        return value

    @on_write("ims")
    def _ims_written(self, old: int, new: int) -> None:
        self._update_interrupt_state()

    @on_write("imc")
    def _imc_written(self, old: int, new: int) -> None:
        self.regs.poke("ims", self.regs.peek("ims") & ~new & 0xFFFF_FFFF)
        self._update_interrupt_state()

    # -- rings -------------------------------------------------------------------------------

    def _ring(self, ring: tuple[str, ...]) -> tuple[int, int, int, int]:
        """``(base, len, head, tail)`` of a ring, from the registers as they are now."""
        p = self.regs.peek
        bal, bah, dlen, dh, dt = (p(n) for n in ring)
        return ((bah << 32) + bal) & U64, dlen, dh, dt

    def _ring_empty(self, ring: tuple[str, ...]) -> bool:
        _, dlen, dh, dt = self._ring(ring)
        # e1000e_ring_empty: a tail beyond the ring counts as empty too.
        return dh == dt or dt >= dlen // DESC_LEN

    def _head_descr(self, ring: tuple[str, ...]) -> int:
        base, _, dh, _ = self._ring(ring)
        return (base + DESC_LEN * dh) & U64

    def _ring_advance(self, ring: tuple[str, ...], count: int) -> None:
        _, dlen, dh, _ = self._ring(ring)
        dh += count
        if dh * DESC_LEN >= dlen:
            dh = 0
        self.regs.poke(ring[3], dh & 0xFFFF)

    def _free_descr(self, ring: tuple[str, ...]) -> int:
        _, dlen, dh, dt = self._ring(ring)
        self.tracer.emit(e1000e_ring_free_space, ridx=0, rdlen=dlen, rdh=dh, rdt=dt)
        if dh <= dt:
            return dt - dh
        return dlen // DESC_LEN + dt - dh

    # -- transmit (e1000e_start_xmit, e1000e_process_tx_desc) ----------------------------------

    def _start_xmit(self) -> None:
        if not self.regs.peek("tctl") & TCTL_EN:
            self.tracer.emit(e1000e_tx_disabled)
            return
        assert self.dma is not None
        cause = ICR_TXQE
        while not self._ring_empty(_TX):
            self.engine.tick(1, self._tx_walk)
            base = self._head_descr(_TX)
            desc = self.dma.read(base, DESC_LEN).data  # QEMU ignores the result
            buf, lower, upper = RING_DESC.unpack(desc)
            self.tracer.emit(e1000e_tx_descr, addr=buf, lower=lower, upper=upper)
            self._process_tx_desc(buf, lower)
            cause |= self._txdesc_writeback(base, lower, upper)
            self._ring_advance(_TX, 1)
        self._set_interrupt_cause(cause)

    def _process_tx_desc(self, buf: int, lower: int) -> None:
        cmd = lower >> 24
        if cmd & TXD_CMD_DEXT and not lower & TXD_DTYP_D:
            return  # a context descriptor: offload parameters only (not modelled)
        length = lower & 0xFFFF
        if not self._tx_skip:
            # net_tx_pkt_add_raw_fragment: too many fragments or too big drops the frame.
            if len(self._tx_frags) >= MAX_TX_FRAGS or self._tx_size + length > MAX_TX_FRAME:
                self._tx_skip = True
            elif length:
                assert self.dma is not None
                self.engine.tick(1 + length // 4096, self._tx_walk)
                self._tx_frags.append(self.dma.read(buf, length).data)
                self._tx_size += length
        if cmd & TXD_CMD_EOP:
            frame = b"".join(self._tx_frags)
            # net_tx_pkt_parse fails on less than an Ethernet header: nothing is sent.
            if not self._tx_skip and len(frame) >= ETH_HLEN and self._tx_pkt_send(frame):
                self._count("gptc")
                self._count("tpt")
            # The state is shared with any nested run of this function, as tx->tx_pkt is.
            self._tx_frags = []
            self._tx_size = 0
            self._tx_skip = False

    def _txdesc_writeback(self, base: int, lower: int, upper: int) -> int:
        if not (lower >> 24) & TXD_CMD_RS:
            return 0
        assert self.dma is not None
        self.dma.write((base + 12) & U64, (upper | TXD_STAT_DD).to_bytes(4, "little"))
        return ICR_TXDW

    def _tx_pkt_send(self, frame: bytes) -> bool:
        if self.regs.peek("rctl") & RCTL_LBM_MAC:
            # net_tx_pkt_send_loopback: the frame goes straight into our own receive path,
            # still inside the TDT write (the 2020 code path of LP#1886362).
            self.tracer.emit(e1000e_lite_tx_frame, dev=self.name, len=len(frame), dest="loopback")
            self._receive_iov(frame)
            return True
        self.tracer.emit(e1000e_lite_tx_frame, dev=self.name, len=len(frame), dest="wire")
        self.wire.append(frame)
        return True

    # -- receive (e1000e_receive_iov, e1000e_write_packet_to_guest) ----------------------------

    def receive(self, frame: bytes) -> None:
        """Deliver a frame from the network (QEMU ``qemu_deliver_packet_iov``).

        As in QEMU since 9050f976e4 ("net: Update MemReentrancyGuard for NIC",
        CVE-2023-3019), delivery marks the NIC engaged in I/O, so a receive DMA into its
        own registers is refused while the re-entrancy guard is on.

        Args:
            frame: the Ethernet frame, without FCS.
        """
        guard = self.guard

        def deliver() -> None:
            was = guard.engaged_in_io
            guard.engaged_in_io = True
            try:
                self._receive_iov(bytes(frame))
            finally:
                guard.engaged_in_io = was

        self.engine.run_activation(deliver)

    def _rx_buf_size(self) -> int:
        # e1000x_rxbufsize
        rctl = self.regs.peek("rctl")
        sz = rctl & RCTL_SZ_MASK
        if rctl & RCTL_BSEX:
            return {0x1 << 16: 16384, 0x2 << 16: 8192, 0x3 << 16: 4096}.get(sz, 2048)
        return {0x1 << 16: 1024, 0x2 << 16: 512, 0x3 << 16: 256}.get(sz, 2048)

    def _fcs_len(self) -> int:
        return 0 if self.regs.peek("rctl") & RCTL_SECRC else FCS_LEN

    def _accept(self, frame: bytes) -> bool:
        """e1000e_receive_filter with one exact address (RAL0/RAH0) and no hash table."""
        rctl = self.regs.peek("rctl")
        dst = frame[:6]
        if dst == b"\xff" * 6:
            if rctl & RCTL_BAM:
                return True
        elif dst[0] & 1:
            if rctl & RCTL_MPE:
                return True
        elif rctl & RCTL_UPE:
            return True
        rah = self.regs.peek("rah0")
        if not rah & RAH_AV:
            return False
        own = self.regs.peek("ral0").to_bytes(4, "little") + (rah & 0xFFFF).to_bytes(2, "little")
        return dst == own

    def _rx_where(self) -> str:
        depth = self._rx_depth
        return f"{'nested' if depth > 1 else 'outer'}, rx depth {depth}"

    def _receive_iov(self, frame: bytes) -> None:
        self._rx_depth += 1
        try:
            self._receive(frame)
        finally:
            self._rx_depth -= 1

    def _receive(self, frame: bytes) -> None:
        tr = self.tracer
        tr.emit(e1000e_rx_receive_iov, iovcnt=1)
        status = self.regs.peek("status")
        rctl = self.regs.peek("rctl")
        if not status & STATUS_LU:
            tr.emit(e1000x_rx_link_down, status=status)
            return
        if not rctl & RCTL_EN:
            tr.emit(e1000x_rx_disabled, rctl=rctl)
            return
        if len(frame) < MIN_FRAME:
            frame = frame + bytes(MIN_FRAME - len(frame))
            self._count("ruc")
        if not rctl & RCTL_LPE and len(frame) > MAX_VLAN_FRAME:
            tr.emit(e1000x_rx_oversized, size=len(frame))
            self._count("roc")
            return
        if not self._accept(frame):
            tr.emit(e1000e_rx_flt_dropped)
            return
        # net_rx_pkt_attach_iovec_ex → net_rx_pkt_iovec_realloc: the packet's fragment
        # vector is freed and allocated again, before anything checks for RX buffers.
        site = f"net_rx_pkt_iovec_realloc in e1000e_receive_iov ({self._rx_where()})"
        old = self._rx_vec
        if old is not None and old.alive:
            self.heap.free(old, site)
        vec = self.heap.alloc("rx_pkt.vec", site, frame)
        self._rx_vec = vec
        total = len(frame) + self._fcs_len()
        if self._has_rxbufs(total):
            self._write_packet_to_guest(vec, total)
            causes = ICR_RXT0
            tr.emit(e1000e_rx_written_to_guest, causes=causes)
        else:
            causes = ICR_RXO
            self._count("mpc")
            tr.emit(e1000e_rx_not_written_to_guest, causes=causes)
        self._set_interrupt_cause(causes)

    def _has_rxbufs(self, total: int) -> bool:
        bufs = self._free_descr(_RX)
        bsize = self._rx_buf_size()
        self.tracer.emit(
            e1000e_rx_has_buffers, ridx=0, free_desc=bufs, total_size=total, desc_buf_size=bsize
        )
        return total <= bufs * bsize

    def _write_packet_to_guest(self, vec: SimObject, total: int) -> None:
        """Copy the packet into RX buffers, descriptor by descriptor; every read of the
        packet vector is a use the sim heap checks (QEMU reads ``iov->iov_len`` after each
        ``pci_dma_write``: that is the READ of the ASAN report)."""
        assert self.dma is not None
        site = f"e1000e_write_packet_to_guest ({self._rx_where()})"
        heap = self.heap
        tr = self.tracer
        bsize = self._rx_buf_size()
        heap.use(vec, site)
        assert isinstance(vec.payload, bytes)
        size = len(vec.payload)
        desc_offset = 0
        iov_ofs = 0
        while True:
            self.engine.tick(1, self._rx_walk)
            desc_size = min(total - desc_offset, bsize)
            if self._ring_empty(_RX):
                return  # QEMU returns here without updating the statistics
            base = self._head_descr(_RX)
            raw = self.dma.read(base, DESC_LEN).data
            tr.emit(e1000e_rx_descr, ridx=0, base=base, len=DESC_LEN)
            ba = int.from_bytes(raw[:8], "little")
            is_last = False
            written = 0
            if ba:
                if desc_offset < size:
                    copy_size = min(size - desc_offset, bsize)
                    while copy_size:
                        heap.use(vec, site)
                        assert isinstance(vec.payload, bytes)
                        chunk = vec.payload[iov_ofs : iov_ofs + copy_size]
                        self._write_to_rx_buffers(ba, written, vec, chunk)
                        written += len(chunk)
                        copy_size -= len(chunk)
                        iov_ofs += len(chunk)
                        heap.use(vec, site)  # `if (iov_ofs == iov->iov_len)` after the DMA
                        if not chunk:
                            break
                    if desc_offset + desc_size >= total and total > size:
                        # Simulate FCS checksum presence in the last descriptor (QEMU).
                        pad = bytes(total - size)
                        self._write_to_rx_buffers(ba, written, vec, pad)
                        written += len(pad)
                desc_offset += desc_size
                is_last = desc_offset >= total
            else:
                tr.emit(e1000e_rx_null_descriptor)
            status = RXD_STAT_DD | (RXD_STAT_EOP if is_last else 0)
            self.dma.write(base, RX_DESC.pack(ba, written & 0xFFFF, 0, status, 0, 0))
            self._ring_advance(_RX, 1)
            if desc_offset >= total:
                break
        self._count("gprc")
        self._count("tpr")

    def _write_to_rx_buffers(self, ba: int, offset: int, vec: SimObject, data: bytes) -> None:
        assert self.dma is not None
        addr = (ba + offset) & U64
        self.tracer.emit(
            e1000e_rx_desc_buff_write,
            idx=0,
            addr=addr,
            offset=offset,
            source=vec.label,
            len=len(data),
        )
        self.dma.write(addr, data)  # QEMU ignores the result of pci_dma_write here

    # -- interrupts (e1000e_set_interrupt_cause, e1000e_update_interrupt_state) ----------------

    def _set_interrupt_cause(self, val: int) -> None:
        r = self.regs
        icr = r.peek("icr") | (val & 0xFFFF_FFFF)
        r.poke("icr", icr)
        self.tracer.emit(e1000e_irq_set_cause_exit, val=val, icr=icr)
        self._update_interrupt_state()

    def _update_interrupt_state(self) -> None:
        r = self.regs
        icr = r.peek("icr") & ~ICR_ASSERTED
        if icr:
            icr |= ICR_ASSERTED
        r.poke("icr", icr)
        r.poke("ics", icr)  # ICS reads mirror ICR (QEMU, for the VxWorks driver)
        causes = icr & r.peek("ims") & ~ICR_ASSERTED
        if not causes:
            self._msi_pending = 0
        if self.msi_enabled:
            # e1000e_send_msi: one message per newly pending cause.
            self._msi_pending &= causes
            new = causes & ~self._msi_pending
            if new:
                self._msi_pending |= new
                self.tracer.emit(e1000e_irq_msi_notify, cause=new)
                self.msi_notify(0)
            return
        level = 1 if causes else 0
        if level != self.irq_level:
            self.tracer.emit(e1000e_irq_legacy_notify, level=level)
        self.set_irq(level)

    # -- statistics ------------------------------------------------------------------------

    def _count(self, reg: str) -> None:
        v = self.regs.peek(reg)
        if v != 0xFFFF_FFFF:  # e1000x_inc_reg_if_not_full
            self.regs.poke(reg, v + 1)

    def status_lines(self) -> list[str]:
        p = self.regs.peek
        vec = self._rx_vec
        return [
            f"mac={':'.join(f'{b:02x}' for b in self.mac)} "
            f"tctl.en={(p('tctl') >> 1) & 1} rctl.en={(p('rctl') >> 1) & 1} "
            f"loopback={'mac' if p('rctl') & RCTL_LBM_MAC else 'off'}",
            f"tx ring: head={p('tdh')} tail={p('tdt')} len={p('tdlen')}; "
            f"rx ring: head={p('rdh')} tail={p('rdt')} len={p('rdlen')}",
            f"icr={p('icr'):#x} ims={p('ims'):#x} intx={self.irq_level} "
            f"rx_pkt.vec={vec.label if vec is not None else 'none'} wire={len(self.wire)}",
        ]
