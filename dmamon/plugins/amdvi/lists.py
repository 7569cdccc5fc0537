"""Pure renderers of the AMD IOMMU's lists: ``info iotlb``, ``iommu faults`` (the event log),
the commands ``iommu map``/``unmap``/``flush`` queued, and ``info dma``. Records in, lines out.
"""

from __future__ import annotations

from collections.abc import Sequence

from dmamon.devices.amdvi import (
    CommandRecord,
    DecodedEvent,
    EventRecord,
    InvalidationResult,
    IotlbView,
)
from dmamon.memory import DmaMapping, format_bdf
from dmamon.plugins.amdvi.views import PendingView, count, perm_short, size_words

__all__ = ["command_lines", "dma_lines", "event_lines", "iotlb_lines", "mapping_gpa"]

# -- IOTLB -----------------------------------------------------------------------------------


def iotlb_lines(rows: Sequence[tuple[IotlbView, str]]) -> list[str]:
    """``info iotlb``: one line per cached translation, and how it compares with the tables.

    Args:
        rows: each entry with the tables' opinion (``agrees``, ``STALE: ...``).
    """
    out = [
        f"IOTLB: {count(len(rows), 'entry')} (successful translations, keyed by DeviceID and 4 KiB "
        "page; QEMU empties it when 1024 are full)"
    ]
    if not rows:
        return out
    out.append(
        f"  {'devid':<8} {'iova page':<18} {'-> address':<18} {'page':<7} {'perm':<5} "
        f"{'domain':<7} page tables now"
    )
    for e, verdict in rows:
        out.append(
            f"  {format_bdf(e.devid):<8} {e.iova:#018x} {e.translated_addr:#018x} "
            f"{size_words(e.page_size):<7} {perm_short(e.perm):<5} {e.domain_id:<7} {verdict}"
        )
    return out


# -- events ----------------------------------------------------------------------------------


def event_lines(
    log: Sequence[tuple[int, DecodedEvent]],
    *,
    base: int,
    entries: int,
    head: int,
    tail: int,
    unwritten: Sequence[EventRecord],
) -> list[str]:
    """``iommu faults``: the unread event log entries decoded, and events raised but never
    written to it (logging off, overflow, QEMU 7.2's event-log bug).

    Args:
        log: ``(offset, event)`` from head to tail.
        base: event log base (0 and ``entries`` 0: not programmed).
        entries: its length in entries.
        head: head offset.
        tail: tail offset.
        unwritten: events the IOMMU raised that did not reach the log.
    """
    if not entries:
        out = ["event log: not programmed (iommu setup, or write the Event Log Base register)"]
    else:
        out = [
            f"event log at {base:#x} ({count(entries, 'entry')}): head {head:#x}, tail {tail:#x}, "
            f"{len(log)} unread"
        ]
    for off, e in log:
        out.append(f"  +{off:#05x}  {e.describe()}")
        out.append(f"          raw 0x{e.qw0:016x} 0x{e.qw1:016x}")
    if unwritten:
        out.append(f"events raised but not written to the log: {len(unwritten)}")
        for r in unwritten:
            out.append(f"  #{r.seq} at {r.time_ns} ns  {r.event.describe()}")
            out.append(f"          {r.outcome}")
    return out


# -- commands --------------------------------------------------------------------------------


def command_lines(
    executed: Sequence[CommandRecord], result: InvalidationResult | None, stalled: bool = False
) -> list[str]:
    """What ``iommu map``/``unmap``/``flush`` put in the command buffer and what became of it.

    Args:
        executed: the commands the IOMMU ran meanwhile (``cmd#`` and outcome).
        result: the driver's answer for the invalidation it queued (None: none queued).
        stalled: the IOMMU holds a deferred COMPLETION_WAIT (fix iommu-inval-drain).
    """
    out = [f"  cmd#{r.seq} {r.command.describe()}: {r.outcome}" for r in executed]
    if result is None:
        out.append(
            "  no invalidation queued (--no-invalidate): the IOTLB keeps what it cached for "
            "this range"
        )
        return out
    if not result.queued:
        out.append(f"  nothing queued: {result.note}")
        return out
    ran = {(r.command.qw0, r.command.qw1) for r in executed}
    for c in result.commands:
        if (c.qw0, c.qw1) in ran:
            continue
        if stalled and c.name == "COMPLETION_WAIT":
            out.append(f"  queued {c.describe()}: deferred, the head stays on it")
        else:
            out.append(f"  queued {c.describe()}: not run yet")
    if result.completed:
        out.append(f"  completed: the semaphore at {result.semaphore:#x} reads {result.value:#x}")
    else:
        out.append(f"  waiting: {result.note}")
    return out


# -- DMA mappings ----------------------------------------------------------------------------


def mapping_gpa(m: DmaMapping) -> int:
    """The guest-physical address a mapping's first byte lands on."""
    t = m.translation
    if t is None:
        return m.addr
    return t.translated_addr | (m.addr & t.addr_mask)


def _mapping_state(m: DmaMapping, pending: dict[int, PendingView]) -> str:
    if m.stale:
        return "STALE"
    if m.id in pending:
        return "in flight, invalidated"
    return "live"


def dma_lines(
    mappings: Sequence[DmaMapping],
    pending: Sequence[PendingView],
    reports: Sequence[str],
    stalled: bool,
) -> list[str]:
    """``info dma``: live mappings with their translation, references and state, then what
    the DMA checker reported.

    Args:
        mappings: the tracker's live mappings.
        pending: mappings invalidated since the last COMPLETION_WAIT.
        reports: the checker's reports, oldest first.
        stalled: a COMPLETION_WAIT is deferred (fix iommu-inval-drain).
    """
    by_id = {p.mapping.id: p for p in pending}
    out = [f"DMA mappings: {len(mappings)} live"]
    if mappings:
        out.append(
            f"  {'id':<4} {'device':<10} {'rid':<8} {'dir':<11} {'bus address':<12} "
            f"{'len':<7} {'-> GPA':<12} {'translation':<16} refs gen state"
        )
    for m in mappings:
        t = m.translation
        if t is None:
            how = "none (direct)"
        else:
            how = f"iommu {perm_short(t.perm)} {size_words(t.addr_mask + 1)}"
        if m.range.bounce:
            how += " bounce"
        out.append(
            f"  #{m.id:<3} {m.device:<10} {format_bdf(m.requester_id):<8} "
            f"{'to-memory' if m.is_write else 'from-memory':<11} {m.addr:<#12x} "
            f"{m.length:<#7x} {mapping_gpa(m):<#12x} {how:<16} {m.refs:<4} {m.generation:<3} "
            f"{_mapping_state(m, by_id)}"
        )
    for m in mappings:
        p = by_id.get(m.id)
        if m.stale:
            out.append(
                f"  #{m.id}: its translation was invalidated and COMPLETION_WAIT already "
                "signalled: the guest may reuse the memory this mapping still writes"
            )
        elif p is not None:
            wait = (
                "COMPLETION_WAIT is deferred until it is released (fix iommu-inval-drain)"
                if stalled
                else "the next COMPLETION_WAIT makes it stale unless it is released first"
            )
            out.append(f"  #{m.id}: invalidated by cmd#{p.command}; {wait}")
    if reports:
        out.append(f"DMA checker: {count(len(reports), 'report')}")
        out += [f"  {r}" for r in reports]
    else:
        out.append("DMA checker: no reports")
    return out
