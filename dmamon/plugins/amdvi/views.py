"""Pure renderers of the AMD IOMMU for the monitor: ``iommu walk`` (a tree) and ``info iommu``
(the lists: :mod:`dmamon.plugins.amdvi.lists`). Model records in, lines of text out: no
machine access, unit-tested alone.

The walk tree uses box-drawing guides (``├──``, ``│``, ``└──``) like ``tree(1)``; every
number is printed the same way on every run, so golden transcripts can hold it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dmamon import render
from dmamon.devices.amdvi import (
    AmdviRegs,
    RegisterView,
    WalkExplanation,
    WalkStep,
)
from dmamon.devices.amdvi.device import DeviceView, DomainView
from dmamon.memory import DmaMapping, IOMMUPerm, format_bdf

__all__ = [
    "Node",
    "PendingView",
    "count",
    "iommu_info_lines",
    "layout_lines",
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


def count(n: int, word: str, plural: str = "") -> str:
    """``1 entry``, ``2 entries``, ``0 domains``: a number and its noun, agreeing."""
    return render.plural(n, word, plural or None)


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
        f"  device table    {layout['device_table']:#x}  {count(state['devtab_len'], 'entry')}",
        f"  command buffer  {layout['command_buffer']:#x}  {count(state['cmdbuf_len'], 'entry')}, "
        f"head {state['cmdbuf_head']:#x} tail {state['cmdbuf_tail']:#x}",
        f"  event log       {layout['event_log']:#x}  {count(state['evtlog_len'], 'entry')}, "
        f"head {state['evtlog_head']:#x} tail {state['evtlog_tail']:#x}",
        f"  semaphore       {layout['semaphore']:#x}  (COMPLETION_WAIT stores here)",
        f"  page tables     {layout['page_tables']:#x}  "
        f"{count(layout['page_tables_used'], 'page')} used",
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
        f"IOTLB {count(int(state['iotlb_entries']), 'entry')}",
        "  fixes: " + " ".join(f"{k}={'on' if v else 'off'}" for k, v in fixes.items()),
    ]
    out += layout_lines(layout, state)
    out.append("registers:")
    out += register_lines(regs)
    out += _domain_lines(domains, devices, enabled)
    out += _pending_lines(pending, stalled_since_ns)
    return out


def _domain_lines(
    domains: Sequence[DomainView], devices: Sequence[DeviceView], enabled: bool
) -> list[str]:
    out: list[str] = []
    out.append(f"domains: {len(domains) or 'none'}")
    for d in domains:
        devs = ", ".join(format_bdf(x) for x in d.devids)
        roots = ", ".join(f"{r:#x}" for r in d.roots)
        out.append(
            f"  domain {d.domain_id}: root {roots}, devices {devs}, "
            f"{count(d.iotlb_entries, 'IOTLB entry', 'IOTLB entries')}"
        )
    out.append("devices (requester ID as the IOMMU sees it):")
    for v in devices:
        names = ", ".join(v.functions)
        out.append(f"  {format_bdf(v.devid)} {names:<14} {_dte_words(v, enabled)}")
    return out


def _pending_lines(pending: Sequence[PendingView], stalled_since_ns: int | None) -> list[str]:
    out: list[str] = []
    if stalled_since_ns is not None:
        out.append(
            f"COMPLETION_WAIT deferred since {stalled_since_ns} ns (fix iommu-inval-drain): "
            f"waiting for {count(len(pending), 'in-flight mapping')}"
        )
    for p in pending:
        m = p.mapping
        dom = "" if p.domain is None else f" (domain {p.domain})"
        out.append(
            f"  mapping #{m.id} {m.device} iova {m.addr:#x}+{m.length:#x} still uses a "
            f"translation that cmd#{p.command}{dom} invalidated"
        )
    return out
