"""Pure renderers of the AMD IOMMU for the monitor: ``iommu walk`` (a tree), ``info iommu``,
``info iotlb``, ``iommu faults``, ``info dma`` and the commands an ``iommu map``/``unmap``/
``flush`` queued. Model records in, lines of text out: no machine access, unit-tested alone.

The walk tree uses box-drawing guides (``├──``, ``│``, ``└──``) like ``tree(1)``; every
number is printed the same way on every run, so golden transcripts can hold it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dmamon.devices.amdvi import (
    AmdviRegs,
    CommandRecord,
    DecodedEvent,
    EventRecord,
    InvalidationResult,
    IotlbView,
    RegisterView,
    WalkExplanation,
    WalkStep,
)
from dmamon.devices.amdvi.device import DeviceView, DomainView
from dmamon.memory import DmaMapping, IOMMUPerm, format_bdf

__all__ = [
    "Node",
    "PendingView",
    "command_lines",
    "dma_lines",
    "event_lines",
    "iommu_info_lines",
    "iotlb_lines",
    "layout_lines",
    "mapping_gpa",
    "perm_short",
    "perm_word",
    "register_lines",
    "render_tree",
    "size_words",
    "walk_tree",
]

_PERM_WORDS = {0: "none", 1: "read", 2: "write", 3: "read/write"}
_PERM_SHORT = {0: "-", 1: "r", 2: "w", 3: "rw"}
_LABEL = 7  # width of the labels inside a walk node (``raw``, ``fields``, ``perm``...)


def perm_word(perm: IOMMUPerm | int) -> str:
    """``read``, ``write``, ``read/write`` or ``none``."""
    return _PERM_WORDS[int(perm) & 3]


def perm_short(perm: IOMMUPerm | int) -> str:
    """``r``, ``w``, ``rw`` or ``-``."""
    return _PERM_SHORT[int(perm) & 3]


def size_words(size: int) -> str:
    """``4 KiB``, ``2 MiB``, ``1 GiB``; other sizes in hex bytes."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size:#x} bytes"


def _num(value: int) -> str:
    """Small numbers in decimal, others in hex (as the model's ``describe()`` does)."""
    return f"{value:#x}" if value > 9 else str(value)


def _fields(fields: Iterable[tuple[str, int]]) -> str:
    return " ".join(f"{k}={_num(v)}" for k, v in fields)


# -- trees -----------------------------------------------------------------------------------


@dataclass
class Node:
    """A tree node: one line of text and its children.

    Attributes:
        text: the node's line.
        children: nodes drawn below it.
    """

    text: str
    children: list[Node]


def render_tree(title: str, nodes: Sequence[Node]) -> list[str]:
    """A title line and the nodes below it with ``├──``/``│``/``└──`` guides.

    Args:
        title: the root's line (drawn without a guide).
        nodes: the root's children.

    Returns:
        One string per line.
    """
    out = [title]

    def draw(items: Sequence[Node], prefix: str) -> None:
        for i, node in enumerate(items):
            last = i == len(items) - 1
            out.append(f"{prefix}{'└── ' if last else '├── '}{node.text}")
            draw(node.children, prefix + ("    " if last else "│   "))

    draw(nodes, "")
    return out


def _leaf(label: str, text: str) -> Node:
    return Node(f"{label:<{_LABEL}} {text}".rstrip(), [])


def _perm_check(step: WalkStep, need: int) -> str:
    if step.kind == "dte" and not step.raw[0] & 1:
        return "not checked: V=0 passes the access untranslated"
    verdict = "ok" if step.perm_ok else "DENIED"
    return f"grants {perm_word(step.perm)}, needs {perm_word(need)}: {verdict}"


def _step_node(step: WalkStep, need: int) -> Node:
    if step.kind == "dte":
        title = (
            f"DTE of DeviceID {step.index:#x}: device table {step.table_addr:#x} + "
            f"{step.index:#x} * 32 = {step.entry_addr:#x}"
        )
    else:
        assert step.index_bits is not None
        msb, lsb = step.index_bits
        title = (
            f"level {step.level}: table {step.table_addr:#x} + index {step.index:#05x} "
            f"(IOVA bits {msb}:{lsb}) * 8 = {step.entry_addr:#x}"
        )
    raw = " ".join(f"0x{q:016x}" for q in step.raw)
    return Node(
        title,
        [
            _leaf("raw", raw),
            _leaf("fields", _fields(step.fields)),
            _leaf("perm", _perm_check(step, need)),
            _leaf("means", step.verdict),
        ],
    )


def _result_node(w: WalkExplanation) -> Node:
    children: list[Node] = []
    if w.ok:
        assert w.translated_addr is not None
        if w.mode == "translated":
            page = f"{size_words(w.page_size)} page, " if w.page_size else ""
            title = (
                f"result: IOVA {w.iova:#x} -> {w.translated_addr:#x} "
                f"({page}grants {perm_word(w.granted)})"
            )
        else:
            title = f"result: IOVA {w.iova:#x} passes untranslated (grants {perm_word(w.granted)})"
        if w.reason:
            children.append(_leaf("note", w.reason))
    else:
        title = f"FAULT: {w.reason or 'no translation'}"
        if w.event:
            children.append(
                _leaf("event", f"{w.event}: a device access logs it (see iommu faults)")
            )
        else:
            children.append(_leaf("event", "none: the access fails without an event"))
    return Node(title, children)


def _iotlb_node(w: WalkExplanation, verdict: str | None) -> Node | None:
    e = w.iotlb
    if e is not None:
        return Node(
            "IOTLB hit: a device access uses this cached entry, not the tables above",
            [
                _leaf(
                    "entry",
                    f"{e.iova:#x} -> {e.translated_addr:#x} ({size_words(e.page_size)}, "
                    f"{perm_word(e.perm)}, domain {e.domain_id})",
                ),
                _leaf("tables", verdict or w.iotlb_note),
            ],
        )
    if w.mode == "disabled":
        return None
    if w.iotlb_note:
        return Node(f"IOTLB {w.iotlb_note}", [])
    if not w.ok:
        return Node("IOTLB: no entry (a failed translation is not cached)", [])
    return Node("IOTLB: not used (QEMU caches only translations through a page table)", [])


def walk_tree(w: WalkExplanation, who: str, fix_on: bool, iotlb_verdict: str | None) -> list[str]:
    """``iommu walk``: each table entry read, decoded and checked, then the result and what
    the IOTLB would answer first.

    Args:
        w: the model's explanation.
        who: the device as the user named it (``edu0``), or empty for a bare DeviceID.
        fix_on: the state of fix ``amdvi-page-walk`` (which walk ran).
        iotlb_verdict: how a cached entry compares with the tables (``agree``,
            ``STALE: ...``), when there is one.

    Returns:
        The tree's lines.
    """
    label = f"{who} (devid {format_bdf(w.devid)})" if who else f"devid {format_bdf(w.devid)}"
    walk = "spec walk" if w.walk == "spec" else "QEMU 7.2 walk"
    title = (
        f"iommu walk: {label} {perm_word(w.perm)} at IOVA {w.iova:#x} "
        f"({walk}, fix amdvi-page-walk {'on' if fix_on else 'off'})"
    )
    need = int(w.perm) & 3 or 1
    nodes = [_step_node(s, need) for s in w.steps]
    nodes.append(_result_node(w))
    tlb = _iotlb_node(w, iotlb_verdict)
    if tlb is not None:
        nodes.append(tlb)
    return render_tree(title, nodes)


# -- registers and info iommu ----------------------------------------------------------------


def register_lines(regs: Sequence[RegisterView]) -> list[str]:
    """The MMIO registers with their non-zero fields decoded (flags by name, base fields
    as the address they hold)."""
    out = []
    for r in regs:
        info = AmdviRegs.lookup(r.name)
        words = []
        for fname, value in r.fields:
            if not value:
                continue
            fi = info.field(fname) if info is not None else None
            if fi is not None and fi.width == 1:
                words.append(fname)
            elif fname == "base" and fi is not None:
                words.append(f"base={value << fi.bit:#x}")
            else:
                words.append(f"{fname}={_num(value)}")
        out.append(f"  {r.offset:#06x} {r.name:<13} 0x{r.value:016x}  {' '.join(words)}".rstrip())
    return out


def layout_lines(layout: dict[str, int] | None, state: dict[str, int | bool]) -> list[str]:
    """The reserved range ``iommu setup`` allocated, and what the IOMMU holds of it."""
    if layout is None:
        return ["reserved range: none (iommu setup allocates one in guest RAM)"]
    base, size = layout["base"], layout["size"]
    return [
        f"reserved range (iommu setup): {base:#x}-{base + size - 1:#x} ({size_words(size)})",
        f"  device table    {layout['device_table']:#x}  {state['devtab_len']} entries",
        f"  command buffer  {layout['command_buffer']:#x}  {state['cmdbuf_len']} entries, "
        f"head {state['cmdbuf_head']:#x} tail {state['cmdbuf_tail']:#x}",
        f"  event log       {layout['event_log']:#x}  {state['evtlog_len']} entries, "
        f"head {state['evtlog_head']:#x} tail {state['evtlog_tail']:#x}",
        f"  semaphore       {layout['semaphore']:#x}  (COMPLETION_WAIT stores here)",
        f"  page tables     {layout['page_tables']:#x}  {layout['page_tables_used']} page(s) used",
    ]


def _dte_words(view: DeviceView, enabled: bool) -> str:
    dte = view.dte
    if dte is None:
        what = "no device table"
    elif not dte.v:
        what = "DTE V=0"
    elif not dte.tv:
        what = "DTE V=1 TV=0"
    else:
        what = (
            f"domain {dte.domain_id}, {dte.mode}-level table at {dte.root:#x}, "
            f"IR={int(dte.ir)} IW={int(dte.iw)}"
        )
    if view.translated:
        state = "translated"
    elif not enabled:
        state = "untranslated (IOMMU disabled)"
    else:
        state = "untranslated"
    return f"{state}: {what}"


@dataclass(frozen=True)
class PendingView:
    """A live DMA mapping an invalidation removed before the next COMPLETION_WAIT.

    Attributes:
        mapping: the mapping.
        command: the invalidation's ``cmd#``.
        domain: its DomainID, when it named one.
    """

    mapping: DmaMapping
    command: int
    domain: int | None


def iommu_info_lines(
    *,
    name: str,
    bdf: str,
    mmio: int,
    state: dict[str, int | bool],
    fixes: dict[str, bool],
    layout: dict[str, int] | None,
    regs: Sequence[RegisterView],
    domains: Sequence[DomainView],
    devices: Sequence[DeviceView],
    pending: Sequence[PendingView],
    stalled_since_ns: int | None,
) -> list[str]:
    """``info iommu``: state, reserved range, registers, domains, devices, drain state.

    Args:
        name: the device's name.
        bdf: its PCI address.
        mmio: base of its MMIO block.
        state: the model's internal copies (``AmdIommu.state()``).
        fixes: the amdvi fix switches and their state.
        layout: the driver's reserved range (None: not set up by ``iommu setup``).
        regs: decoded registers.
        domains: DomainIDs in use.
        devices: requester IDs and their DTEs.
        pending: mappings an invalidation is waiting for.
        stalled_since_ns: when a COMPLETION_WAIT was deferred, or None.

    Returns:
        The lines.
    """
    enabled = bool(state["enabled"])
    out = [
        f"{name}: amd-iommu at {bdf}, MMIO {mmio:#x}: translation {'on' if enabled else 'off'}, "
        f"command buffer {'on' if state['cmdbuf_enabled'] else 'off'}, "
        f"event log {'on' if state['evtlog_enabled'] else 'off'}, "
        f"IOTLB {state['iotlb_entries']} entries",
        "  fixes: " + " ".join(f"{k}={'on' if v else 'off'}" for k, v in fixes.items()),
    ]
    out += layout_lines(layout, state)
    out.append("registers:")
    out += register_lines(regs)
    out.append(f"domains: {len(domains) or 'none'}")
    for d in domains:
        devs = ", ".join(format_bdf(x) for x in d.devids)
        roots = ", ".join(f"{r:#x}" for r in d.roots)
        out.append(
            f"  domain {d.domain_id}: root {roots}, devices {devs}, {d.iotlb_entries} IOTLB entries"
        )
    out.append("devices (requester ID as the IOMMU sees it):")
    for v in devices:
        names = ", ".join(v.functions)
        out.append(f"  {format_bdf(v.devid)} {names:<14} {_dte_words(v, enabled)}")
    if stalled_since_ns is not None:
        out.append(
            f"COMPLETION_WAIT deferred since {stalled_since_ns} ns (fix iommu-inval-drain): "
            f"waiting for {len(pending)} in-flight mapping(s)"
        )
    for p in pending:
        m = p.mapping
        dom = "" if p.domain is None else f" (domain {p.domain})"
        out.append(
            f"  mapping #{m.id} {m.device} iova {m.addr:#x}+{m.length:#x} still uses a "
            f"translation that cmd#{p.command}{dom} invalidated"
        )
    return out


# -- IOTLB -----------------------------------------------------------------------------------


def iotlb_lines(rows: Sequence[tuple[IotlbView, str]]) -> list[str]:
    """``info iotlb``: one line per cached translation, and how it compares with the tables.

    Args:
        rows: each entry with the tables' opinion (``agrees``, ``STALE: ...``).
    """
    out = [
        f"IOTLB: {len(rows)} entries (successful translations, keyed by DeviceID and 4 KiB "
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
            f"event log at {base:#x} ({entries} entries): head {head:#x}, tail {tail:#x}, "
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
        out.append(f"DMA checker: {len(reports)} report(s)")
        out += [f"  {r}" for r in reports]
    else:
        out.append("DMA checker: no reports")
    return out
