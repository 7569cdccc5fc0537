"""What a PCI function tells ``info device``, as typed frozen records.

:meth:`PciDevice.info` returns a :class:`PciInfo` (identity, COMMAND/STATUS, BARs); device
types wrap it in their own record (``EduInfo.pci``). ``dataclasses.asdict`` turns any of
them into JSON-ready data and ``dmamon.records`` into text, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dmamon.devices.pci.device import PciDevice

__all__ = ["BarRecord", "BridgeInfo", "BridgeWindow", "PciInfo", "pci_info"]

_HEX = {"fmt": "hex"}


@dataclass(frozen=True, slots=True)
class BarRecord:
    """One base address register.

    Attributes:
        index: BAR number (0..5).
        region: the memory region behind it (``edu-mmio``).
        space: ``memory`` or ``io``.
        size: its size in bytes.
        address: where it decodes now, or None while unmapped.
        is_64: a 64-bit memory BAR.
        prefetch: prefetchable.
    """

    index: int
    region: str
    space: str
    size: int = field(metadata=_HEX)
    address: int | None = field(metadata=_HEX)
    is_64: bool
    prefetch: bool


@dataclass(frozen=True, slots=True)
class PciInfo:
    """A PCI function's identity and the header state a driver changes.

    Attributes:
        name: the machine's name for it.
        type_name: device type.
        qdev_id: QEMU's ``id`` ("" when anonymous).
        bdf: ``bus:slot.function``.
        vendor_id: PCI vendor.
        device_id: PCI device.
        revision: revision ID.
        class_id: base class << 8 | subclass.
        command: the COMMAND register.
        status: the STATUS register.
        memory: COMMAND.MEMORY (memory BARs decode).
        bus_master: COMMAND.MASTER (its DMA reaches anything).
        interrupt_pin: 0 none, 1 INTA ...
        irq_level: the INTx level it drives.
        msi_enabled: MSI capability present and enabled.
        bars: its BARs in index order.
    """

    name: str
    type_name: str
    qdev_id: str
    bdf: str
    vendor_id: int = field(metadata=_HEX)
    device_id: int = field(metadata=_HEX)
    revision: int = field(metadata=_HEX)
    class_id: int = field(metadata=_HEX)
    command: int = field(metadata=_HEX)
    status: int = field(metadata=_HEX)
    memory: bool
    bus_master: bool
    interrupt_pin: int
    irq_level: int
    msi_enabled: bool
    bars: tuple[BarRecord, ...]


@dataclass(frozen=True, slots=True)
class BridgeWindow:
    """A forwarding window of a bridge.

    Attributes:
        kind: ``io``, ``mem`` or ``pref``.
        base: first address forwarded.
        limit: last address forwarded.
    """

    kind: str
    base: int = field(metadata=_HEX)
    limit: int = field(metadata=_HEX)


@dataclass(frozen=True, slots=True)
class BridgeInfo:
    """A ``pci-bridge``: its function, its secondary bus and what it forwards.

    Attributes:
        pci: the bridge's own function.
        chassis_nr: chassis number of its slot-ID capability.
        shpc: the hot-plug controller is present.
        secondary_bus: the bus number the guest gave its secondary side.
        windows: the windows forwarded now.
        behind: names of the functions on its secondary bus.
    """

    pci: PciInfo
    chassis_nr: int
    shpc: bool
    secondary_bus: int
    windows: tuple[BridgeWindow, ...]
    behind: tuple[str, ...]


def pci_info(dev: PciDevice) -> PciInfo:
    """The `PciInfo` of a function as it is now."""
    bars = tuple(
        BarRecord(
            b.index,
            b.region.name,
            "io" if b.is_io else "memory",
            b.size,
            None if b.addr < 0 else b.addr,
            b.is_64,
            b.prefetch,
        )
        for _, b in sorted(dev.bars.items())
    )
    cmd = dev.command
    return PciInfo(
        name=dev.name,
        type_name=dev.type_name,
        qdev_id=dev.qdev_id,
        bdf=dev.bdf,
        vendor_id=dev.vendor_id,
        device_id=dev.device_id,
        revision=dev.revision,
        class_id=dev.class_id,
        command=cmd,
        status=int.from_bytes(dev.config[6:8], "little"),
        memory=bool(cmd & 0x2),
        bus_master=dev.bus_master_enabled,
        interrupt_pin=dev.interrupt_pin,
        irq_level=dev.irq_level,
        msi_enabled=dev.msi_enabled,
        bars=bars,
    )
