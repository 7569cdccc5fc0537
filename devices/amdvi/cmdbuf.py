"""The AMD IOMMU's command buffer (``amdvi_cmdbuf_run`` / ``amdvi_cmdbuf_exec``).

Writing the tail runs every command from head to tail at once. Invalidations drop IOTLB
entries as QEMU 7.2 does (a whole domain for INVALIDATE_IOMMU_PAGES) and note which live
DMA mappings lose their translation; COMPLETION_WAIT stores its semaphore and raises
ComWaitInt, or, with fix ``iommu-inval-drain``, waits for those mappings to be released.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from dmamon.devices.amdvi import trace_events as ev
from dmamon.devices.amdvi.drain import InflightInvalidations
from dmamon.devices.amdvi.evtlog import HISTORY
from dmamon.devices.amdvi.formats import (
    COMMAND_SIZE,
    U64,
    CommandCode,
    DecodedCommand,
    EventCode,
    decode_command,
    decode_invalidation_range,
)
from dmamon.devices.amdvi.info import CommandRecord
from dmamon.devices.amdvi.registers import CMDBUF_HEAD_WRAP, HEAD_MASK, INVAL_DRAIN
from dmamon.memory import DmaMapping, MachineHalt, MemTxResult, format_bdf

if TYPE_CHECKING:
    from dmamon.devices.amdvi.device import AmdIommu

__all__ = ["CommandBuffer"]

_OK = MemTxResult.OK
_Handler = Callable[["CommandBuffer", DecodedCommand, int, int], str]


class CommandBuffer:
    """QEMU's ``cmdbuf*`` copies of the command buffer registers, and the commands run.

    Args:
        dev: the IOMMU (registers, fixes, memory, IOTLB, events).
    """

    def __init__(self, dev: AmdIommu) -> None:
        self.dev = dev
        self.history: deque[CommandRecord] = deque(maxlen=HISTORY)
        self.inflight = InflightInvalidations(dev.engine.dma)
        self.resume_bh = dev.new_bh("cmdbuf-resume", self._resume)
        self.reset()

    def reset(self) -> None:
        """amdvi_init: no buffer, nothing run, nothing deferred."""
        self.enabled = False  # CmdBufEn (and IommuEn)
        self.completion_wait_intr = False  # ComWaitIntEn (QEMU does not gate the MSI on it)
        self.base = 0
        self.length = 0  # entries
        self.head = 0  # byte offsets
        self.tail = 0
        self.seq = 0
        self.history.clear()
        self.stalled = False
        self.stalled_since_ns = 0
        self.inflight.clear()

    # -- register writes -------------------------------------------------------------------

    def base_written(self) -> None:
        """The Command Buffer Base register was written (fully, by QEMU's guess)."""
        regs = self.dev.regs
        self.base = regs.field("cmdbuf_base", "base") << 12
        self.length = 1 << regs.field("cmdbuf_base", "len")
        self.head = self.tail = 0  # the registers keep their values
        self.stalled = False

    def head_written(self) -> None:
        """The head register was written: QEMU takes it and runs what lies before the tail."""
        self.head = self.dev.regs.peek("cmd_head") & HEAD_MASK
        self.stalled = False
        self.run()

    def tail_written(self) -> None:
        """The tail register was written: run the commands."""
        self.tail = self.dev.regs.peek("cmd_tail") & HEAD_MASK
        self.run()

    # -- running ---------------------------------------------------------------------------

    def run(self) -> None:
        """amdvi_cmdbuf_run: execute head to tail, publishing the head after each."""
        dev = self.dev
        if not self.enabled:
            dev.tracer.emit(ev.amdvi_command_error, status=dev.regs.peek("control"))
            return
        wrap_fix = dev.fixes[CMDBUF_HEAD_WRAP]
        size = self.length * COMMAND_SIZE
        laps = 0
        while self.head != self.tail:
            dev.engine.tick(1, "amd-iommu command buffer")
            if self.head == 0:
                laps += 1
                if laps > 2 and self.tail >= size:
                    raise MachineHalt(
                        "hung",
                        f"amd-iommu: the command tail {self.tail:#x} lies beyond the "
                        f"{size:#x}-byte command buffer; the head wraps before reaching it and "
                        "amdvi_cmdbuf_run() loops forever",
                    )
            dev.tracer.emit(ev.amdvi_command_exec, head=self.head, tail=self.tail, base=self.base)
            if not self._exec():
                return  # a deferred COMPLETION_WAIT holds the head
            self._advance(wrap_fix)

    def _advance(self, wrap_fix: bool) -> None:
        head = self.head + COMMAND_SIZE
        size = self.length * COMMAND_SIZE  # again: a command may have moved the buffer
        if wrap_fix:
            if head >= size:
                head = 0
            self.head = head
            self.dev.regs.poke("cmd_head", head)
        else:
            # QEMU 7.2 publishes the head before wrapping it.
            self.dev.regs.poke("cmd_head", head)
            self.head = 0 if head >= size else head

    def _exec(self) -> bool:
        """amdvi_cmdbuf_exec: one command; False when a COMPLETION_WAIT is deferred."""
        dev = self.dev
        addr = self.base + self.head
        r0, qw0 = dev.sysmem.load(addr, 8)
        r1, qw1 = dev.sysmem.load(addr + 8, 8)
        seq = self.seq + 1
        if r0 != _OK or r1 != _OK:
            self.seq = seq
            dev.tracer.emit(ev.amdvi_command_read_fail, addr=self.base, head=self.head)
            dev.log_event(EventCode.COMMAND_HW_ERROR, 0, addr, target_abort=True)
            self._record(seq, addr, decode_command(0, 0), "fetch failed: COMMAND_HW_ERROR")
            return True
        cmd = decode_command(qw0, qw1)
        if cmd.opcode == CommandCode.COMPLETION_WAIT:
            outcome = self._completion_wait(cmd, addr, seq)
            if outcome is None:
                return False
        else:
            if cmd.reserved:
                self._illegal(qw0 >> 60, addr)
            handler = _HANDLERS.get(cmd.opcode, CommandBuffer._unknown)
            outcome = handler(self, cmd, addr, seq)
        self.seq = seq
        self._record(seq, addr, cmd, outcome)
        return True

    def _record(self, seq: int, addr: int, cmd: DecodedCommand, outcome: str) -> None:
        now = self.dev.engine.clock.now_ns
        self.history.append(CommandRecord(seq, now, addr, cmd, outcome))

    def _illegal(self, opcode: int, addr: int) -> None:
        """amdvi_log_illegalcom_error: ILLEGAL_COMMAND_ERROR, DeviceID 0, the opcode in the
        info bits and the command's address."""
        self.dev.log_event(EventCode.ILLEGAL_COMMAND_ERROR, 0, addr, flags=opcode & 0xF)

    # -- COMPLETION_WAIT -------------------------------------------------------------------

    def _defer(self) -> bool:
        """With fix iommu-inval-drain, hold the wait while invalidated mappings are live."""
        dev = self.dev
        blocking = self.inflight.blocking()
        if blocking and dev.fixes[INVAL_DRAIN]:
            if not self.stalled:
                self.stalled = True
                self.stalled_since_ns = dev.engine.clock.now_ns
                domains = self.inflight.domains()
                dev.tracer.emit(
                    ev.amdvi_completion_wait_deferred,
                    count=len(blocking),
                    domains=",".join(str(d) for d in domains) or "-",
                )
            return True
        if self.stalled:
            self.stalled = False
            dev.tracer.emit(
                ev.amdvi_completion_wait_drained,
                waited_ns=dev.engine.clock.now_ns - self.stalled_since_ns,
            )
        return False

    def _completion_wait(self, cmd: DecodedCommand, addr: int, seq: int) -> str | None:
        """amdvi_completion_wait; None when deferred (fix iommu-inval-drain)."""
        if self._defer():
            return None
        dev = self.dev
        qw0, qw1 = cmd.qw0, cmd.qw1
        store = ((qw0 >> 3) & ((1 << 49) - 1)) << 3
        if (qw0 >> 52) & 0xFF:
            self._illegal(qw0 >> 60, addr)
        stale = self._complete_invalidations(seq)
        words = []
        if qw0 & 1:
            if dev.sysmem.write(store, qw1.to_bytes(8, "little")) != _OK:
                dev.tracer.emit(ev.amdvi_completion_wait_fail, addr=store)
                words.append(f"store to {store:#x} failed")
            else:
                words.append(f"stored {qw1:#x} at {store:#x}")
        if qw0 & 2:
            # QEMU sets ComWaitInt and sends the MSI whatever ComWaitIntEn says.
            dev.regs.set_field("status", "com_wait_int", 1)
            dev.generate_msi()
            words.append("ComWaitInt")
        dev.tracer.emit(ev.amdvi_completion_wait, addr=store, data=qw1)
        if stale:
            words.append(f"{stale} mapping(s) still in flight became stale")
        return ", ".join(words) or "no store, no interrupt"

    # -- the other commands ----------------------------------------------------------------

    def _devtab_entry(self, cmd: DecodedCommand, addr: int, seq: int) -> str:
        devid = cmd.qw0 & 0xFFFF
        # QEMU caches nothing it would flush here, though IOTLB entries carry the DTE's
        # DomainID and permissions.
        self.dev.tracer.emit(
            ev.amdvi_devtab_inval, bus=devid >> 8, slot=(devid >> 3) & 0x1F, func=devid & 7
        )
        return f"devid {format_bdf(devid)}: nothing flushed (QEMU keeps no DTE cache)"

    def _iommu_pages(self, cmd: DecodedCommand, addr: int, seq: int) -> str:
        dev = self.dev
        qw1 = cmd.qw1
        domid = (cmd.qw0 >> 32) & 0xFFFF
        n = dev.iotlb.remove(lambda e: e.domid == domid)
        lo, hi = decode_invalidation_range(qw1 & ~0xFFF & U64, bool(qw1 & 1))
        devids = {d for d in dev.space_devids() if dev.domain_of(d) == domid}
        self._note_invalidation(lo, hi, devids, seq, domid)
        dev.tracer.emit(ev.amdvi_pages_inval, domid=domid)
        return f"domain {domid}: {n} IOTLB entries dropped (QEMU drops the whole domain)"

    def _iotlb_pages(self, cmd: DecodedCommand, addr: int, seq: int) -> str:
        if cmd.reserved:
            return "illegal: ignored"
        iotlb = self.dev.iotlb
        devid = cmd.qw0 & 0xFFFF
        qw1 = cmd.qw1
        page = qw1 & ~0xFFF & U64
        if qw1 & 1:
            n = iotlb.remove(lambda e: e.devid == devid)
            lo, hi = 0, 1 << 64
        else:
            n = iotlb.remove_page(devid, page)
            lo, hi = page, page + 4096
        self._note_invalidation(lo, hi, {devid}, seq, None)
        self.dev.tracer.emit(ev.amdvi_iotlb_inval)
        return f"devid {format_bdf(devid)}: {n} IOTLB entries dropped"

    def _interrupt_table(self, cmd: DecodedCommand, addr: int, seq: int) -> str:
        if cmd.reserved:
            return "illegal: ignored"
        self.dev.tracer.emit(ev.amdvi_intr_inval)
        return "interrupt table invalidated (not modelled)"

    def _prefetch(self, cmd: DecodedCommand, addr: int, seq: int) -> str:
        self.dev.tracer.emit(ev.amdvi_prefetch_pages)
        return "prefetch requested (nothing to do)"

    def _ppr(self, cmd: DecodedCommand, addr: int, seq: int) -> str:
        self.dev.tracer.emit(ev.amdvi_ppr_exec)
        return "PPR completion (not modelled)"

    def _all(self, cmd: DecodedCommand, addr: int, seq: int) -> str:
        iotlb = self.dev.iotlb
        n = len(iotlb)
        iotlb.reset()
        self._note_invalidation(0, 1 << 64, None, seq, None)
        self.dev.tracer.emit(ev.amdvi_all_inval)
        return f"{n} IOTLB entries dropped"

    def _unknown(self, cmd: DecodedCommand, addr: int, seq: int) -> str:
        # QEMU 7.2 reports the type from the second quad, and logs it as the opcode.
        self.dev.tracer.emit(ev.amdvi_unhandled_command, type=cmd.qw1 >> 60)
        self._illegal(cmd.qw1 >> 60, addr)
        return "unknown opcode: ILLEGAL_COMMAND_ERROR"

    # -- invalidation vs in-flight DMA (scenario d) ----------------------------------------

    def _note_invalidation(
        self, lo: int, hi: int, devids: set[int] | None, seq: int, domid: int | None
    ) -> None:
        """Remember the live mappings whose translation this invalidation removed; the next
        COMPLETION_WAIT tells the guest they are gone."""
        dev = self.dev
        if not dev.engine.dma.mappings:
            return
        names = None
        if devids is not None:
            names = {d.name for d in dev.machine.pci_devices() if dev.devid_of(d) in devids}
        self.inflight.note(lo, hi, names, seq, domid)

    def _complete_invalidations(self, seq: int) -> int:
        """A COMPLETION_WAIT signals: mappings still in flight now use translations the guest
        was told are gone — the DMA checker flags any further use."""
        stale = self.inflight.complete()
        for m in stale:
            self.dev.tracer.emit(
                ev.amdvi_stale_mapping, id=m.id, dev=m.device, iova=m.addr, len=m.length, cmd=seq
            )
        return len(stale)

    def on_release(self, m: DmaMapping) -> None:
        """A DMA mapping was released: a deferred COMPLETION_WAIT may now go on."""
        if self.inflight.release(m) and self.stalled and not self.inflight.blocking():
            self.resume_bh.schedule()

    def _resume(self) -> None:
        if self.stalled:
            self.run()


_HANDLERS: dict[int, _Handler] = {
    CommandCode.INVALIDATE_DEVTAB_ENTRY: CommandBuffer._devtab_entry,
    CommandCode.INVALIDATE_IOMMU_PAGES: CommandBuffer._iommu_pages,
    CommandCode.INVALIDATE_IOTLB_PAGES: CommandBuffer._iotlb_pages,
    CommandCode.INVALIDATE_INTERRUPT_TABLE: CommandBuffer._interrupt_table,
    CommandCode.PREFETCH_IOMMU_PAGES: CommandBuffer._prefetch,
    CommandCode.COMPLETE_PPR_REQUEST: CommandBuffer._ppr,
    CommandCode.INVALIDATE_IOMMU_ALL: CommandBuffer._all,
}
