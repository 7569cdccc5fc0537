"""Trace events of PCI functions (hw/pci/trace-events names).

They are declared in the leaf module ``dmamon.devices.trace_events`` so that the global
declaration order (``info trace-events``) stays what it was; this module is their home for
PCI code.
"""

from dmamon.devices.trace_events import (
    apic_deliver_msi,
    msi_notify,
    pci_cfg_read,
    pci_cfg_write,
    pci_irq,
    pci_update_mappings_add,
    pci_update_mappings_del,
)

__all__ = [
    "apic_deliver_msi",
    "msi_notify",
    "pci_cfg_read",
    "pci_cfg_write",
    "pci_irq",
    "pci_update_mappings_add",
    "pci_update_mappings_del",
]
