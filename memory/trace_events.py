"""Trace events of the kernel (names and layouts follow QEMU where QEMU has the event).

``mr`` and ``ctx`` stand where QEMU prints a host pointer; dmamon prints a stable
per-machine number instead, so that a script's output is identical on every run.
"""

from dmamon.memory.trace import TraceEvent

# softmmu/trace-events
memory_region_ops_read = TraceEvent(
    "memory_region_ops_read",
    "cpu {cpu} mr {mr:#x} addr {addr:#x} value {value:#x} size {size} name '{name}'",
)
memory_region_ops_write = TraceEvent(
    "memory_region_ops_write",
    "cpu {cpu} mr {mr:#x} addr {addr:#x} value {value:#x} size {size} name '{name}'",
)
# util/trace-events
reentrant_aio = TraceEvent("reentrant_aio", "ctx {ctx:#x} name {name}")
# dmamon: DMA as a device makes it (QEMU has no pci_dma_* events)
dma_read = TraceEvent("dma_read", "dev {dev} rid {rid} addr {addr:#x} len {len} result {result}")
dma_write = TraceEvent("dma_write", "dev {dev} rid {rid} addr {addr:#x} len {len} result {result}")
dma_map = TraceEvent(
    "dma_map",
    "dev {dev} id {id} addr {addr:#x} len {len} dir {dir} result {result}",
)
dma_unmap = TraceEvent("dma_unmap", "dev {dev} id {id} addr {addr:#x} len {len}")
dma_checker = TraceEvent("dma_checker", "dev {dev} {what}")
timer_fire = TraceEvent("timer_fire", "name {name} deadline_ns {deadline}")
