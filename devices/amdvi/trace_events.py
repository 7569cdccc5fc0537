"""Trace events of the AMD IOMMU: QEMU 7.2's ``amdvi_*`` names and texts (hw/i386/trace-events,
as the Debian 7.2 binary prints them), plus a few dmamon events for what QEMU does not trace.

QEMU prints ``0x%lx``; ``0x{v:x}`` gives the same text, including ``0x0``. Trailing spaces
in some of QEMU's texts are kept.
"""

from dmamon.memory.trace import TraceEvent

# hw/i386/trace-events, "# amd_iommu.c" section (QEMU 7.2)
amdvi_evntlog_fail = TraceEvent(
    "amdvi_evntlog_fail", "error: fail to write at addr 0x{addr:x} +  offset 0x{head:x}"
)
amdvi_cache_update = TraceEvent(
    "amdvi_cache_update",
    " update iotlb domid 0x{domid:x} devid: {bus:02x}:{slot:02x}.{func:x} gpa 0x{gpa:x} "
    "hpa 0x{txaddr:x}",
)
amdvi_completion_wait_fail = TraceEvent(
    "amdvi_completion_wait_fail", "error: fail to write at address 0x{addr:x}"
)
amdvi_mmio_write = TraceEvent(
    "amdvi_mmio_write",
    "{reg} write addr 0x{addr:x}, size {size}, val 0x{val:x}, offset 0x{offset:x}",
)
amdvi_mmio_read = TraceEvent(
    "amdvi_mmio_read", "{reg} read addr 0x{addr:x}, size {size} offset 0x{offset:x}"
)
amdvi_command_error = TraceEvent(
    "amdvi_command_error",
    "error: Executing commands with command buffer disabled 0x{status:x}",
)
amdvi_command_read_fail = TraceEvent(
    "amdvi_command_read_fail", "error: fail to access memory at 0x{addr:x} + 0x{head:x}"
)
amdvi_command_exec = TraceEvent(
    "amdvi_command_exec",
    "command buffer head at 0x{head:x} command buffer tail at 0x{tail:x} command buffer "
    "base at 0x{base:x}",
)
amdvi_unhandled_command = TraceEvent("amdvi_unhandled_command", "unhandled command 0x{type:x}")
amdvi_intr_inval = TraceEvent("amdvi_intr_inval", "Interrupt table invalidated")
amdvi_iotlb_inval = TraceEvent("amdvi_iotlb_inval", "IOTLB pages invalidated")
amdvi_prefetch_pages = TraceEvent("amdvi_prefetch_pages", "Pre-fetch of AMD-Vi pages requested")
amdvi_pages_inval = TraceEvent(
    "amdvi_pages_inval", "AMD-Vi pages for domain 0x{domid:x} invalidated"
)
amdvi_all_inval = TraceEvent("amdvi_all_inval", "Invalidation of all AMD-Vi cache requested ")
amdvi_ppr_exec = TraceEvent("amdvi_ppr_exec", "Execution of PPR queue requested ")
amdvi_devtab_inval = TraceEvent(
    "amdvi_devtab_inval", "device table entry for devid: {bus:02x}:{slot:02x}.{func:x} invalidated"
)
amdvi_completion_wait = TraceEvent(
    "amdvi_completion_wait",
    "completion wait requested with store address 0x{addr:x} and store data 0x{data:x}",
)
amdvi_control_status = TraceEvent("amdvi_control_status", "MMIO_STATUS state 0x{status:x}")
amdvi_iotlb_reset = TraceEvent("amdvi_iotlb_reset", "IOTLB exceed size limit - reset ")
amdvi_dte_get_fail = TraceEvent(
    "amdvi_dte_get_fail",
    "error: failed to access Device Entry devtab 0x{addr:x} offset 0x{offset:x}",
)
amdvi_invalid_dte = TraceEvent("amdvi_invalid_dte", "PTE entry at 0x{addr:x} is invalid ")
amdvi_get_pte_hwerror = TraceEvent(
    "amdvi_get_pte_hwerror", "hardware error eccessing PTE at addr 0x{addr:x}"
)
amdvi_mode_invalid = TraceEvent(
    "amdvi_mode_invalid", "error: translation level 0x{level:x} translating addr 0x{addr:x}"
)
amdvi_page_fault = TraceEvent(
    "amdvi_page_fault", "error: page fault accessing guest physical address 0x{addr:x}"
)
amdvi_iotlb_hit = TraceEvent(
    "amdvi_iotlb_hit",
    "hit iotlb devid {bus:02x}:{slot:02x}.{func:x} gpa 0x{addr:x} hpa 0x{txaddr:x}",
)
amdvi_translation_result = TraceEvent(
    "amdvi_translation_result",
    "devid: {bus:02x}:{slot:02x}.{func:x} gpa 0x{addr:x} hpa 0x{txaddr:x}",
)
amdvi_mem_ir_write_req = TraceEvent(
    "amdvi_mem_ir_write_req", "addr 0x{addr:x} data 0x{val:x} size 0x{size:x}"
)
amdvi_mem_ir_write = TraceEvent("amdvi_mem_ir_write", "addr 0x{addr:x} data 0x{val:x}")
amdvi_ir_remap_msi_req = TraceEvent(
    "amdvi_ir_remap_msi_req", "addr 0x{addr:x} data 0x{data:x} devid 0x{devid:x}"
)
amdvi_ir_remap_msi = TraceEvent(
    "amdvi_ir_remap_msi",
    "(addr 0x{addr:x}, data 0x{data:x}) -> (addr 0x{addr2:x}, data 0x{data2:x})",
)
amdvi_err = TraceEvent("amdvi_err", "{msg}")

# dmamon: what QEMU does not trace
amdvi_event = TraceEvent(
    "amdvi_event", "{event} devid {devid} address 0x{addr:x} flags 0x{flags:x}: {outcome}"
)
amdvi_dma_switch = TraceEvent(
    "amdvi_dma_switch", "translation {state}: {count} PCI functions retargeted"
)
amdvi_completion_wait_deferred = TraceEvent(
    "amdvi_completion_wait_deferred",
    "completion wait deferred: {count} in-flight mapping(s) of domain {domains} still use "
    "invalidated translations",
)
amdvi_completion_wait_drained = TraceEvent(
    "amdvi_completion_wait_drained",
    "completion wait resumed: in-flight mappings released after {waited_ns} ns",
)
amdvi_stale_mapping = TraceEvent(
    "amdvi_stale_mapping",
    "mapping #{id} of {dev} (iova 0x{iova:x}, {len} bytes) is still in flight after "
    "COMPLETION_WAIT cmd#{cmd} signalled the invalidation done",
)
