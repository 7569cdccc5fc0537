"""Old import path of :mod:`dmamon.devices.pci.ich9`."""

from dmamon.devices.pci.ich9 import Ich9Ahci, Ich9Lpc, Ich9Smbus

__all__ = ["Ich9Ahci", "Ich9Lpc", "Ich9Smbus"]
