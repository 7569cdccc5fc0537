"""A libqos-style guest driver for e1000e-lite: what a guest does, and nothing more.

Every step is a guest-visible access: PCI configuration through CONFIG_ADDRESS/CONFIG_DATA
(0xcf8/0xcfc) to map BAR0 and enable memory decoding and bus mastering, stores into guest
RAM for descriptors and frames, and MMIO stores to the NIC's registers (ring base, length,
head, tail, TCTL/RCTL). Nothing reaches into the model, so a session using it can be
replayed by hand with ``outl``/``writel``/``write``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.devices.e1000e_lite.descriptors import DESC_LEN, RxDesc, TxDesc
from dmamon.devices.e1000e_lite.device import E1000eLite
from dmamon.devices.e1000e_lite.regs import MMIO_SIZE, RCTL_EN, RCTL_LBM_MAC, TCTL_EN
from dmamon.memory import MemTxResult

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = ["DEFAULT_BAR", "E1000eLiteDriver", "E1000eLiteDriverError"]

DEFAULT_BAR = 0xFEB00000
CONFIG_ADDRESS, CONFIG_DATA = 0xCF8, 0xCFC
PCI_COMMAND, PCI_BAR0 = 0x04, 0x10
CMD_MEMORY, CMD_BUS_MASTER = 0x2, 0x4
TXD_CMD_EOP_RS = 0x09  # EOP | RS: the frame ends here; write DD back
REG_RCTL, REG_TCTL = 0x0100, 0x0400
REG_RDBAL, REG_RDBAH, REG_RDLEN, REG_RDH, REG_RDT = 0x2800, 0x2804, 0x2808, 0x2810, 0x2818
REG_TDBAL, REG_TDBAH, REG_TDLEN, REG_TDH, REG_TDT = 0x3800, 0x3804, 0x3808, 0x3810, 0x3818


class E1000eLiteDriverError(ValueError):
    """What was asked of the driver cannot be done (no such NIC, a bad layout, a full ring)."""


class E1000eLiteDriver:
    """Drives one e1000e-lite as a guest would.

    Args:
        machine: The machine.
        nic: The device's id (``nic0``).
        bar: Where to map BAR0 (128 KiB aligned).
        tx_ring: Guest RAM address of the TX ring (16-byte aligned).
        entries: Descriptors per ring (a multiple of 8: the length is a multiple of 128).
        buffers: Guest RAM for frame buffers, one 2 KiB buffer per descriptor.

    Raises:
        E1000eLiteDriverError: no such e1000e-lite, or a misaligned layout.
    """

    def __init__(
        self,
        machine: Machine,
        nic: str = "nic0",
        bar: int = DEFAULT_BAR,
        tx_ring: int = 0x10000,
        entries: int = 8,
        buffers: int = 0x30000,
    ) -> None:
        dev = machine.devices.get(nic)
        if not isinstance(dev, E1000eLite):
            raise E1000eLiteDriverError(f"no e1000e-lite with id '{nic}'")
        if bar % MMIO_SIZE or tx_ring % DESC_LEN or not entries or entries % 8:
            raise E1000eLiteDriverError(
                "BAR0 must be 128 KiB aligned, the ring 16-byte aligned, entries a multiple of 8"
            )
        self.machine = machine
        self.dev = dev
        self.bar = bar
        self.tx_ring = tx_ring
        self.entries = entries
        self.buffers = buffers
        self.tx_tail = 0

    # -- guest-visible accesses ----------------------------------------------------------

    def _config_address(self, reg: int) -> int:
        return 0x80000000 | self.dev.requester_id << 8 | reg

    def config_write(self, reg: int, size: int, value: int) -> None:
        """A configuration write through 0xcf8/0xcfc (mechanism #1)."""
        io = self.machine.io_as
        io.store(CONFIG_ADDRESS, 4, self._config_address(reg & ~3))
        io.store(CONFIG_DATA + (reg & 3), size, value)

    def config_read(self, reg: int, size: int) -> int:
        """A configuration read through 0xcf8/0xcfc."""
        io = self.machine.io_as
        io.store(CONFIG_ADDRESS, 4, self._config_address(reg & ~3))
        return io.load(CONFIG_DATA + (reg & 3), size)[1]

    def writel(self, off: int, value: int) -> MemTxResult:
        """A 32-bit MMIO store to BAR0 + ``off``."""
        return self.machine.memory.store(self.bar + off, 4, value)

    def readl(self, off: int) -> int:
        """A 32-bit MMIO load from BAR0 + ``off``."""
        return self.machine.memory.load(self.bar + off, 4)[1]

    # -- bring-up --------------------------------------------------------------------------

    def enable(self) -> None:
        """Map BAR0 and turn on memory decoding and bus mastering (``qpci_device_enable``)."""
        self.config_write(PCI_BAR0, 4, self.bar)
        cmd = self.config_read(PCI_COMMAND, 2)
        self.config_write(PCI_COMMAND, 2, cmd | CMD_MEMORY | CMD_BUS_MASTER)

    def setup_tx(self) -> None:
        """Program an empty TX ring (base, length, head = tail = 0) and set TCTL.EN."""
        self.writel(REG_TDBAL, self.tx_ring & 0xFFFF_FFFF)
        self.writel(REG_TDBAH, self.tx_ring >> 32)
        self.writel(REG_TDLEN, self.entries * DESC_LEN)
        self.writel(REG_TDH, 0)
        self.writel(REG_TDT, 0)
        self.tx_tail = 0
        self.writel(REG_TCTL, self.readl(REG_TCTL) | TCTL_EN)

    def setup_rx(self, rx_ring: int, rx_buffers: int, loopback: bool = False) -> None:
        """Program an RX ring whose descriptors all own a 2 KiB buffer, hand all but one to
        the NIC (tail = entries - 1), and set RCTL.EN (and MAC loopback when asked)."""
        mem = self.machine.memory
        for i in range(self.entries):
            mem.write(rx_ring + DESC_LEN * i, RxDesc.pack(rx_buffers + 2048 * i))
        self.writel(REG_RDBAL, rx_ring & 0xFFFF_FFFF)
        self.writel(REG_RDBAH, rx_ring >> 32)
        self.writel(REG_RDLEN, self.entries * DESC_LEN)
        self.writel(REG_RDH, 0)
        self.writel(REG_RDT, self.entries - 1)
        self.writel(REG_RCTL, RCTL_EN | (RCTL_LBM_MAC if loopback else 0))

    # -- transmit --------------------------------------------------------------------------

    def queue_frame(self, frame: bytes) -> int:
        """Copy ``frame`` into the next buffer and write its descriptor (EOP|RS), without
        moving the tail. Returns the descriptor's index.

        Raises:
            E1000eLiteDriverError: the frame is empty or over 2 KiB, or the ring is full.
        """
        if not 0 < len(frame) <= 2048:
            raise E1000eLiteDriverError(f"a frame is 1..2048 bytes, not {len(frame)}")
        head = self.readl(REG_TDH)
        nxt = (self.tx_tail + 1) % self.entries
        if nxt == head:
            raise E1000eLiteDriverError("TX ring full: the NIC has not consumed its descriptors")
        index = self.tx_tail
        buf = self.buffers + 2048 * index
        mem = self.machine.memory
        mem.write(buf, frame)
        mem.write(self.tx_ring + DESC_LEN * index, TxDesc.pack(buf, len(frame), TXD_CMD_EOP_RS))
        self.tx_tail = nxt
        return index

    def kick(self) -> MemTxResult:
        """Write the tail to TDT: the doorbell (the NIC walks the ring inside this write)."""
        return self.writel(REG_TDT, self.tx_tail)

    def send(self, frame: bytes) -> int:
        """Queue one frame and kick TDT. Returns the descriptor's index."""
        index = self.queue_frame(frame)
        self.kick()
        return index

    def tx_done(self, index: int) -> bool:
        """The NIC wrote DD back into TX descriptor ``index``."""
        status = self.machine.memory.load(self.tx_ring + DESC_LEN * index + 12, 1)[1]
        return bool(status & 1)
