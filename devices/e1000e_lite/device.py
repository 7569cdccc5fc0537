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
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmamon.devices.common import HeadTailRing
from dmamon.devices.e1000e_lite.descriptors import DESC_LEN, RxDesc, TxDesc
from dmamon.devices.e1000e_lite.regs import (
    ALIASES,
    CTRL_RST,
    ICR_ASSERTED,
    MMIO_SIZE,
    RAH_AV,
    TARC_ENABLE,
    E1000eLiteRegs,
)
from dmamon.devices.e1000e_lite.rx import RxPath
from dmamon.devices.e1000e_lite.trace_events import (
    e1000e_core_ctrl_sw_reset,
    e1000e_core_read,
    e1000e_core_write,
    e1000e_irq_legacy_notify,
    e1000e_irq_msi_notify,
    e1000e_irq_set_cause_exit,
    e1000e_rx_set_rctl,
    e1000e_rx_set_rdt,
    e1000e_wrn_regs_read_unknown,
    e1000e_wrn_regs_write_ro,
    e1000e_wrn_regs_write_unknown,
)
from dmamon.devices.e1000e_lite.tx import TxPath
from dmamon.devices.pci.device import PciDevice
from dmamon.devices.props import DeviceProps, prop
from dmamon.devices.regs import RC, RO, RegisterBank, before_write, on_read, on_write
from dmamon.memory import ConfigError

if TYPE_CHECKING:
    from dmamon.devices.e1000e_lite.info import E1000eLiteInfo, RingView
    from dmamon.devices.machine import Machine

__all__ = ["E1000eLite", "E1000eLiteProps", "E1000eLiteRegs", "RxDesc", "TxDesc"]


_TX = ("tdbal", "tdbah", "tdlen", "tdh", "tdt")
_RX = ("rdbal", "rdbah", "rdlen", "rdh", "rdt")


_MAC_RE = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}\Z")


def _parse_mac(text: str) -> bytes:
    if not _MAC_RE.match(text):
        raise ConfigError(
            f"Property 'e1000e-lite.mac' expects a MAC like 52:54:00:12:34:56, not {text!r}"
        )
    return bytes(int(p, 16) for p in text.split(":"))


@dataclass(frozen=True, slots=True)
class E1000eLiteProps(DeviceProps):
    """The ``-device e1000e-lite`` properties."""

    mac: str = prop("52:54:00:12:34:56", "MAC address (RAL0/RAH0 at reset)")


def _ring_view(ring: HeadTailRing, enabled: bool) -> RingView:
    from dmamon.devices.e1000e_lite.info import RingView  # records load on first use

    s = ring.state()
    n = s.length // DESC_LEN
    return RingView(s.base, s.length, n, s.head, s.tail, ring.free_count(), enabled)


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
    Props = E1000eLiteProps
    properties: E1000eLiteProps

    def __init__(self, machine: Machine, name: str, props: dict[str, int | bool | str]) -> None:
        super().__init__(machine, name, props)
        self.mac = _parse_mac(self.properties.mac)
        self.regs = E1000eLiteRegs(self)
        # QEMU e1000e_mmio_ops: 4-byte implementation, any guest size.
        self.mmio = self.io_region(
            "e1000e-mmio", MMIO_SIZE, self._mmio_read, self._mmio_write, valid=(1, 0), impl=(4, 4)
        )
        self.init_msi(1, is_64=True)
        self.register_bar(0, self.mmio)
        self.wire: deque[bytes] = deque(maxlen=16)  # frames sent out (no netdev is modelled)
        self.tx = TxPath(self)
        self.rx = RxPath(self)
        self._msi_pending = 0
        self._set_mac_regs()

    def banks(self) -> dict[str, RegisterBank]:
        return {"regs": self.regs}

    def reset(self) -> None:
        super().reset()
        self.regs.reset()
        self._set_mac_regs()
        self._soft_state_reset()
        self.rx.depth = 0
        self.wire.clear()

    def _soft_state_reset(self) -> None:
        self.tx.reset()
        self.rx.vec = None
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
            self.tx.start_xmit()

    @on_write("tdt")
    def _tdt_written(self, old: int, new: int) -> None:
        # e1000e_set_tdt: the doorbell runs the whole TX ring inside the MMIO write.
        if self.regs.peek("tarc0") & TARC_ENABLE:
            self.tx.start_xmit()

    @on_write("rdt")
    def _rdt_written(self, old: int, new: int) -> None:
        self.tracer.emit(e1000e_rx_set_rdt, queue_idx=0, val=new)

    @on_write("ics")
    def _ics_written(self, old: int, new: int) -> None:
        self.set_interrupt_cause(new)

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
                self.rx.receive_iov(bytes(frame))
            finally:
                guard.engaged_in_io = was

        self.engine.run_activation(deliver)

    # -- interrupts (e1000e_set_interrupt_cause, e1000e_update_interrupt_state) ----------------

    def set_interrupt_cause(self, val: int) -> None:
        """Raise causes in ICR and update the interrupt line or MSI."""
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

    def count(self, reg: str) -> None:
        """Count one event in a statistics register, saturating."""
        v = self.regs.peek(reg)
        if v != 0xFFFF_FFFF:  # e1000x_inc_reg_if_not_full
            self.regs.poke(reg, v + 1)

    def loopback(self) -> bool:
        """RCTL.LBM is MAC loopback: QEMU's ``e1000e_tx_pkt_send`` tests its low bit."""
        return bool(self.regs.field("rctl", "lbm") & 1)

    def info(self) -> E1000eLiteInfo:
        """The device's state as typed records (``info device``)."""
        from dmamon.devices.e1000e_lite.info import E1000eLiteInfo, InterruptView, StatsView

        p = self.regs.peek
        stats = StatsView(*(p(n) for n in ("gptc", "tpt", "gprc", "tpr", "mpc", "ruc", "roc")))
        vec = self.rx.vec
        return E1000eLiteInfo(
            mac=":".join(f"{b:02x}" for b in self.mac),
            loopback=self.loopback(),
            tx=_ring_view(self.tx.ring, bool(self.regs.field("tctl", "en"))),
            rx=_ring_view(self.rx.ring, bool(self.regs.field("rctl", "en"))),
            interrupts=InterruptView(p("icr"), p("ims"), self.irq_level, self.msi_enabled),
            stats=stats,
            tx_frags=len(self.tx.frags),
            rx_pkt_vec=vec.label if vec is not None else None,
            wire_frames=len(self.wire),
        )

    def status_lines(self) -> list[str]:
        p = self.regs.peek
        vec = self.rx.vec
        return [
            f"mac={':'.join(f'{b:02x}' for b in self.mac)} "
            f"tctl.en={(p('tctl') >> 1) & 1} rctl.en={(p('rctl') >> 1) & 1} "
            f"loopback={'mac' if self.loopback() else 'off'}",
            f"tx ring: head={p('tdh')} tail={p('tdt')} len={p('tdlen')}; "
            f"rx ring: head={p('rdh')} tail={p('rdt')} len={p('rdlen')}",
            f"icr={p('icr'):#x} ims={p('ims'):#x} intx={self.irq_level} "
            f"rx_pkt.vec={vec.label if vec is not None else 'none'} wire={len(self.wire)}",
        ]
