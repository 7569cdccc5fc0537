"""QEMU's ``edu`` teaching device, register-compatible with QEMU 7.2's ``hw/misc/edu.c``.

PCI 1234:11e8 rev 0x10, class 0x00ff, BAR0 = 1 MiB ``edu-mmio``, one MSI vector, INTA.
Accesses below 0x80 must be 4 bytes and others 4 or 8 (anything else reads all-ones and
is ignored, QEMU's rule). The factorial runs as a virtual delay (QEMU uses a thread); DMA
completes ``dma_delay_ns`` after the command (QEMU: 100 ms of the millisecond virtual
clock). dmamon's extra properties model the scenarios: ``dma_inline`` copies inside the
command write (e1000e's synchronous doorbell), ``busy_check=off`` drops the RUN-bit write
filter, ``map_dma`` maps the target at command time and copies at completion time (like
block AIO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmamon.devices.edu import trace_events as ev
from dmamon.devices.edu.regs import EduRegs
from dmamon.devices.pci.device import PciDevice
from dmamon.devices.props import DeviceProps, prop
from dmamon.devices.regs import WO, RegisterBank, before_write, on_write
from dmamon.memory import DmaMapping, MachineHalt, declare_fix

if TYPE_CHECKING:
    from dmamon.devices.edu.info import EduInfo
    from dmamon.devices.machine import Machine

__all__ = ["EDU_BOUNDS", "Edu", "EduProps", "EduRegs"]

FACT_IRQ = 0x00000001  # the irq_status values edu raises (not register fields)
DMA_IRQ = 0x00000100
DMA_START = 0x40000
DMA_SIZE = 4096
ALL_ONES = 0xFFFF_FFFF_FFFF_FFFF

EDU_BOUNDS = declare_fix(
    "edu-dma-bounds",
    True,
    "edu checks DMA ranges as upstream does (guest_errors log, transfer refused) instead of "
    "QEMU 7.2's off-by-one check that aborts the whole emulator with hw_error",
    "QEMU 7.2 edu_check_range hw_error; 'hw: misc: edu: use qemu_log_mask instead of "
    "hw_error' (2022) and the 2025 bounds fix that skips the transfer",
    "edu",
)


# The offsets QEMU's switch statements handle, with the register's width in bytes.
_READ_CASES = {i.offset: i.size for i in EduRegs.registers() if i.access is not WO}
_WRITE_CASES = {i.offset: i.size for i in EduRegs.registers() if i.offset not in (0x00, 0x24)}
_MASKS = {4: 0xFFFF_FFFF, 8: ALL_ONES}


def _cmd_field(value: int, field: str) -> int:
    """A field of a ``dma_cmd`` value (one a hook sees, not yet stored)."""
    return dict(EduRegs.decode("dma_cmd", value))[field]


@dataclass(frozen=True, slots=True)
class EduProps(DeviceProps):
    """The ``-device edu`` properties (QEMU's ``dma_mask`` and dmamon's scenario knobs)."""

    dma_mask: int = prop((1 << 28) - 1, "DMA address mask (QEMU's default: 28 bits)")
    dma_delay_ns: int = prop(100_000_000, "virtual time from command to DMA (100 ms)")
    fact_delay_ns: int = prop(1000, "virtual time a factorial takes")
    dma_inline: bool = prop(False, "copy inside the command write, not from a timer")
    busy_check: bool = prop(True, "ignore DMA register writes while RUN is set")
    map_dma: bool = prop(False, "map the DMA target at command time, copy at completion")


def _c_hex16(v: int) -> str:
    """C's ``%#.16llx``: no ``0x`` for zero."""
    return f"0x{v:016x}" if v else "0000000000000000"


class Edu(PciDevice, type_name="edu"):
    """QEMU's educational PCI device."""

    description = "QEMU's educational PCI device: MMIO registers, factorial, IRQ, DMA"
    vendor_id = 0x1234
    device_id = 0x11E8
    revision = 0x10
    class_id = 0x00FF  # PCI_CLASS_OTHERS
    interrupt_pin = 1
    register_banks = (EduRegs,)
    Props = EduProps
    properties: EduProps
    state_fields = (*PciDevice.state_fields, "dma_buf")

    def __init__(self, machine: Machine, name: str, props: dict[str, int | bool | str]) -> None:
        super().__init__(machine, name, props)
        self.regs = EduRegs(self)
        self.dma_buf = bytearray(DMA_SIZE)
        self._mapping: DmaMapping | None = None
        self.mmio = self.io_region(
            "edu-mmio", 1 << 20, self._mmio_read, self._mmio_write, valid=(4, 8), impl=(4, 8)
        )
        self.init_msi(1, is_64=True)
        self.register_bar(0, self.mmio)
        self.dma_timer = self.new_timer("dma", self._dma_timer, guarded=True)
        self.fact_timer = self.new_timer("fact", self._fact_done, guarded=True)

    def banks(self) -> dict[str, RegisterBank]:
        return {"regs": self.regs}

    def info(self) -> EduInfo:
        """Registers, DMA engine and PCI function as `EduInfo` records."""
        from dmamon.devices.edu.info import edu_info  # records load on first use

        return edu_info(self)

    @property
    def has_mapping(self) -> bool:
        """A DMA target is mapped (``map_dma=on``) and not yet copied."""
        return self._mapping is not None

    def reset(self) -> None:
        super().reset()
        self.regs.reset()
        self.dma_buf[:] = bytes(DMA_SIZE)
        self._mapping = None

    @property
    def _dma_mask(self) -> int:
        return self.properties.dma_mask

    # -- MMIO (edu_mmio_read / edu_mmio_write) ---------------------------------------------

    def _mmio_read(self, off: int, size: int) -> int:
        if off < 0x80 and size != 4:
            return ALL_ONES
        width = _READ_CASES.get(off)
        if width is None:
            return ALL_ONES  # no case in QEMU's switch: ~0
        return self.regs.read(off, width)

    def _mmio_write(self, off: int, val: int, size: int) -> None:
        if off < 0x80 and size != 4:
            return
        width = _WRITE_CASES.get(off)
        if width is None:
            return
        # QEMU stores the whole access value: a 4-byte write to 0x80 clears the high half.
        self.regs.write(off, val & _MASKS[width], width)

    # -- registers -------------------------------------------------------------------------

    @before_write("liveness")
    def _liveness(self, old: int, new: int) -> int | None:
        return ~new & 0xFFFFFFFF

    @before_write("fact")
    def _fact_write(self, old: int, new: int) -> int | None:
        if self.regs.field("status", "computing"):
            return None
        return new

    @on_write("fact")
    def _fact_start(self, old: int, new: int) -> None:
        if self.regs.field("status", "computing"):
            return
        self.regs.set_field("status", "computing", 1)
        self.fact_timer.mod_in(self.properties.fact_delay_ns)

    def _fact_done(self) -> None:
        n = self.regs.peek("fact")
        ret = 1
        for k in range(n, 0, -1):  # uint32 arithmetic as in QEMU
            ret = (ret * k) & 0xFFFFFFFF
            if ret == 0:
                break
            self.engine.tick(1, "edu factorial")
        self.regs.poke("fact", ret)
        self.regs.set_field("status", "computing", 0)
        self.tracer.emit(ev.edu_fact_done, dev=self.name, n=n, result=ret)
        if self.regs.field("status", "irq_fact"):
            self.raise_irq(FACT_IRQ)

    @on_write("irq_raise")
    def _irq_raise(self, old: int, new: int) -> None:
        self.raise_irq(new)

    @on_write("irq_ack")
    def _irq_ack(self, old: int, new: int) -> None:
        self.lower_irq(new)

    def _dma_busy(self) -> bool:
        return bool(self.regs.field("dma_cmd", "run")) and self.properties.busy_check

    @before_write("dma_src")
    def _src_write(self, old: int, new: int) -> int | None:
        return None if self._dma_busy() else new

    @before_write("dma_dst")
    def _dst_write(self, old: int, new: int) -> int | None:
        return None if self._dma_busy() else new

    @before_write("dma_count")
    def _count_write(self, old: int, new: int) -> int | None:
        return None if self._dma_busy() else new

    @before_write("dma_cmd")
    def _cmd_write(self, old: int, new: int) -> int | None:
        if not _cmd_field(new, "run"):
            return None  # QEMU: a command without RUN is ignored entirely
        if _cmd_field(old, "run") and self.properties.busy_check:
            return None
        return new

    @on_write("dma_cmd")
    def _cmd_written(self, old: int, new: int) -> None:
        self._dma_begin()
        if self.properties.dma_inline:
            self._dma_timer()
            return
        delay = self.properties.dma_delay_ns
        # QEMU: timer_mod(qemu_clock_get_ms(VIRTUAL) + 100) on a millisecond timer.
        now = self.engine.clock.now_ns
        self.dma_timer.mod((now // 1_000_000) * 1_000_000 + delay)

    # -- interrupts ------------------------------------------------------------------------

    def raise_irq(self, val: int) -> None:
        """edu_raise_irq: OR into irq_status and signal (MSI if enabled, else INTx)."""
        status = self.regs.peek("irq_status") | (val & 0xFFFFFFFF)
        self.regs.poke("irq_status", status)
        if status:
            if self.msi_enabled:
                self.msi_notify(0)
            else:
                self.set_irq(1)

    def lower_irq(self, val: int) -> None:
        """edu_lower_irq: clear bits; drop INTx when none are left."""
        status = self.regs.peek("irq_status") & ~val & 0xFFFFFFFF
        self.regs.poke("irq_status", status)
        if not status and not self.msi_enabled:
            self.set_irq(0)

    # -- DMA -------------------------------------------------------------------------------

    def _range(self, start: int, count: int) -> bool:
        """Is ``[start, start + count)`` inside the device buffer?

        Upstream (fix on): any range inside the buffer, a full 4 KiB or an empty one too;
        a bad one is logged under guest_errors and refused. QEMU 7.2 (fix off): its
        ``within()`` test also rejects a range ending at the buffer's end and an empty
        one, and a bad range is ``hw_error``: QEMU aborts (here: the machine crashes).
        """
        end = start + count
        buf_end = DMA_START + DMA_SIZE
        text = (
            f"EDU: DMA range 0x{start:016x}-0x{(end - 1) & ALL_ONES:016x} out of bounds "
            f"(0x{DMA_START:016x}-0x{buf_end - 1:016x})!"
        )
        if self.engine.fixes[EDU_BOUNDS]:
            if end >= start and start >= DMA_START and end <= buf_end:
                return True
            self.guest_error(text)
            return False
        if DMA_START <= start < buf_end and end > start and DMA_START <= end < buf_end:
            return True
        raise MachineHalt(
            "crashed",
            f"qemu: hardware error: {text}",
            ("(QEMU 7.2 aborts here; fix edu-dma-bounds logs and refuses)",),
        )

    def _clamp(self, addr: int) -> int:
        res = addr & self._dma_mask
        if res != addr:
            if self.engine.fixes[EDU_BOUNDS]:
                self.guest_error(f"EDU: clamping DMA 0x{addr:016x} to 0x{res:016x}!")
            else:  # QEMU 7.2: printf("EDU: clamping DMA %#.16"PRIx64" to %#.16"PRIx64"!\n")
                self.tracer.console(f"EDU: clamping DMA {_c_hex16(addr)} to {_c_hex16(res)}!")
        return res

    def _dma_begin(self) -> None:
        """With ``map_dma``: map the bus-side buffer now, as block AIO maps at submit."""
        if not self.properties.map_dma or self.dma is None:
            return
        to_ram = bool(self.regs.field("dma_cmd", "to_ram"))
        bus_addr = self.regs.peek("dma_dst" if to_ram else "dma_src") & self._dma_mask
        count = self.regs.peek("dma_count")
        _, self._mapping = self.dma.map(bus_addr, count, to_ram)

    def _dma_timer(self) -> None:
        """edu_dma_timer: do the copy, clear RUN, raise IRQ 0x100 if asked."""
        r = self.regs
        if not r.field("dma_cmd", "run"):
            return
        assert self.dma is not None
        count = r.peek("dma_count")
        to_ram = bool(r.field("dma_cmd", "to_ram"))
        irq = r.field("dma_cmd", "irq")
        direction = "edu->ram" if to_ram else "ram->edu"
        self.tracer.emit(
            ev.edu_dma_start,
            dev=self.name,
            dir=direction,
            src=r.peek("dma_src"),
            dst=r.peek("dma_dst"),
            count=count,
        )
        result = "skipped"
        if to_ram:
            src = r.peek("dma_src")
            if self._range(src, count):
                data = bytes(self.dma_buf[src - DMA_START : src - DMA_START + count])
                dst = self._clamp(r.peek("dma_dst"))
                result = self._dma_out(dst, data)
        else:
            dst = r.peek("dma_dst")
            if self._range(dst, count):
                src = self._clamp(r.peek("dma_src"))
                result = self._dma_in(src, dst - DMA_START, count)
        r.set_field("dma_cmd", "run", 0)
        self.tracer.emit(ev.edu_dma_done, dev=self.name, dir=direction, count=count, result=result)
        if irq:
            self.raise_irq(DMA_IRQ)

    def _dma_out(self, dst: int, data: bytes) -> str:
        assert self.dma is not None
        m = self._mapping
        if m is not None:
            self._mapping = None
            m.write(0, data)
            self.dma.unmap(m, len(data))
            return "OK (mapped)"
        return self.dma.write(dst, data).result.qemu_name()

    def _dma_in(self, src: int, buf_off: int, count: int) -> str:
        assert self.dma is not None
        m = self._mapping
        if m is not None:
            self._mapping = None
            data = m.read(0, count)
            self.dma.unmap(m, 0)
            self.dma_buf[buf_off : buf_off + len(data)] = data
            return "OK (mapped)"
        res = self.dma.read(src, count)
        # QEMU's edu ignores the MemTxResult: failed pieces land as zeros.
        self.dma_buf[buf_off : buf_off + count] = res.data
        return res.result.qemu_name()

    def status_lines(self) -> list[str]:
        cmd = self.regs.peek("dma_cmd")
        lines = [
            f"irq_status={self.regs.peek('irq_status'):#x} intx={self.irq_level} "
            f"msi={'on' if self.msi_enabled else 'off'}",
            f"dma: cmd={cmd:#x} pending={'yes' if self.dma_timer.pending else 'no'}",
        ]
        return lines
