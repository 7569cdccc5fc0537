"""e1000e-lite's receive path (QEMU ``e1000e_receive_iov`` / ``e1000e_write_packet_to_guest``).

The packet's fragment vector lives on the device's sim heap and is reallocated on every
receive (``net_rx_pkt_iovec_realloc``), so a nested receive frees the vector an outer one
is still copying from: the use-after-free of LP#1886362, reported as ``SIM-UAF``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.devices.base import SimObject
from dmamon.devices.common import HeadTailRing
from dmamon.devices.e1000e_lite.descriptors import (
    DESC_LEN,
    FCS_LEN,
    MAX_VLAN_FRAME,
    MIN_FRAME,
    RX_DESC,
    RXD_STAT_DD,
    RXD_STAT_EOP,
    U64,
)
from dmamon.devices.e1000e_lite.regs import (
    ICR_RXO,
    ICR_RXT0,
)
from dmamon.devices.e1000e_lite.trace_events import (
    e1000e_ring_free_space,
    e1000e_rx_desc_buff_write,
    e1000e_rx_descr,
    e1000e_rx_flt_dropped,
    e1000e_rx_has_buffers,
    e1000e_rx_not_written_to_guest,
    e1000e_rx_null_descriptor,
    e1000e_rx_receive_iov,
    e1000e_rx_written_to_guest,
    e1000x_rx_disabled,
    e1000x_rx_link_down,
    e1000x_rx_oversized,
)

if TYPE_CHECKING:
    from dmamon.devices.e1000e_lite.device import E1000eLite

__all__ = ["RxPath"]

_BSEX_SIZES = {1: 16384, 2: 8192, 3: 4096}  # RCTL.BSIZE with BSEX
_SIZES = {1: 1024, 2: 512, 3: 256}  # RCTL.BSIZE (0: 2048)


class RxPath:
    """The receive ring and the packet vector (``net_rx_pkt``) on the sim heap.

    Args:
        dev: The owning NIC.

    Attributes:
        ring: RDBAL/RDBAH/RDLEN/RDH/RDT as a :class:`HeadTailRing`.
        vec: The packet's fragment vector (``rx_pkt.vec``), or None before the first frame.
        depth: How many receives are running (more than 1 = re-entered).
    """

    __slots__ = ("dev", "ring", "vec", "depth", "walk_label")

    def __init__(self, dev: E1000eLite) -> None:
        self.dev = dev
        self.ring = HeadTailRing(dev.regs, "rdbal", "rdbah", "rdlen", "rdh", "rdt", DESC_LEN)
        self.vec: SimObject | None = None
        self.depth = 0
        self.walk_label = f"{dev.name} RX ring walk"  # the watchdog's label

    def buf_size(self) -> int:
        """Bytes per receive buffer (``e1000x_rxbufsize``)."""
        field = self.dev.regs.field
        sizes = _BSEX_SIZES if field("rctl", "bsex") else _SIZES
        return sizes.get(field("rctl", "bsize"), 2048)

    def _fcs_len(self) -> int:
        return 0 if self.dev.regs.field("rctl", "secrc") else FCS_LEN

    def _accept(self, frame: bytes) -> bool:
        """e1000e_receive_filter with one exact address (RAL0/RAH0) and no hash table."""
        regs = self.dev.regs
        dst = frame[:6]
        if dst == b"\xff" * 6:
            if regs.field("rctl", "bam"):
                return True
        elif dst[0] & 1:
            if regs.field("rctl", "mpe"):
                return True
        elif regs.field("rctl", "upe"):
            return True
        if not regs.field("rah0", "av"):
            return False
        high = regs.field("rah0", "addr")
        own = regs.peek("ral0").to_bytes(4, "little") + high.to_bytes(2, "little")
        return dst == own

    def _where(self) -> str:
        return f"{'nested' if self.depth > 1 else 'outer'}, rx depth {self.depth}"

    def receive_iov(self, frame: bytes) -> None:
        """Receive one frame (``e1000e_receive_iov``), counting the nesting depth."""
        self.depth += 1
        try:
            self._receive(frame)
        finally:
            self.depth -= 1

    def _filter(self, frame: bytes) -> bytes | None:
        """The frame padded to the minimum, or None when link, RCTL or the filter drop it."""
        dev = self.dev
        tr = dev.tracer
        status = dev.regs.peek("status")
        rctl = dev.regs.peek("rctl")
        if not dev.regs.field("status", "lu"):
            tr.emit(e1000x_rx_link_down, status=status)
            return None
        if not dev.regs.field("rctl", "en"):
            tr.emit(e1000x_rx_disabled, rctl=rctl)
            return None
        if len(frame) < MIN_FRAME:
            frame = frame + bytes(MIN_FRAME - len(frame))
            dev.count("ruc")
        if not dev.regs.field("rctl", "lpe") and len(frame) > MAX_VLAN_FRAME:
            tr.emit(e1000x_rx_oversized, size=len(frame))
            dev.count("roc")
            return None
        if not self._accept(frame):
            tr.emit(e1000e_rx_flt_dropped)
            return None
        return frame

    def _receive(self, frame: bytes) -> None:
        dev = self.dev
        tr = dev.tracer
        tr.emit(e1000e_rx_receive_iov, iovcnt=1)
        accepted = self._filter(frame)
        if accepted is None:
            return
        # net_rx_pkt_attach_iovec_ex → net_rx_pkt_iovec_realloc: the packet's fragment
        # vector is freed and allocated again, before anything checks for RX buffers.
        site = f"net_rx_pkt_iovec_realloc in e1000e_receive_iov ({self._where()})"
        old = self.vec
        if old is not None and old.alive:
            dev.heap.free(old, site)
        vec = dev.heap.alloc("rx_pkt.vec", site, accepted)
        self.vec = vec
        total = len(accepted) + self._fcs_len()
        if self._has_bufs(total):
            self._write_packet_to_guest(vec, total)
            causes = ICR_RXT0
            tr.emit(e1000e_rx_written_to_guest, causes=causes)
        else:
            causes = ICR_RXO
            dev.count("mpc")
            tr.emit(e1000e_rx_not_written_to_guest, causes=causes)
        dev.set_interrupt_cause(causes)

    def _has_bufs(self, total: int) -> bool:
        s = self.ring.state()
        tr = self.dev.tracer
        tr.emit(e1000e_ring_free_space, ridx=0, rdlen=s.length, rdh=s.head, rdt=s.tail)
        bufs = self.ring.free_count()
        bsize = self.buf_size()
        tr.emit(
            e1000e_rx_has_buffers, ridx=0, free_desc=bufs, total_size=total, desc_buf_size=bsize
        )
        return total <= bufs * bsize

    def _write_packet_to_guest(self, vec: SimObject, total: int) -> None:
        """Copy the packet into RX buffers, descriptor by descriptor; every read of the
        packet vector is a use the sim heap checks (QEMU reads ``iov->iov_len`` after each
        ``pci_dma_write``: that is the READ of the ASAN report)."""
        dev = self.dev
        assert dev.dma is not None
        site = f"e1000e_write_packet_to_guest ({self._where()})"
        dev.heap.use(vec, site)
        assert isinstance(vec.payload, bytes)
        size = len(vec.payload)
        bsize = self.buf_size()
        desc_offset = 0
        iov_ofs = 0
        while True:
            dev.engine.tick(1, self.walk_label)
            desc_size = min(total - desc_offset, bsize)
            if self.ring.is_empty():
                return  # QEMU returns here without updating the statistics
            base = self.ring.head_addr()
            raw = dev.dma.read(base, DESC_LEN).data
            dev.tracer.emit(e1000e_rx_descr, ridx=0, base=base, len=DESC_LEN)
            ba = int.from_bytes(raw[:8], "little")
            is_last = False
            written = 0
            if ba:
                if desc_offset < size:
                    copy = min(size - desc_offset, bsize)
                    written, iov_ofs = self._copy(vec, site, ba, copy, iov_ofs)
                    if desc_offset + desc_size >= total and total > size:
                        # Simulate FCS checksum presence in the last descriptor (QEMU).
                        written += self._write_buf(ba, written, vec, bytes(total - size))
                desc_offset += desc_size
                is_last = desc_offset >= total
            else:
                dev.tracer.emit(e1000e_rx_null_descriptor)
            status = RXD_STAT_DD | (RXD_STAT_EOP if is_last else 0)
            dev.dma.write(base, RX_DESC.pack(ba, written & 0xFFFF, 0, status, 0, 0))
            self.ring.advance(1)
            if desc_offset >= total:
                break
        dev.count("gprc")
        dev.count("tpr")

    def _copy(
        self, vec: SimObject, site: str, ba: int, copy_size: int, iov_ofs: int
    ) -> tuple[int, int]:
        """Copy ``copy_size`` bytes of the vector from ``iov_ofs`` into the buffer at ``ba``;
        returns ``(written, iov_ofs)``. The vector is checked before and after each DMA."""
        heap = self.dev.heap
        written = 0
        while copy_size:
            heap.use(vec, site)
            assert isinstance(vec.payload, bytes)
            chunk = vec.payload[iov_ofs : iov_ofs + copy_size]
            written += self._write_buf(ba, written, vec, chunk)
            copy_size -= len(chunk)
            iov_ofs += len(chunk)
            heap.use(vec, site)  # `if (iov_ofs == iov->iov_len)` after the DMA
            if not chunk:
                break
        return written, iov_ofs

    def _write_buf(self, ba: int, offset: int, vec: SimObject, data: bytes) -> int:
        dev = self.dev
        assert dev.dma is not None
        addr = (ba + offset) & U64
        dev.tracer.emit(
            e1000e_rx_desc_buff_write,
            idx=0,
            addr=addr,
            offset=offset,
            source=vec.label,
            len=len(data),
        )
        dev.dma.write(addr, data)  # QEMU ignores the result of pci_dma_write here
        return len(data)
