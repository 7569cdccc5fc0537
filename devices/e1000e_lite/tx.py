"""e1000e-lite's transmit path (QEMU ``e1000e_start_xmit`` / ``e1000e_process_tx_desc``).

The TX ring is walked synchronously inside the doorbell write (TDT, or TCTL), so a frame
looped back into the receive path runs inside that MMIO write: the order LP#1886362 needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.devices.common import HeadTailRing
from dmamon.devices.e1000e_lite.descriptors import (
    DESC_LEN,
    ETH_HLEN,
    MAX_TX_FRAGS,
    MAX_TX_FRAME,
    RING_DESC,
    TXD_CMD_DEXT,
    TXD_CMD_EOP,
    TXD_CMD_RS,
    TXD_DTYP_D,
    TXD_STAT_DD,
    U64,
)
from dmamon.devices.e1000e_lite.regs import ICR_TXDW, ICR_TXQE
from dmamon.devices.e1000e_lite.trace_events import (
    e1000e_lite_tx_frame,
    e1000e_tx_descr,
    e1000e_tx_disabled,
)

if TYPE_CHECKING:
    from dmamon.devices.e1000e_lite.device import E1000eLite

__all__ = ["TxPath"]


class TxPath:
    """The transmit ring and the packet being assembled from its descriptors.

    Args:
        dev: The owning NIC (registers, DMA port, tracer, receive path for loopback).

    Attributes:
        ring: TDBAL/TDBAH/TDLEN/TDH/TDT as a :class:`HeadTailRing`.
        frags: Fragments of the frame being assembled (QEMU ``tx->tx_pkt``).
        size: Their total length.
        skip: The frame is being dropped (too many or too big fragments).
    """

    __slots__ = ("dev", "ring", "frags", "size", "skip", "walk_label")

    def __init__(self, dev: E1000eLite) -> None:
        self.dev = dev
        self.ring = HeadTailRing(dev.regs, "tdbal", "tdbah", "tdlen", "tdh", "tdt", DESC_LEN)
        self.frags: list[bytes] = []
        self.size = 0
        self.skip = False
        self.walk_label = f"{dev.name} TX ring walk"  # the watchdog's label

    def reset(self) -> None:
        """Forget the frame being assembled."""
        self.frags = []
        self.size = 0
        self.skip = False

    def start_xmit(self) -> None:
        """Consume the whole ring (``e1000e_start_xmit``), then raise TXQE (and TXDW)."""
        dev = self.dev
        if not dev.regs.field("tctl", "en"):
            dev.tracer.emit(e1000e_tx_disabled)
            return
        assert dev.dma is not None
        cause = ICR_TXQE
        for base in self.ring.walk(dev.engine.tick, self.walk_label):
            desc = dev.dma.read(base, DESC_LEN).data  # QEMU ignores the result
            buf, lower, upper = RING_DESC.unpack(desc)
            dev.tracer.emit(e1000e_tx_descr, addr=buf, lower=lower, upper=upper)
            self._process_desc(buf, lower)
            cause |= self._writeback(base, lower, upper)
        dev.set_interrupt_cause(cause)

    def _process_desc(self, buf: int, lower: int) -> None:
        cmd = lower >> 24
        if cmd & TXD_CMD_DEXT and not lower & TXD_DTYP_D:
            return  # a context descriptor: offload parameters only (not modelled)
        length = lower & 0xFFFF
        if not self.skip:
            # net_tx_pkt_add_raw_fragment: too many fragments or too big drops the frame.
            if len(self.frags) >= MAX_TX_FRAGS or self.size + length > MAX_TX_FRAME:
                self.skip = True
            elif length:
                dev = self.dev
                assert dev.dma is not None
                dev.engine.tick(1 + length // 4096, self.walk_label)
                self.frags.append(dev.dma.read(buf, length).data)
                self.size += length
        if cmd & TXD_CMD_EOP:
            frame = b"".join(self.frags)
            # net_tx_pkt_parse fails on less than an Ethernet header: nothing is sent.
            if not self.skip and len(frame) >= ETH_HLEN and self._send(frame):
                self.dev.count("gptc")
                self.dev.count("tpt")
            # The state is shared with any nested run of this function, as tx->tx_pkt is.
            self.reset()

    def _writeback(self, base: int, lower: int, upper: int) -> int:
        if not (lower >> 24) & TXD_CMD_RS:
            return 0
        dma = self.dev.dma
        assert dma is not None
        dma.write((base + 12) & U64, (upper | TXD_STAT_DD).to_bytes(4, "little"))
        return ICR_TXDW

    def _send(self, frame: bytes) -> bool:
        dev = self.dev
        if dev.loopback():
            # net_tx_pkt_send_loopback: the frame goes straight into our own receive path,
            # still inside the TDT write (the 2020 code path of LP#1886362).
            dev.tracer.emit(e1000e_lite_tx_frame, dev=dev.name, len=len(frame), dest="loopback")
            dev.rx.receive_iov(frame)
            return True
        dev.tracer.emit(e1000e_lite_tx_frame, dev=dev.name, len=len(frame), dest="wire")
        dev.wire.append(frame)
        return True
