"""What edu tells ``info device``, as typed frozen records (see ``dmamon.records``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dmamon.devices.pci.info import PciInfo

if TYPE_CHECKING:
    from dmamon.devices.edu.device import Edu

__all__ = ["EduDma", "EduInfo", "edu_info"]

_HEX = {"fmt": "hex"}


@dataclass(frozen=True, slots=True)
class EduDma:
    """The DMA engine.

    Attributes:
        src: DMA source address register.
        dst: DMA destination address register.
        count: transfer count register.
        cmd: command register (run, to_ram, irq).
        running: RUN is set (a transfer is queued or under way).
        to_ram: direction edu -> RAM.
        pending: the completion timer is armed.
        mapped: a target is mapped (``map_dma=on``) and not yet copied.
    """

    src: int = field(metadata=_HEX)
    dst: int = field(metadata=_HEX)
    count: int = field(metadata=_HEX)
    cmd: int = field(metadata=_HEX)
    running: bool
    to_ram: bool
    pending: bool
    mapped: bool


@dataclass(frozen=True, slots=True)
class EduInfo:
    """QEMU's edu device as a driver writer sees it.

    Attributes:
        pci: the PCI function (identity, COMMAND, BAR0).
        liveness: the liveness register (NOT of the last write).
        fact: the factorial register (N, or N! once done).
        computing: a factorial is in progress.
        irq_fact: raise IRQ 0x1 when the factorial is done.
        irq_status: the interrupt status bits.
        dma: the DMA engine.
    """

    pci: PciInfo
    liveness: int = field(metadata=_HEX)
    fact: int
    computing: bool
    irq_fact: bool
    irq_status: int = field(metadata=_HEX)
    dma: EduDma


def edu_info(dev: Edu) -> EduInfo:
    """The `EduInfo` of an edu device as it is now."""
    r = dev.regs
    dma = EduDma(
        src=r.peek("dma_src"),
        dst=r.peek("dma_dst"),
        count=r.peek("dma_count"),
        cmd=r.peek("dma_cmd"),
        running=bool(r.field("dma_cmd", "run")),
        to_ram=bool(r.field("dma_cmd", "to_ram")),
        pending=dev.dma_timer.pending,
        mapped=dev.has_mapping,
    )
    return EduInfo(
        pci=dev.pci_info(),
        liveness=r.peek("liveness"),
        fact=r.peek("fact"),
        computing=bool(r.field("status", "computing")),
        irq_fact=bool(r.field("status", "irq_fact")),
        irq_status=r.peek("irq_status"),
        dma=dma,
    )
