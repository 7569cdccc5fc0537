"""What the AMD IOMMU tells the monitor, as typed frozen records.

:meth:`AmdIommu.info` returns an :class:`AmdIommuInfo`; ``dataclasses.asdict`` turns it
into JSON-ready data and :func:`info_lines` into text, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmamon.devices.amdvi.formats import DecodedCommand, DecodedEvent, Dte
from dmamon.devices.amdvi.iotlb import IotlbView
from dmamon.memory import format_bdf

__all__ = [
    "AmdIommuInfo",
    "CommandRecord",
    "DeviceView",
    "DomainView",
    "EventRecord",
    "InternalState",
    "RegisterView",
    "info_lines",
]


@dataclass(frozen=True)
class EventRecord:
    """An event the IOMMU raised, and what became of it.

    Attributes:
        seq: number since reset (1, 2, ...).
        time_ns: virtual time.
        event: the entry as encoded.
        outcome: ``written at 0x...``, or why it was not written.
    """

    seq: int
    time_ns: int
    event: DecodedEvent
    outcome: str


@dataclass(frozen=True)
class CommandRecord:
    """A command the IOMMU executed (``cmd#seq``).

    Attributes:
        seq: number since reset (1, 2, ...).
        time_ns: virtual time.
        addr: where it was fetched from.
        command: the decoded command.
        outcome: what it did.
    """

    seq: int
    time_ns: int
    addr: int
    command: DecodedCommand
    outcome: str


@dataclass(frozen=True)
class DeviceView:
    """One requester ID as ``info iommu`` lists it.

    Attributes:
        devid: the requester ID the IOMMU sees.
        functions: names of the PCI functions that reach it as ``devid`` (a bridge and
            everything behind it share one).
        dte: its device table entry (None: not readable, or no device table yet).
        translated: whether its DMA is translated now (IOMMU on, DTE valid).
    """

    devid: int
    functions: tuple[str, ...]
    dte: Dte | None
    translated: bool


@dataclass(frozen=True)
class DomainView:
    """One DomainID in use by valid device table entries.

    Attributes:
        domain_id: the DomainID.
        devids: requester IDs whose DTE names it.
        roots: page-table roots those DTEs point at (one, normally).
        iotlb_entries: IOTLB entries tagged with it.
    """

    domain_id: int
    devids: tuple[int, ...]
    roots: tuple[int, ...]
    iotlb_entries: int


@dataclass(frozen=True)
class RegisterView:
    """One register for ``info iommu``.

    Attributes:
        name: register name in the bank.
        offset: MMIO offset.
        value: stored value.
        fields: ``(field, value)`` pairs.
        doc: what the register is.
    """

    name: str
    offset: int
    value: int
    fields: tuple[tuple[str, int], ...]
    doc: str


@dataclass(frozen=True)
class InternalState:
    """QEMU's internal copies (``AMDVIState``), which can differ from the registers.

    Attributes:
        enabled: IommuEn as last written to Control.
        evtlog_enabled: event logging on (EventLogEn and IommuEn).
        evtlog_intr: EventIntEn.
        completion_wait_intr: ComWaitIntEn.
        cmdbuf_enabled: CmdBufEn and IommuEn.
        ga_enabled: GAEn.
        devtab: device table base.
        devtab_len: device table entries.
        cmdbuf: command buffer base.
        cmdbuf_len: command buffer entries.
        cmdbuf_head: command buffer head (byte offset).
        cmdbuf_tail: command buffer tail (byte offset).
        evtlog: event log base.
        evtlog_len: event log entries.
        evtlog_head: event log head (byte offset).
        evtlog_tail: event log tail (byte offset).
        iotlb_entries: IOTLB entries.
        stalled: a COMPLETION_WAIT is deferred (fix iommu-inval-drain).
    """

    enabled: bool
    evtlog_enabled: bool
    evtlog_intr: bool
    completion_wait_intr: bool
    cmdbuf_enabled: bool
    ga_enabled: bool
    devtab: int
    devtab_len: int
    cmdbuf: int
    cmdbuf_len: int
    cmdbuf_head: int
    cmdbuf_tail: int
    evtlog: int
    evtlog_len: int
    evtlog_head: int
    evtlog_tail: int
    iotlb_entries: int
    stalled: bool


@dataclass(frozen=True)
class AmdIommuInfo:
    """Everything ``info device`` shows about the IOMMU.

    Attributes:
        mmio_base: where the registers are in system memory.
        mmio_size: their size.
        state: QEMU's internal copies.
        registers: the MMIO registers with their fields.
        devices: requester IDs with PCI functions behind them, and their DTEs.
        domains: DomainIDs valid DTEs use.
        iotlb: the IOTLB entries.
        commands_run: commands executed since reset.
        events_raised: events raised since reset.
        pending_invalidations: live DMA mappings invalidated since the last COMPLETION_WAIT.
    """

    mmio_base: int
    mmio_size: int
    state: InternalState
    registers: tuple[RegisterView, ...]
    devices: tuple[DeviceView, ...]
    domains: tuple[DomainView, ...]
    iotlb: tuple[IotlbView, ...]
    commands_run: int
    events_raised: int
    pending_invalidations: int


def _device_line(d: DeviceView) -> str:
    names = ",".join(d.functions)
    if d.dte is None:
        return f"  {format_bdf(d.devid)} {names}: no DTE"
    dte = d.dte
    how = "translated" if d.translated else "untranslated"
    return (
        f"  {format_bdf(d.devid)} {names}: {how}, V={int(dte.v)} TV={int(dte.tv)} "
        f"mode {dte.mode} root {dte.root:#x} domain {dte.domain_id}"
    )


def info_lines(info: AmdIommuInfo) -> list[str]:
    """``info`` as text: one line per fact, the same facts ``asdict(info)`` holds."""
    st = info.state
    dma = "translated" if st.enabled else "pass-through"
    lines = [
        f"mmio {info.mmio_base:#x}+{info.mmio_size:#x}, DMA {dma}, IOTLB {st.iotlb_entries} "
        f"entries",
        f"commands {info.commands_run}, events {info.events_raised}, pending invalidations "
        f"{info.pending_invalidations}" + (", COMPLETION_WAIT deferred" if st.stalled else ""),
        f"device table {st.devtab:#x} ({st.devtab_len} entries)",
        f"command buffer {st.cmdbuf:#x} ({st.cmdbuf_len} entries) head {st.cmdbuf_head:#x} "
        f"tail {st.cmdbuf_tail:#x}",
        f"event log {st.evtlog:#x} ({st.evtlog_len} entries) head {st.evtlog_head:#x} "
        f"tail {st.evtlog_tail:#x}",
        "registers:",
    ]
    lines += [f"  {r.offset:#06x} {r.name:<13} 0x{r.value:016x}" for r in info.registers]
    lines.append("devices:")
    lines += [_device_line(d) for d in info.devices]
    lines.append("domains:")
    lines += [
        f"  {d.domain_id}: devices {' '.join(format_bdf(x) for x in d.devids) or '-'}, "
        f"roots {' '.join(f'{r:#x}' for r in d.roots) or '-'}, {d.iotlb_entries} IOTLB entries"
        for d in info.domains
    ]
    lines.append("iotlb:")
    lines += [
        f"  {format_bdf(e.devid)} {e.iova:#x} -> {e.translated_addr:#x} "
        f"{e.page_size:#x} domain {e.domain_id} perm {int(e.perm)}"
        for e in info.iotlb
    ]
    return lines
