"""Old import path of :mod:`dmamon.devices.pci.bridge`."""

from dmamon.devices.pci.bridge import PciBridge

__all__ = ["PciBridge"]
