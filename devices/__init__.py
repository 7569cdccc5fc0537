"""Device models and the machine that wires them (knows the kernel, never the UI)."""

from dmamon.devices import amdvi as _amdvi  # noqa: F401  (registers amd-iommu)
from dmamon.devices import e1000e_lite as _e1000e_lite  # noqa: F401  (registers the type)
from dmamon.devices import edu as _edu  # noqa: F401  (registers the type)
from dmamon.devices import pci_bridge as _pci_bridge  # noqa: F401  (registers pci-bridge)
from dmamon.devices.base import DEVICE_TYPES, Device, DeviceInfo, SimHeap, SimObject
from dmamon.devices.machine import Machine, parse_size
from dmamon.devices.pci import PciDevice
from dmamon.devices.props import DeviceProps, DeviceSpec, Prop, parse_device_spec, prop
from dmamon.devices.regs import RegInfo, RegisterBank

__all__ = [
    "DEVICE_TYPES",
    "Device",
    "DeviceInfo",
    "DeviceProps",
    "DeviceSpec",
    "Machine",
    "PciDevice",
    "Prop",
    "RegInfo",
    "RegisterBank",
    "SimHeap",
    "SimObject",
    "parse_device_spec",
    "parse_size",
    "prop",
]
