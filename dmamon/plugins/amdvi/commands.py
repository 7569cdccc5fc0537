"""The ``iommu`` command: ``iommu [on|off|setup|map|unmap|walk|flush|faults]``.

The machine's IOMMU is QEMU 7.2's ``amd-iommu`` (``-device amd-iommu``). Everything that
changes state goes through the guest driver (:mod:`dmamon.devices.amdvi.driver`), which only
writes guest memory and registers, so every step can be replayed with ``writeq``; ``walk``
and ``faults`` read without side effects (``faults --clear`` acknowledges as the driver's
handler does).
"""

from __future__ import annotations

from dmamon.argspec import arg, flag, option
from dmamon.devices.amdvi import (
    PAGE_WALK,
    AmdIommu,
    AmdIommuDriver,
    DriverError,
    InvalidationResult,
)
from dmamon.devices.amdvi.driver import MapResult, acknowledge_events, set_translation
from dmamon.memory import IOMMUPerm, format_bdf
from dmamon.monitor import Monitor, MonitorError, command, subcommand
from dmamon.plugins.amdvi.common import (
    Target,
    commands_data,
    current_driver,
    executed_since,
    inval_data,
    inval_state,
    iotlb_verdict,
    pending_views,
    require_driver,
    require_iommu,
    who,
)
from dmamon.plugins.amdvi.lists import command_lines, event_lines
from dmamon.plugins.amdvi.mapping import check_range, gpa_problem, rounding_note
from dmamon.plugins.amdvi.views import count, layout_lines, perm_word, size_words, walk_tree

__all__ = [
    "iommu_cmd",
    "iommu_faults",
    "iommu_flush",
    "iommu_map",
    "iommu_off",
    "iommu_on",
    "iommu_setup",
    "iommu_unmap",
    "iommu_walk",
]

AREA = "IOMMU"
SUBCOMMANDS = ("on", "off", "setup", "map", "unmap", "walk", "flush", "faults")
_PERMS = {"r": IOMMUPerm.RO, "w": IOMMUPerm.WO, "rw": IOMMUPerm.RW}
_PAGE_SIZES = (1 << 12, 1 << 21, 1 << 30)
_DEV = arg("dev", "requester", metavar="DEV")
_LEN = arg("length", "size", metavar="LEN")
_NO_INVAL = flag("--no-invalidate")
_PAGE = option("--page-size", "size", metavar="SIZE", default=4096)

_DETAILS = """\
iommu                     translation on or off, where the structures are (value: on|off)
iommu on|off              set or clear Control.IommuEn (with nothing programmed yet,
                          'iommu on' runs 'iommu setup' first)
iommu setup [BASE [SIZE]] allocate and program the device table, command buffer and event
                          log in a reserved range of guest RAM (default: the top 2 MiB of
                          RAM below 4 GiB), as a guest driver does; then translation on
    --levels N            page-table levels of new domains (default 4)
    --no-enable           leave translation off (turn it on with 'iommu on')
iommu map DEV IOVA GPA LEN [r|w|rw]
                          write leaf PTEs (and missing tables) into guest memory for DEV's
                          domain (created on first use), then queue INVALIDATE_IOMMU_PAGES and
                          COMPLETION_WAIT (value: completed|pending|none|not queued)
iommu unmap DEV IOVA LEN  clear the leaf PTEs, then invalidate likewise
    --no-invalidate       write the tables only: the IOTLB stays stale on purpose
    --page-size SIZE      4K (default), 2M or 1G pages
iommu flush [DEV]         invalidate DEV's domain, or everything (INVALIDATE_IOMMU_ALL)
iommu walk DEV IOVA [r|w] explain a read (default) or write by DEV at IOVA: every table
                          entry read, its index bits, raw value, fields and permission
                          check, then the result or the fault (value: address or 'fault')
iommu faults [--clear]    the unread event log entries, decoded (value: how many);
                          --clear moves the head past them as the driver's handler does
DEV is a device name (edu0) or a requester ID (00:02.0); LEN and SIZE take K/M/G suffixes."""


@command(
    "iommu",
    "[on|off|setup|map|unmap|walk|flush|faults] ...",
    "program the AMD IOMMU as a guest driver would, and explain its translations",
    AREA,
    details=_DETAILS,
    complete=("subcommand:" + ",".join(SUBCOMMANDS), "device", "symbol"),
    args=(),
)
def iommu_cmd(mon: Monitor) -> None:
    """``iommu``: translation on or off, where the structures are (value: on|off)."""
    iommu = require_iommu(mon)
    drv = current_driver(iommu)
    on = iommu.enabled
    where = (
        f"set up in {drv.base:#x}+{drv.size:#x} (iommu setup)"
        if drv is not None
        else "not set up by iommu setup"
    )
    domains = iommu.domains_view()
    mon.value = "on" if on else "off"
    mon.data = {
        "device": iommu.name,
        "bdf": iommu.bdf,
        "enabled": on,
        "setup": drv is not None,
        "domains": [d.domain_id for d in domains],
        "iotlb_entries": len(iommu.iotlb),
    }
    mon.out(
        f"{iommu.name} ({iommu.bdf}): translation {'on' if on else 'off'}, {where}, "
        f"{count(len(domains), 'domain')}, IOTLB {count(len(iommu.iotlb), 'entry')}"
    )


def _on_off(mon: Monitor, on: bool) -> None:
    iommu = require_iommu(mon)
    before = iommu.command_seq
    regs = iommu.regs
    if on and not regs.peek("devtab_base") and not regs.peek("cmdbuf_base"):
        try:
            drv = AmdIommuDriver(mon.machine, iommu)
            drv.setup()
        except DriverError as e:
            raise MonitorError(f"iommu on: {e}") from None
        mon.out("iommu on: nothing was programmed yet: set up as a guest driver would")
        for line in layout_lines(drv.layout(), iommu.state()):
            mon.out(f"  {line}")
    else:
        set_translation(mon.machine, on)
    control = regs.peek("control")
    ran = executed_since(iommu, before)
    mon.value = "on" if iommu.enabled else "off"
    mon.data = {"enabled": iommu.enabled, "control": control, "commands": commands_data(ran)}
    mon.out(
        f"iommu: translation {mon.value} (Control {control:#x}); "
        f"PCI DMA {'goes through the IOMMU' if iommu.enabled else 'passes untranslated'}"
    )
    for r in ran:  # commands queued while translation was off run now
        mon.out(f"  cmd#{r.seq} {r.command.describe()}: {r.outcome}")


@subcommand("iommu", "on")
def iommu_on(mon: Monitor) -> None:
    """``iommu on``: set Control.IommuEn (set up first when nothing is programmed)."""
    _on_off(mon, True)


@subcommand("iommu", "off")
def iommu_off(mon: Monitor) -> None:
    """``iommu off``: clear Control.IommuEn."""
    _on_off(mon, False)


@subcommand(
    "iommu",
    "setup",
    args=(
        arg("base", "size", optional=True),
        arg("size", "size", optional=True),
        option("--levels", "expr", metavar="N"),
        flag("--no-enable"),
    ),
)
def iommu_setup(
    mon: Monitor, *, base: int | None, size: int | None, levels: int | None, no_enable: bool
) -> None:
    """``iommu setup``: program the device table, command buffer and event log."""
    iommu = require_iommu(mon)
    kwargs: dict[str, int] = {}
    if size is not None:
        kwargs["size"] = size
    if levels is not None:
        kwargs["levels"] = levels
    try:
        drv = AmdIommuDriver(mon.machine, iommu, base=base, **kwargs)
        drv.setup(enable=not no_enable)
    except DriverError as e:
        raise MonitorError(f"iommu setup: {e}") from None
    layout = drv.layout()
    mon.value = drv.base
    mon.data = {"layout": layout, "levels": drv.levels, "enabled": iommu.enabled}
    mon.out(
        f"iommu setup: device table, command buffer and event log programmed; "
        f"translation {'on' if iommu.enabled else 'off'}; new domains get {drv.levels}-level "
        "tables"
    )
    for line in layout_lines(layout, iommu.state()):
        mon.out(f"  {line}")


def _page_size(page: int, sub: str) -> int:
    if page not in _PAGE_SIZES:
        raise MonitorError(f"iommu {sub}: --page-size must be 4K, 2M or 1G, not {page:#x}")
    return page


@subcommand(
    "iommu",
    "map",
    args=(
        _DEV,
        arg("iova", "expr"),
        arg("gpa", "expr"),
        _LEN,
        arg("permission", "choice", choices=("r", "w", "rw"), optional=True, default="rw"),
        _NO_INVAL,
        _PAGE,
    ),
)
def iommu_map(
    mon: Monitor,
    *,
    dev: Target,
    iova: int,
    gpa: int,
    length: int,
    permission: str,
    no_invalidate: bool,
    page_size: int,
) -> None:
    """``iommu map``: write leaf PTEs for DEV's domain, then invalidate."""
    iommu = require_iommu(mon)
    perm = _PERMS[permission]
    page = _page_size(page_size, "map")
    drv = require_driver(iommu, "map")
    check_range("map", drv, dev[0], iova, length, page)
    problem = gpa_problem(mon.machine, gpa, length, page)
    if problem:
        raise MonitorError(f"iommu map: {problem}")
    before = iommu.command_seq
    had = drv.domain_of(dev[0])
    try:
        res = drv.map(dev[0], iova, gpa, length, perm, invalidate=not no_invalidate, page_size=page)
    except DriverError as e:
        raise MonitorError(f"iommu map: {e}") from None
    ran = executed_since(iommu, before)
    mon.value = inval_state(res.invalidation)
    mon.data = {
        "devid": format_bdf(res.devid),
        "domain": res.domain,
        "iova": res.iova,
        "gpa": gpa,
        "length": res.length,
        "perm": perm_word(perm),
        "page_size": page,
        "ptes": list(res.ptes),
        "tables_allocated": res.tables,
        "commands": commands_data(ran),
        "invalidation": inval_data(res.invalidation),
    }
    mon.out(
        f"iommu map: {who(iommu, dev)} domain {res.domain}: IOVA "
        f"{res.iova:#x}-{res.iova + res.length - 1:#x} -> GPA {gpa:#x}-{gpa + res.length - 1:#x} "
        f"{perm_word(perm)}, {size_words(page)} pages"
    )
    _map_details(mon, drv, res, length, page, had)
    for line in command_lines(ran, res.invalidation, iommu.stalled):
        mon.out(line)


def _map_details(
    mon: Monitor, drv: AmdIommuDriver, res: MapResult, asked: int, page: int, had: int | None
) -> None:
    """The DTE a first map points, the leaf PTEs written, the tables allocated."""
    note = rounding_note(asked, res.length, page)
    if note:
        mon.out(f"  {note}")
    if had != res.domain:
        root, levels = drv.domains[res.domain]
        mon.out(
            f"  DTE of {format_bdf(res.devid)} now points to domain {res.domain}'s "
            f"{levels}-level table at {root:#x}"
        )
    mem = mon.machine.memory
    for i, addr in enumerate(res.ptes[:4]):
        value = mem.load(addr, 8)[1]
        mon.out(f"  leaf PTE at {addr:#x} = 0x{value:016x} (IOVA {res.iova + i * page:#x})")
    if len(res.ptes) > 4:
        mon.out(f"  ... and {count(len(res.ptes) - 4, 'more leaf PTE')}")
    if res.tables:
        mon.out(f"  {count(res.tables, 'page-table page')} allocated")


@subcommand(
    "iommu",
    "unmap",
    args=(_DEV, arg("iova", "expr"), arg("length", "size", metavar="LEN"), _NO_INVAL, _PAGE),
)
def iommu_unmap(
    mon: Monitor,
    *,
    dev: Target,
    iova: int,
    length: int,
    no_invalidate: bool,
    page_size: int,
) -> None:
    """``iommu unmap``: clear the leaf PTEs, then invalidate."""
    iommu = require_iommu(mon)
    page = _page_size(page_size, "unmap")
    drv = require_driver(iommu, "unmap")
    check_range("unmap", drv, dev[0], iova, length, page)
    before = iommu.command_seq
    try:
        res = drv.unmap(dev[0], iova, length, invalidate=not no_invalidate, page_size=page)
    except DriverError as e:
        raise MonitorError(f"iommu unmap: {e}") from None
    ran = executed_since(iommu, before)
    mon.value = inval_state(res.invalidation)
    mon.data = {
        "devid": format_bdf(res.devid),
        "domain": res.domain,
        "iova": res.iova,
        "length": res.length,
        "cleared": list(res.ptes),
        "commands": commands_data(ran),
        "invalidation": inval_data(res.invalidation),
    }
    mon.out(
        f"iommu unmap: {who(iommu, dev)} domain {res.domain}: IOVA "
        f"{res.iova:#x}-{res.iova + res.length - 1:#x}, {count(len(res.ptes), 'leaf PTE')} cleared"
    )
    note = rounding_note(length, res.length, page)
    if note:
        mon.out(f"  {note}")
    if res.ptes:
        shown = ", ".join(f"{a:#x}" for a in res.ptes[:4])
        more = f" and {len(res.ptes) - 4} more" if len(res.ptes) > 4 else ""
        mon.out(f"  zeroed {shown}{more}")
    else:
        mon.out("  nothing was mapped there")
    for line in command_lines(ran, res.invalidation, iommu.stalled):
        mon.out(line)
    _pending_lines(mon, iommu, res.invalidation)


def _pending_lines(mon: Monitor, iommu: AmdIommu, res: InvalidationResult | None) -> None:
    """Name the in-flight mappings a deferred COMPLETION_WAIT waits for."""
    if res is None or res.completed or not iommu.stalled:
        return
    for p in pending_views(iommu):
        m = p.mapping
        mon.out(
            f"  held by mapping #{m.id} of {m.device} (IOVA {m.addr:#x}+{m.length:#x}): the "
            "wait completes when the device releases it (fix iommu-inval-drain on)"
        )


@subcommand(
    "iommu",
    "walk",
    args=(
        _DEV,
        arg("iova", "expr"),
        arg("permission", "choice", choices=("r", "w"), optional=True, default="r"),
    ),
)
def iommu_walk(mon: Monitor, *, dev: Target, iova: int, permission: str) -> None:
    """``iommu walk DEV IOVA [r|w]``: explain a translation step by step."""
    iommu = require_iommu(mon)
    w = iommu.walk(dev[0], iova, _PERMS[permission])
    verdict = iotlb_verdict(iommu, w.iotlb) if w.iotlb is not None else None
    mon.value = w.translated_addr if w.ok and w.translated_addr is not None else "fault"
    data = w.to_dict()
    data["device"] = dev[1] or None
    data["iotlb_tables"] = verdict
    mon.data = data
    fix_on = mon.machine.fixes[PAGE_WALK]
    for line in walk_tree(w, dev[1], fix_on, verdict):
        mon.out(line)


@subcommand("iommu", "flush", args=(arg("dev", "requester", metavar="DEV", optional=True),))
def iommu_flush(mon: Monitor, *, dev: Target | None) -> None:
    """``iommu flush [DEV]``: invalidate DEV's domain, or everything."""
    iommu = require_iommu(mon)
    what = "every IOTLB entry (INVALIDATE_IOMMU_ALL)"
    if dev is not None:
        what = f"the domain of {who(iommu, dev)}"
    drv = require_driver(iommu, "flush")
    before = iommu.command_seq
    try:
        res = drv.flush(dev[0] if dev is not None else None)
    except DriverError as e:
        raise MonitorError(f"iommu flush: {e}") from None
    ran = executed_since(iommu, before)
    mon.value = inval_state(res)
    mon.data = {"commands": commands_data(ran), "invalidation": inval_data(res)}
    mon.out(f"iommu flush: {what}")
    for line in command_lines(ran, res, iommu.stalled):
        mon.out(line)
    _pending_lines(mon, iommu, res)


@subcommand("iommu", "faults", args=(flag("--clear"),))
def iommu_faults(mon: Monitor, *, clear: bool) -> None:
    """``iommu faults [--clear]``: the unread event log, decoded (value: how many)."""
    iommu = require_iommu(mon)
    log = iommu.decoded_events()
    st = iommu.state()
    unwritten = [r for r in iommu.event_history() if not r.outcome.startswith("written")]
    mon.value = len(log)
    mon.data = {
        "base": st["evtlog"],
        "entries": st["evtlog_len"],
        "head": st["evtlog_head"],
        "tail": st["evtlog_tail"],
        "log": [
            {
                "offset": off,
                "event": e.name,
                "devid": format_bdf(e.devid),
                "address": e.address,
                "flags": e.flags,
                "raw": [e.qw0, e.qw1],
                "text": e.describe(),
            }
            for off, e in log
        ],
        "unwritten": [
            {"seq": r.seq, "time_ns": r.time_ns, "text": r.event.describe(), "why": r.outcome}
            for r in unwritten
        ],
    }
    lines = event_lines(
        log,
        base=int(st["evtlog"]),
        entries=int(st["evtlog_len"]),
        head=int(st["evtlog_head"]),
        tail=int(st["evtlog_tail"]),
        unwritten=unwritten,
    )
    for line in lines:
        mon.out(line)
    if clear:
        tail = acknowledge_events(mon.machine)
        mon.out(f"  event log head moved to {tail:#x}: {count(len(log), 'entry')} consumed")
