"""Trace events of the device layer (QEMU's names where QEMU has the event)."""

from dmamon.memory.trace import TraceEvent

# hw/pci/trace-events (QEMU prints the device pointer as d=%p; dmamon prints its name)
pci_cfg_read = TraceEvent(
    "pci_cfg_read", "{dev} {bus:02x}:{slot:02x}.{func:x} @{offs:#x} -> {val:#x}"
)
pci_cfg_write = TraceEvent(
    "pci_cfg_write", "{dev} {bus:02x}:{slot:02x}.{func:x} @{offs:#x} <- {val:#x}"
)
pci_update_mappings_add = TraceEvent(
    "pci_update_mappings_add",
    "d={dev} {bus:02x}:{slot:02x}.{func:x} {bar},{addr:#x}+{size:#x}",
)
pci_update_mappings_del = TraceEvent(
    "pci_update_mappings_del",
    "d={dev} {bus:02x}:{slot:02x}.{func:x} {bar},{addr:#x}+{size:#x}",
)
# dmamon: interrupt delivery as a device raises it
pci_irq = TraceEvent("pci_irq", "dev {dev} pin {pin} level {level} gsi {gsi}")
msi_notify = TraceEvent("msi_notify", "dev {dev} vector {vector} addr {addr:#x} data {data:#x}")
apic_deliver_msi = TraceEvent("apic_deliver_msi", "addr {addr:#x} data {data:#x}")
# edu has no trace events in QEMU; these are dmamon's
edu_dma_start = TraceEvent(
    "edu_dma_start", "dev {dev} dir {dir} src {src:#x} dst {dst:#x} count {count:#x}"
)
edu_dma_done = TraceEvent("edu_dma_done", "dev {dev} dir {dir} count {count:#x} result {result}")
edu_fact_done = TraceEvent("edu_fact_done", "dev {dev} n {n} result {result:#x}")
sim_heap_alloc = TraceEvent("sim_heap_alloc", "dev {dev} obj {obj} site {site}")
sim_heap_free = TraceEvent("sim_heap_free", "dev {dev} obj {obj} site {site}")
