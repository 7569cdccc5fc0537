"""PCI set-up as a guest does it, and the state that makes a first DMA fail.

A PCI function starts with its BARs unassigned and COMMAND clear: no MMIO decodes and the
device cannot master the bus, so a DMA it starts fails. :func:`map_writes` plans the config
writes a guest's firmware would issue (BAR addresses, then COMMAND.MEMORY and .MASTER) through
the legacy 0xcf8/0xcfc mechanism, as raw port writes a script can replay. :func:`pci_state_lines`
describes BARs and COMMAND for ``info devices``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmamon.devices import PciDevice
from dmamon.devices.pci import BAR_UNMAPPED, COMMAND, COMMAND_MASTER, COMMAND_MEMORY

__all__ = ["MMIO_WINDOW", "PortWrite", "default_base", "map_writes", "pci_state_lines"]

MMIO_WINDOW = 0xFE000000
"""Where ``pci map`` places BARs by default (where QEMU's firmware puts edu's BAR0)."""

CONFIG_ADDRESS = 0xCF8
CONFIG_DATA = 0xCFC


@dataclass(frozen=True)
class PortWrite:
    """One I/O port write: ``outl``/``outw`` spelling, port, value."""

    size: int
    port: int
    value: int

    @property
    def command(self) -> str:
        """The raw monitor command that replays it (``outl 0xcf8 0x80000810``)."""
        name = {1: "outb", 2: "outw", 4: "outl"}[self.size]
        return f"{name} {self.port:#x} {self.value:#x}"


def _cfg_addr(dev: PciDevice, reg: int) -> int:
    return 0x80000000 | dev.bus.number << 16 | dev.devfn << 8 | (reg & 0xFC)


def _size_text(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and not size & ((1 << shift) - 1):
            return f"{size >> shift} {unit}"
    return f"{size} bytes"


def default_base(devices: list[PciDevice], dev: PciDevice) -> int:
    """The first address at or above :data:`MMIO_WINDOW` after the memory BARs of the other
    devices, aligned for ``dev``'s BAR0."""
    end = MMIO_WINDOW
    for d in devices:
        if d is dev:
            continue
        for bar in d.bars.values():
            if not bar.is_io and bar.addr != BAR_UNMAPPED and bar.addr >= MMIO_WINDOW:
                end = max(end, bar.addr + bar.size)
    first = dev.bars.get(0)
    align = first.size if first is not None else 0x1000
    return (end + align - 1) & ~(align - 1)


def map_writes(dev: PciDevice, base: int) -> list[PortWrite]:
    """The config writes that place ``dev``'s memory BARs from ``base`` up (each aligned to
    its size) and set COMMAND.MEMORY and COMMAND.MASTER, keeping COMMAND's other bits.

    Raises:
        ValueError: the function is behind a bridge whose bus number is not assigned yet
            (config cycles cannot reach it), or ``base`` is not aligned for BAR0.
    """
    if dev.bus.parent is not None and dev.bus.number == 0:
        raise ValueError("its bridge has no bus number yet: program the bridge first")
    writes: list[PortWrite] = []
    addr = base
    for idx in sorted(dev.bars):
        bar = dev.bars[idx]
        if bar.is_io:
            continue
        if addr & (bar.size - 1):
            if idx == 0:
                raise ValueError(f"{addr:#x} is not aligned to BAR0's size {bar.size:#x}")
            addr = (addr + bar.size - 1) & ~(bar.size - 1)
        if not bar.is_64 and addr + bar.size > 1 << 32:
            raise ValueError(f"BAR{idx} is a 32-bit BAR: {addr:#x} is above 4 GiB")
        reg = 0x10 + 4 * idx
        writes += [
            PortWrite(4, CONFIG_ADDRESS, _cfg_addr(dev, reg)),
            PortWrite(4, CONFIG_DATA, addr & 0xFFFFFFFF),
        ]
        if bar.is_64:
            writes += [
                PortWrite(4, CONFIG_ADDRESS, _cfg_addr(dev, reg + 4)),
                PortWrite(4, CONFIG_DATA, addr >> 32),
            ]
        addr += bar.size
    writes += [
        PortWrite(4, CONFIG_ADDRESS, _cfg_addr(dev, COMMAND)),
        PortWrite(2, CONFIG_DATA, dev.command | COMMAND_MEMORY | COMMAND_MASTER),
    ]
    return writes


def pci_state_lines(dev: PciDevice) -> list[str]:
    """COMMAND's memory and bus-master bits and where each BAR decodes, with a hint when
    MMIO or DMA cannot work yet."""
    cmd = dev.command
    memory, master = bool(cmd & COMMAND_MEMORY), bool(cmd & COMMAND_MASTER)
    out = [
        f"pci: COMMAND {cmd:#06x}: memory {'on' if memory else 'off'}, "
        f"bus master {'on' if master else 'off'}"
    ]
    unmapped = False
    for idx in sorted(dev.bars):
        bar = dev.bars[idx]
        kind = "i/o" if bar.is_io else f"{64 if bar.is_64 else 32} bit memory"
        where = "not mapped" if bar.addr == BAR_UNMAPPED else f"at {bar.addr:#x}"
        unmapped |= bar.addr == BAR_UNMAPPED and not bar.is_io
        out.append(f"BAR{idx}: {kind}, {_size_text(bar.size)}, {where}")
    if (dev.dma is not None and not master) or unmapped:
        out.append(
            f"(MMIO needs its BARs mapped, DMA needs bus master: 'pci map {dev.name}' sets both)"
        )
    return out
