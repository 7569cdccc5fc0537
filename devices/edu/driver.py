"""A guest driver for edu, in the spirit of QEMU's libqos: it does only what a guest can.

Every step is a configuration access through ports 0xcf8/0xcfc, an MMIO load or store to
BAR0, or a RAM write, all through the machine's address spaces, plus stepping the virtual
clock while it waits; so whatever it does replays as raw commands (``outl``, ``writel``,
``writeq``, ``clock step``). It never touches the model's internals.

    drv = EduDriver(machine, "edu0")
    drv.enable()                       # BAR0 at 0xfea00000, COMMAND.MEMORY | MASTER
    drv.factorial(5)                   # 120
    drv.dma_to_device(0x1000, 0, 16)   # RAM 0x1000 -> edu buffer offset 0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.devices.edu.device import DMA_START, Edu
from dmamon.devices.edu.regs import EduRegs
from dmamon.devices.pci.device import BASE_ADDRESS_0, COMMAND, COMMAND_MASTER, COMMAND_MEMORY

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = ["DEFAULT_BAR0", "EduDriver", "EduDriverError"]

DEFAULT_BAR0 = 0xFEA00000  # where QEMU's SeaBIOS puts the first 1 MiB BAR on q35
CONFIG_ADDRESS = 0xCF8
CONFIG_DATA = 0xCFC
MAX_WAIT_STEPS = 10_000


class EduDriverError(Exception):
    """The driver cannot do what it was asked (no such device, not enabled, timed out)."""


def _reg(name: str) -> int:
    info = EduRegs.lookup(name)
    assert info is not None
    return info.offset


def _field_mask(reg: str, field: str) -> int:
    info = EduRegs.lookup(reg)
    assert info is not None
    f = info.field(field)
    return ((1 << f.width) - 1) << f.bit


class EduDriver:
    """Drive one edu function as a guest would.

    Args:
        machine: the machine.
        name: the edu device's name (``edu0``).

    Raises:
        EduDriverError: no such device, or it is not an edu.
    """

    def __init__(self, machine: Machine, name: str = "edu0") -> None:
        dev = machine.devices.get(name)
        if not isinstance(dev, Edu):
            raise EduDriverError(f"no edu device {name!r}")
        self.machine = machine
        self.name = name
        self._bdf = dev.requester_id  # what lspci would tell the guest
        self.bar0: int | None = None

    # -- configuration space (mechanism #1) ------------------------------------------------

    def cfg_read(self, off: int, size: int = 4) -> int:
        """Read config space through 0xcf8/0xcfc."""
        io = self.machine.io_as
        io.store(CONFIG_ADDRESS, 4, 0x80000000 | (self._bdf << 8) | (off & 0xFC))
        return io.load(CONFIG_DATA + (off & 3), size)[1]

    def cfg_write(self, off: int, value: int, size: int = 4) -> None:
        """Write config space through 0xcf8/0xcfc."""
        io = self.machine.io_as
        io.store(CONFIG_ADDRESS, 4, 0x80000000 | (self._bdf << 8) | (off & 0xFC))
        io.store(CONFIG_DATA + (off & 3), size, value)

    def enable(self, bar0: int = DEFAULT_BAR0) -> None:
        """Place BAR0 and set COMMAND.MEMORY and COMMAND.MASTER (pci_enable_device +
        pci_set_master)."""
        self.cfg_write(BASE_ADDRESS_0, bar0)
        cmd = self.cfg_read(COMMAND, 2)
        self.cfg_write(COMMAND, cmd | COMMAND_MEMORY | COMMAND_MASTER, 2)
        self.bar0 = bar0

    # -- MMIO ------------------------------------------------------------------------------

    def _addr(self, reg: str) -> int:
        if self.bar0 is None:
            raise EduDriverError(f"{self.name}: BAR0 not mapped (call enable() first)")
        return self.bar0 + _reg(reg)

    def read(self, reg: str) -> int:
        """Load a register by name (4 or 8 bytes, its width)."""
        info = EduRegs.lookup(reg)
        assert info is not None
        return self.machine.memory.load(self._addr(reg), info.size)[1]

    def write(self, reg: str, value: int) -> None:
        """Store a register by name (4 or 8 bytes, its width)."""
        info = EduRegs.lookup(reg)
        if info is None:
            raise EduDriverError(f"edu has no register {reg!r}")
        self.machine.memory.store(self._addr(reg), info.size, value)

    def _wait(self, reg: str, mask: int) -> None:
        """Step the clock until ``reg & mask`` is clear."""
        for _ in range(MAX_WAIT_STEPS):
            if not self.read(reg) & mask:
                return
            if self.machine.halted or self.machine.step_to_next() == 0:
                break
        if self.read(reg) & mask:
            raise EduDriverError(f"{self.name}: {reg} & {mask:#x} never cleared")

    # -- operations ------------------------------------------------------------------------

    def factorial(self, n: int, irq: bool = False) -> int:
        """Compute ``n!`` (mod 2**32) on the device and wait for it."""
        irq_bit = _field_mask("status", "irq_fact")
        self.write("status", irq_bit if irq else 0)
        self.write("fact", n)
        self._wait("status", _field_mask("status", "computing"))
        return self.read("fact")

    def _dma(self, src: int, dst: int, count: int, to_ram: bool, irq: bool, wait: bool) -> None:
        self.write("dma_src", src)
        self.write("dma_dst", dst)
        self.write("dma_count", count)
        cmd = _field_mask("dma_cmd", "run")
        if to_ram:
            cmd |= _field_mask("dma_cmd", "to_ram")
        if irq:
            cmd |= _field_mask("dma_cmd", "irq")
        self.write("dma_cmd", cmd)
        if wait:
            self._wait("dma_cmd", _field_mask("dma_cmd", "run"))

    def dma_to_device(
        self, ram: int, buf_off: int, count: int, irq: bool = False, wait: bool = True
    ) -> None:
        """DMA ``count`` bytes from guest RAM at ``ram`` into the device buffer."""
        self._dma(ram, DMA_START + buf_off, count, False, irq, wait)

    def dma_to_ram(
        self, buf_off: int, ram: int, count: int, irq: bool = False, wait: bool = True
    ) -> None:
        """DMA ``count`` bytes from the device buffer into guest RAM at ``ram``."""
        self._dma(DMA_START + buf_off, ram, count, True, irq, wait)

    def ram_write(self, addr: int, data: bytes) -> None:
        """Put bytes in guest RAM (what a guest does before a DMA from RAM)."""
        self.machine.memory.write(addr, data)

    def ram_read(self, addr: int, size: int) -> bytes:
        """Read guest RAM."""
        return self.machine.memory.read(addr, size)[1]

    def ack_irq(self) -> int:
        """Acknowledge every pending interrupt; returns the bits that were set."""
        status = self.read("irq_status")
        self.write("irq_ack", status)
        return status
