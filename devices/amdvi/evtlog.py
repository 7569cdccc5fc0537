"""The AMD IOMMU's event log (``amdvi_log_event``): a ring of 16-byte entries in guest RAM.

QEMU 7.2 never writes an entry (``amdvi_test_mask`` ORs, so every event looks like an
overflow); fix ``amdvi-event-log`` writes them as newer QEMU and the hardware do. Either
way every event raised is remembered with what became of it (``info iommu events``).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from dmamon.devices.amdvi import trace_events as ev
from dmamon.devices.amdvi.formats import EVENT_SIZE, DecodedEvent, decode_event, encode_event
from dmamon.devices.amdvi.info import EventRecord
from dmamon.devices.amdvi.registers import EVENT_LOG, HEAD_MASK
from dmamon.memory import MemTxResult, format_bdf

if TYPE_CHECKING:
    from dmamon.devices.amdvi.device import AmdIommu

__all__ = ["HISTORY", "EventLog"]

HISTORY = 256  # events and commands remembered for the monitor
_OK = MemTxResult.OK


class EventLog:
    """QEMU's ``evtlog*`` copies of the event log registers, and the events raised.

    Args:
        dev: the IOMMU (registers, fixes, MSI, PCI status).
    """

    def __init__(self, dev: AmdIommu) -> None:
        self.dev = dev
        self.history: deque[EventRecord] = deque(maxlen=HISTORY)
        self.reset()

    def reset(self) -> None:
        """amdvi_init: no log, nothing raised."""
        self.enabled = False  # EventLogEn (and IommuEn)
        self.intr = False  # EventIntEn
        self.base = 0
        self.length = 0  # entries
        self.head = 0  # byte offsets
        self.tail = 0
        self.seq = 0
        self.history.clear()

    def base_written(self) -> None:
        """The Event Log Base register was written (``amdvi_handle_evtbase_write``)."""
        regs = self.dev.regs
        fixed = self.dev.fixes[EVENT_LOG]
        if fixed and regs.field("status", "event_log_int"):
            return  # newer QEMU: not while EventLogInt is pending
        self.base = regs.field("evtlog_base", "base") << 12
        self.length = 1 << regs.field("evtlog_base", "len")
        if fixed:
            self.head = self.tail = 0
            regs.poke("evt_head", 0)
            regs.poke("evt_tail", 0)

    def head_written(self) -> None:
        """The Event Log Head register was written."""
        self.head = self.dev.regs.peek("evt_head") & HEAD_MASK

    def tail_written(self) -> None:
        """The Event Log Tail register was written."""
        self.tail = self.dev.regs.peek("evt_tail") & HEAD_MASK

    def log(self, code: int, devid: int, addr: int, flags: int, target_abort: bool) -> None:
        """Raise an event (see :meth:`AmdIommu.log_event`)."""
        dev = self.dev
        if target_abort:
            dev.signal_target_abort()
        qw0, qw1 = encode_event(code, devid, addr, flags)
        outcome = self._write(qw0, qw1)
        self.seq += 1
        decoded = decode_event(qw0, qw1)
        self.history.append(EventRecord(self.seq, dev.engine.clock.now_ns, decoded, outcome))
        dev.tracer.emit(
            ev.amdvi_event,
            event=decoded.name,
            devid=format_bdf(devid),
            addr=addr,
            flags=flags,
            outcome=outcome,
        )

    def _write(self, qw0: int, qw1: int) -> str:
        dev = self.dev
        regs = dev.regs
        if not dev.fixes[EVENT_LOG]:
            return "dropped: QEMU 7.2 never writes events (fix amdvi-event-log)"
        if not self.enabled:
            return "dropped: event logging is off (EventLogEn)"
        if regs.field("status", "event_overflow"):
            return "dropped: EventOverflow is set"
        size = self.length * EVENT_SIZE
        nxt = (self.tail + EVENT_SIZE) % size if size else 0
        if nxt == self.head:
            if self.intr:
                regs.set_field("status", "event_overflow", 1)
                dev.generate_msi()
            return "dropped: event log full (EventOverflow)"
        where = self.base + self.tail
        data = qw0.to_bytes(8, "little") + qw1.to_bytes(8, "little")
        if dev.sysmem.write(where, data) != _OK:
            dev.tracer.emit(ev.amdvi_evntlog_fail, addr=self.base, head=self.tail)
        self.tail = nxt
        regs.poke("evt_tail", nxt)
        if self.intr:
            regs.set_field("status", "event_log_int", 1)
            dev.generate_msi()
        return f"written at {where:#x}"

    def unread(self) -> list[tuple[int, DecodedEvent]]:
        """The unread entries (head to tail) in guest memory: ``(offset, event)``."""
        out: list[tuple[int, DecodedEvent]] = []
        size = self.length * EVENT_SIZE
        if not size:
            return out
        load = self.dev.sysmem.load
        off = self.head % size
        for _ in range(self.length):
            if off == self.tail:
                break
            _, qw0 = load(self.base + off, 8)
            _, qw1 = load(self.base + off + 8, 8)
            out.append((off, decode_event(qw0, qw1)))
            off = (off + EVENT_SIZE) % size
        return out
