"""The edu MMIO register bank (docs/specs/edu.rst)."""

from __future__ import annotations

from dmamon.devices.regs import RO, WO, Field, Reg, RegisterBank

__all__ = ["EduRegs"]


class EduRegs(RegisterBank, size=0x100, valid_sizes=(4, 8)):
    """The edu MMIO registers (docs/specs/edu.rst)."""

    ident = Reg(0x00, access=RO, reset=0x010000ED, doc="identification 0xRRrr00ed")
    liveness = Reg(0x04, doc="liveness check: reads back the bitwise NOT of the last write")
    fact = Reg(0x08, doc="factorial: write N, read N! once status.computing clears")
    status = Reg(
        0x20,
        fields=(
            Field("computing", bit=0, access=RO, doc="factorial computation in progress"),
            Field("irq_fact", bit=7, doc="raise IRQ 0x1 when the factorial is done"),
        ),
        doc="status",
    )
    irq_status = Reg(0x24, access=RO, doc="interrupt status: bits that raised the IRQ")
    irq_raise = Reg(0x60, access=WO, doc="interrupt raise: value OR-ed into irq_status")
    irq_ack = Reg(0x64, access=WO, doc="interrupt acknowledge: value cleared from irq_status")
    dma_src = Reg(0x80, width=64, doc="DMA source address")
    dma_dst = Reg(0x88, width=64, doc="DMA destination address")
    dma_count = Reg(0x90, width=64, doc="DMA transfer count")
    dma_cmd = Reg(
        0x98,
        width=64,
        fields=(
            Field("run", bit=0, doc="start transfer; cleared when done"),
            Field("to_ram", bit=1, doc="direction: 0 RAM -> edu, 1 edu -> RAM"),
            Field("irq", bit=2, doc="raise IRQ 0x100 when done"),
        ),
        doc="DMA command",
    )
