"""PCI class codes by name, as QEMU's ``info pci`` and ``query-pci`` describe them."""

from __future__ import annotations

__all__ = ["CLASS_DESCRIPTIONS"]

# QEMU hw/pci/pci.c pci_class_descriptions (the classes dmamon's devices use)
CLASS_DESCRIPTIONS = {
    0x0100: "SCSI controller",
    0x0106: "SATA controller",
    0x0200: "Ethernet controller",
    0x0300: "VGA controller",
    0x0600: "Host bridge",
    0x0601: "ISA bridge",
    0x0604: "PCI bridge",
    0x0C03: "USB controller",
    0x0C05: "SMBus",
}
