"""Trace events of e1000e-lite (hw/net/trace-events names and texts; pointers print as
dmamon names)."""

from dmamon.memory import TraceEvent

e1000e_core_write = TraceEvent(
    "e1000e_core_write", "Write to register {index:#x}, {size} byte(s), value: {val:#x}"
)
e1000e_core_read = TraceEvent(
    "e1000e_core_read", "Read from register {index:#x}, {size} byte(s), value: {val:#x}"
)
e1000e_wrn_regs_write_ro = TraceEvent(
    "e1000e_wrn_regs_write_ro",
    "WARNING: Write to RO register {index:#x}, {size} byte(s), value: {val:#x}",
)
e1000e_wrn_regs_write_unknown = TraceEvent(
    "e1000e_wrn_regs_write_unknown",
    "WARNING: Write to unknown register {index:#x}, {size} byte(s), value: {val:#x}",
)
e1000e_wrn_regs_read_unknown = TraceEvent(
    "e1000e_wrn_regs_read_unknown", "WARNING: Read from unknown register {index:#x}, {size} byte(s)"
)
e1000e_core_ctrl_sw_reset = TraceEvent("e1000e_core_ctrl_sw_reset", "Doing SW reset")
e1000e_tx_disabled = TraceEvent("e1000e_tx_disabled", "TX Disabled")
e1000e_tx_descr = TraceEvent("e1000e_tx_descr", "{addr:#x} : {lower:x} {upper:x}")
e1000e_ring_free_space = TraceEvent(
    "e1000e_ring_free_space", "ring #{ridx}: LEN: {rdlen}, DH: {rdh}, DT: {rdt}"
)
e1000e_rx_has_buffers = TraceEvent(
    "e1000e_rx_has_buffers",
    "ring #{ridx}: free descr: {free_desc}, packet size {total_size}, "
    "descr buffer size {desc_buf_size}",
)
e1000e_rx_null_descriptor = TraceEvent("e1000e_rx_null_descriptor", "Null RX descriptor!!")
e1000e_rx_descr = TraceEvent(
    "e1000e_rx_descr", "Next RX descriptor: ring #{ridx}, PA: {base:#x}, length: {len}"
)
e1000e_rx_desc_buff_write = TraceEvent(
    "e1000e_rx_desc_buff_write",
    "buffer #{idx}, addr: {addr:#x}, offset: {offset}, from: {source}, length: {len}",
)
e1000e_rx_set_rctl = TraceEvent("e1000e_rx_set_rctl", "RCTL = {rctl:#x}")
e1000e_rx_receive_iov = TraceEvent("e1000e_rx_receive_iov", "Received vector of {iovcnt} fragments")
e1000e_rx_flt_dropped = TraceEvent("e1000e_rx_flt_dropped", "Received packet dropped by RX filter")
e1000e_rx_written_to_guest = TraceEvent(
    "e1000e_rx_written_to_guest", "Received packet written to guest (ICR causes {causes})"
)
e1000e_rx_not_written_to_guest = TraceEvent(
    "e1000e_rx_not_written_to_guest", "Received packet NOT written to guest (ICR causes {causes})"
)
e1000e_rx_set_rdt = TraceEvent("e1000e_rx_set_rdt", "Setting RDT[{queue_idx}] = {val}")
e1000e_irq_set_cause_exit = TraceEvent(
    "e1000e_irq_set_cause_exit", "Set IRQ cause {val:#x}, ICR: {icr:#x}"
)
e1000e_irq_legacy_notify = TraceEvent("e1000e_irq_legacy_notify", "IRQ line state: {level}")
e1000e_irq_msi_notify = TraceEvent("e1000e_irq_msi_notify", "MSI notify {cause:#x}")
e1000x_rx_link_down = TraceEvent(
    "e1000x_rx_link_down", "Received packet dropped because the link is down STATUS = {status}"
)
e1000x_rx_disabled = TraceEvent(
    "e1000x_rx_disabled", "Received packet dropped because receive is disabled RCTL = {rctl}"
)
e1000x_rx_oversized = TraceEvent(
    "e1000x_rx_oversized", "Received packet dropped because it was oversized ({size} bytes)"
)
# dmamon: where a transmitted frame went (QEMU has no event for this)
e1000e_lite_tx_frame = TraceEvent(
    "e1000e_lite_tx_frame", "dev {dev} frame of {len} bytes sent to {dest}"
)
