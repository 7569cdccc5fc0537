"""Conventional PCI: functions, buses, configuration mechanism #1, the bridge and q35's ICH9.

``device`` holds the type-0 function model (config space, BARs, INTx/MSI, bus mastering),
``bridge`` QEMU's ``pci-bridge``, ``ich9`` the identity-only functions q35 always has at
00:1f.x, and ``info`` the typed records of ``PciDevice.info()``.
"""

from typing import TYPE_CHECKING

from dmamon.devices.lazy import lazy_exports
from dmamon.devices.pci.bridge import PciBridge, PciBridgeProps
from dmamon.devices.pci.classes import CLASS_DESCRIPTIONS
from dmamon.devices.pci.device import (
    BAR_UNMAPPED,
    BASE_ADDRESS_0,
    CAPABILITY_LIST,
    CLASS_DEVICE,
    CLASS_PROG,
    COMMAND,
    COMMAND_INTX_DISABLE,
    COMMAND_IO,
    COMMAND_MASTER,
    COMMAND_MEMORY,
    CONFIG_SPACE_SIZE,
    DEVICE_ID,
    HEADER_TYPE,
    INTERRUPT_LINE,
    INTERRUPT_PIN,
    REVISION_ID,
    STATUS,
    STATUS_CAP_LIST,
    STATUS_INTERRUPT,
    VENDOR_ID,
    Bar,
    HostBridge,
    PciBus,
    PciDevice,
    PciHost,
    devfn,
)
from dmamon.devices.pci.ich9 import Ich9Ahci, Ich9Lpc, Ich9Smbus

if TYPE_CHECKING:
    from dmamon.devices.pci.info import BarRecord, BridgeInfo, BridgeWindow, PciInfo

__all__ = [
    "BAR_UNMAPPED",
    "BASE_ADDRESS_0",
    "CAPABILITY_LIST",
    "CLASS_DESCRIPTIONS",
    "CLASS_DEVICE",
    "CLASS_PROG",
    "COMMAND",
    "COMMAND_INTX_DISABLE",
    "COMMAND_IO",
    "COMMAND_MASTER",
    "COMMAND_MEMORY",
    "CONFIG_SPACE_SIZE",
    "DEVICE_ID",
    "HEADER_TYPE",
    "INTERRUPT_LINE",
    "INTERRUPT_PIN",
    "REVISION_ID",
    "STATUS",
    "STATUS_CAP_LIST",
    "STATUS_INTERRUPT",
    "VENDOR_ID",
    "Bar",
    "BarRecord",
    "BridgeInfo",
    "BridgeWindow",
    "HostBridge",
    "Ich9Ahci",
    "Ich9Lpc",
    "Ich9Smbus",
    "PciBridge",
    "PciBridgeProps",
    "PciBus",
    "PciDevice",
    "PciHost",
    "PciInfo",
    "devfn",
]

__getattr__ = lazy_exports(
    __name__,
    {"BarRecord": "info", "BridgeInfo": "info", "BridgeWindow": "info", "PciInfo": "info"},
)
