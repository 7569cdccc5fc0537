"""IOMMU commands: ``iommu on|off|setup|map|unmap|walk|flush|faults``, ``info iommu``,
``info iotlb`` and ``info dma``.

The machine's IOMMU is QEMU 7.2's ``amd-iommu`` (``-device amd-iommu``). ``iommu setup``,
``map``, ``unmap`` and ``flush`` go through :class:`~dmamon.devices.amdvi.AmdIommuDriver`,
which programs the IOMMU as a guest driver does (MMIO stores, page tables written into
guest RAM, invalidations queued in the command buffer), so every step they take can be
replayed with ``writeq``; ``walk`` and the ``info`` views read without side effects.
"""

from __future__ import annotations

import re

from dmamon.devices import PciDevice
from dmamon.devices.amdvi import (
    AMDVI_BASE_ADDR,
    INVAL_DRAIN,
    PAGE_WALK,
    AmdIommu,
    AmdIommuDriver,
    CommandRecord,
    DriverError,
    InvalidationResult,
    IotlbView,
    find_iommu,
)
from dmamon.devices.amdvi.formats import ADDR_MASK
from dmamon.iommu_views import (
    PendingView,
    command_lines,
    dma_lines,
    event_lines,
    iommu_info_lines,
    iotlb_lines,
    layout_lines,
    mapping_gpa,
    perm_short,
    perm_word,
    size_words,
    walk_tree,
)
from dmamon.memory import IOMMUPerm, format_bdf
from dmamon.monitor import Monitor, MonitorError, command, info_command, split_words

AREA = "IOMMU"
SUBCOMMANDS = ("on", "off", "setup", "map", "unmap", "walk", "flush", "faults")
NO_IOMMU = "no IOMMU (start with -device amd-iommu)"
MAX_PAGES = 1 << 16  # per map/unmap: more is a typo, and the reserved range would not hold it
GPA_LIMIT = 1 << 52  # page-table entries hold address bits 51:12
REG_CONTROL, REG_EVT_HEAD, REG_EVT_TAIL, REG_STATUS = 0x18, 0x2010, 0x2018, 0x2020
CTRL_IOMMU_EN = 0x1
STATUS_EVENT_BITS = 0x3  # EventOverflow | EventLogInt (W1C), as Linux's event handler clears
_BDF = re.compile(r"^([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$")
_SIZE = re.compile(r"^(\d+)([KMG])i?B?$", re.IGNORECASE)
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_PERMS = {"r": IOMMUPerm.RO, "w": IOMMUPerm.WO, "rw": IOMMUPerm.RW}
_USAGE = {
    "setup": "iommu setup [BASE [SIZE]] [--levels N] [--no-enable]",
    "map": "iommu map DEV IOVA GPA LEN [r|w|rw] [--no-invalidate] [--page-size SIZE]",
    "unmap": "iommu unmap DEV IOVA LEN [--no-invalidate] [--page-size SIZE]",
    "walk": "iommu walk DEV IOVA [r|w]",
    "flush": "iommu flush [DEV]",
    "faults": "iommu faults [--clear]",
    "on": "iommu on",
    "off": "iommu off",
}

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


# -- helpers ---------------------------------------------------------------------------------


def _iommu(mon: Monitor, what: str = "iommu") -> AmdIommu:
    iommu = find_iommu(mon.machine)
    if iommu is None:
        raise MonitorError(f"{what}: {NO_IOMMU}")
    return iommu


def _driver(iommu: AmdIommu) -> AmdIommuDriver | None:
    """The driver ``iommu setup`` used, while the registers still point at its structures
    (read without MMIO side effects)."""
    drv = iommu.driver
    if drv is None:
        return None
    regs = iommu.regs
    if (
        regs.peek("devtab_base") & ADDR_MASK != drv.devtab
        or regs.peek("cmdbuf_base") & ADDR_MASK != drv.cmdbuf
    ):
        return None
    return drv


def _require_driver(iommu: AmdIommu, sub: str) -> AmdIommuDriver:
    drv = _driver(iommu)
    if drv is None:
        raise MonitorError(f"iommu {sub}: the IOMMU is not set up (run: iommu setup)")
    return drv


def _target(mon: Monitor, text: str, sub: str) -> tuple[PciDevice | int, str]:
    """A PCI function by name, or a requester ID ``bb:dd.f``; and the name to show."""
    devices = mon.machine.devices
    if text in devices:
        dev = devices[text]
        if not isinstance(dev, PciDevice):
            raise MonitorError(f"iommu {sub}: '{text}' is not a PCI function")
        return dev, text
    for func in mon.machine.pci_devices():  # board functions (mch, ich9-lpc...) too
        if func.name == text:
            return func, text
    m = _BDF.match(text)
    if m:
        bus, slot, fn = (int(g, 16) for g in m.groups())
        if slot > 31:
            raise MonitorError(f"iommu {sub}: '{text}' is not a requester ID (bus:dev.fn)")
        return (bus << 8) | (slot << 3) | fn, ""
    raise MonitorError(f"iommu {sub}: Device '{text}' not found")


def _size(mon: Monitor, text: str) -> int:
    m = _SIZE.match(text)
    if m:
        return int(m.group(1)) * _UNITS[m.group(2).upper()]
    return mon.expr(text)


def _options(
    words: list[str], sub: str, flags: tuple[str, ...] = (), valued: tuple[str, ...] = ()
) -> tuple[list[str], set[str], dict[str, str]]:
    """Split ``--flag`` and ``--opt VALUE`` (or ``--opt=VALUE``) from positional words."""
    pos: list[str] = []
    seen: set[str] = set()
    values: dict[str, str] = {}
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("--"):
            name, eq, val = w.partition("=")
            if name in flags and not eq:
                seen.add(name)
            elif name in valued:
                if not eq:
                    i += 1
                    if i >= len(words):
                        raise MonitorError(f"iommu {sub}: {name} needs a value")
                    val = words[i]
                values[name] = val
            else:
                raise MonitorError(f"iommu {sub}: unknown option '{w}' (usage: {_USAGE[sub]})")
        else:
            pos.append(w)
        i += 1
    return pos, seen, values


def _who(iommu: AmdIommu, target: PciDevice | int, name: str) -> str:
    """``edu0 (devid 00:02.0)``, naming the bridge when the function sits behind one."""
    if isinstance(target, PciDevice):
        devid = iommu.devid_of(target)
        alias = "" if devid == target.requester_id else ", its bridge's requester ID"
        return f"{name} (devid {format_bdf(devid)}{alias})"
    return f"devid {format_bdf(target)}"


def _inval_state(res: InvalidationResult | None) -> str:
    if res is None:
        return "none"
    if not res.queued:
        return "not queued"
    return "completed" if res.completed else "pending"


def _executed_since(iommu: AmdIommu, seq: int) -> list[CommandRecord]:
    return [r for r in iommu.command_history() if r.seq > seq]


def _pending(iommu: AmdIommu | None) -> list[PendingView]:
    if iommu is None:
        return []
    return [PendingView(m, seq, dom) for m, seq, dom in iommu.pending_invalidations()]


def _inval_data(res: InvalidationResult | None) -> dict[str, object] | None:
    if res is None:
        return None
    return {
        "commands": [c.describe() for c in res.commands],
        "queued": res.queued,
        "completed": res.completed,
        "semaphore": res.semaphore,
        "value": res.value,
        "note": res.note,
    }


def _commands_data(records: list[CommandRecord]) -> list[dict[str, object]]:
    return [{"seq": r.seq, "command": r.command.describe(), "outcome": r.outcome} for r in records]


# -- iommu -----------------------------------------------------------------------------------


@command(
    "iommu",
    "[on|off|setup|map|unmap|walk|flush|faults] ...",
    "program the AMD IOMMU as a guest driver would, and explain its translations",
    AREA,
    details=_DETAILS,
    complete=("subcommand:" + ",".join(SUBCOMMANDS), "device", "symbol"),
)
def iommu_cmd(mon: Monitor, args: str) -> None:
    words = split_words(args)
    iommu = _iommu(mon)
    if not words:
        _status(mon, iommu)
        return
    sub, rest = words[0], words[1:]
    handler = _SUBS.get(sub)
    if handler is None:
        raise MonitorError(f"iommu: unknown subcommand '{sub}' (one of: {', '.join(SUBCOMMANDS)})")
    handler(mon, iommu, rest)


def _status(mon: Monitor, iommu: AmdIommu) -> None:
    drv = _driver(iommu)
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
        f"{len(domains)} domain(s), IOTLB {len(iommu.iotlb)} entries"
    )


def _on_off(mon: Monitor, iommu: AmdIommu, rest: list[str], on: bool) -> None:
    sub = "on" if on else "off"
    if rest:
        raise MonitorError(f"iommu {sub}: extraneous characters at the end of line")
    before = iommu.command_seq
    regs = iommu.regs
    mem = mon.machine.memory
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
        _, control = mem.load(AMDVI_BASE_ADDR + REG_CONTROL, 8)
        control = control | CTRL_IOMMU_EN if on else control & ~CTRL_IOMMU_EN
        mem.store(AMDVI_BASE_ADDR + REG_CONTROL, 8, control)
    control = regs.peek("control")
    ran = _executed_since(iommu, before)
    mon.value = "on" if iommu.enabled else "off"
    mon.data = {"enabled": iommu.enabled, "control": control, "commands": _commands_data(ran)}
    mon.out(
        f"iommu: translation {mon.value} (Control {control:#x}); "
        f"PCI DMA {'goes through the IOMMU' if iommu.enabled else 'passes untranslated'}"
    )
    for r in ran:  # commands queued while translation was off run now
        mon.out(f"  cmd#{r.seq} {r.command.describe()}: {r.outcome}")


def _setup(mon: Monitor, iommu: AmdIommu, rest: list[str]) -> None:
    pos, flags, values = _options(rest, "setup", ("--no-enable",), ("--levels",))
    if len(pos) > 2:
        raise MonitorError(f"usage: {_USAGE['setup']}")
    base = _size(mon, pos[0]) if pos else None
    kwargs: dict[str, int] = {}
    if len(pos) == 2:
        kwargs["size"] = _size(mon, pos[1])
    if "--levels" in values:
        kwargs["levels"] = mon.expr(values["--levels"])
    try:
        drv = AmdIommuDriver(mon.machine, iommu, base=base, **kwargs)
        drv.setup(enable="--no-enable" not in flags)
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


def _perm_arg(text: str, sub: str, allowed: tuple[str, ...]) -> IOMMUPerm:
    perm = _PERMS.get(text.lower()) if text.lower() in allowed else None
    if perm is None:
        raise MonitorError(f"iommu {sub}: permission must be {'|'.join(allowed)}, not '{text}'")
    return perm


def _page_size(mon: Monitor, values: dict[str, str], sub: str) -> int:
    page = _size(mon, values["--page-size"]) if "--page-size" in values else 4096
    if page not in (1 << 12, 1 << 21, 1 << 30):
        raise MonitorError(f"iommu {sub}: --page-size must be 4K, 2M or 1G, not {page:#x}")
    return page


def _check_range(
    sub: str, drv: AmdIommuDriver, target: PciDevice | int, iova: int, length: int, page: int
) -> None:
    """Refuse what the page tables cannot hold before anything is written."""
    dom = drv.domain_of(target)
    levels = drv.domains[dom][1] if dom in drv.domains else drv.levels
    limit = 1 << min(64, 12 + 9 * levels)
    if length <= 0:
        raise MonitorError(f"iommu {sub}: the length must be positive, not {length:#x}")
    if iova < 0 or iova + length > limit:
        raise MonitorError(
            f"iommu {sub}: IOVA range {iova:#x}+{length:#x} is outside what a {levels}-level "
            f"table maps (0-{limit - 1:#x})"
        )
    if length // page > MAX_PAGES:
        raise MonitorError(
            f"iommu {sub}: {length // page} pages is more than {MAX_PAGES} at once (use "
            "--page-size 2M for large ranges)"
        )


def _map(mon: Monitor, iommu: AmdIommu, rest: list[str]) -> None:
    pos, flags, values = _options(rest, "map", ("--no-invalidate",), ("--page-size",))
    if len(pos) not in (4, 5):
        raise MonitorError(f"usage: {_USAGE['map']}")
    target, name = _target(mon, pos[0], "map")
    iova, gpa, length = mon.expr(pos[1]), mon.expr(pos[2]), _size(mon, pos[3])
    perm = _perm_arg(pos[4], "map", ("r", "w", "rw")) if len(pos) == 5 else IOMMUPerm.RW
    page = _page_size(mon, values, "map")
    drv = _require_driver(iommu, "map")
    _check_range("map", drv, target, iova, length, page)
    if gpa < 0 or gpa + length > GPA_LIMIT:
        raise MonitorError(f"iommu map: GPA range {gpa:#x}+{length:#x} is beyond 52 bits")
    before = iommu.command_seq
    had = drv.domain_of(target)
    try:
        res = drv.map(
            target, iova, gpa, length, perm, invalidate="--no-invalidate" not in flags,
            page_size=page,
        )  # fmt: skip
    except DriverError as e:
        raise MonitorError(f"iommu map: {e}") from None
    ran = _executed_since(iommu, before)
    mem = mon.machine.memory
    mon.value = _inval_state(res.invalidation)
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
        "commands": _commands_data(ran),
        "invalidation": _inval_data(res.invalidation),
    }
    mon.out(
        f"iommu map: {_who(iommu, target, name)} domain {res.domain}: IOVA "
        f"{res.iova:#x}-{res.iova + res.length - 1:#x} -> GPA {gpa:#x}-{gpa + res.length - 1:#x} "
        f"{perm_word(perm)}, {size_words(page)} pages"
    )
    if had != res.domain:
        root = drv.domains[res.domain][0]
        mon.out(
            f"  DTE of {format_bdf(res.devid)} now points to domain {res.domain}'s "
            f"{drv.domains[res.domain][1]}-level table at {root:#x}"
        )
    for i, addr in enumerate(res.ptes[:4]):
        value = mem.load(addr, 8)[1]
        mon.out(f"  leaf PTE at {addr:#x} = 0x{value:016x} (IOVA {res.iova + i * page:#x})")
    if len(res.ptes) > 4:
        mon.out(f"  ... and {len(res.ptes) - 4} more leaf PTEs")
    if res.tables:
        mon.out(f"  {res.tables} page-table page(s) allocated")
    for line in command_lines(ran, res.invalidation, iommu.stalled):
        mon.out(line)


def _unmap(mon: Monitor, iommu: AmdIommu, rest: list[str]) -> None:
    pos, flags, values = _options(rest, "unmap", ("--no-invalidate",), ("--page-size",))
    if len(pos) != 3:
        raise MonitorError(f"usage: {_USAGE['unmap']}")
    target, name = _target(mon, pos[0], "unmap")
    iova, length = mon.expr(pos[1]), _size(mon, pos[2])
    page = _page_size(mon, values, "unmap")
    drv = _require_driver(iommu, "unmap")
    _check_range("unmap", drv, target, iova, length, page)
    before = iommu.command_seq
    try:
        res = drv.unmap(
            target, iova, length, invalidate="--no-invalidate" not in flags, page_size=page
        )
    except DriverError as e:
        raise MonitorError(f"iommu unmap: {e}") from None
    ran = _executed_since(iommu, before)
    mon.value = _inval_state(res.invalidation)
    mon.data = {
        "devid": format_bdf(res.devid),
        "domain": res.domain,
        "iova": res.iova,
        "length": res.length,
        "cleared": list(res.ptes),
        "commands": _commands_data(ran),
        "invalidation": _inval_data(res.invalidation),
    }
    mon.out(
        f"iommu unmap: {_who(iommu, target, name)} domain {res.domain}: IOVA "
        f"{res.iova:#x}-{res.iova + res.length - 1:#x}, {len(res.ptes)} leaf PTE(s) cleared"
    )
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
    for p in _pending(iommu):
        m = p.mapping
        mon.out(
            f"  held by mapping #{m.id} of {m.device} (IOVA {m.addr:#x}+{m.length:#x}): the "
            "wait completes when the device releases it (fix iommu-inval-drain on)"
        )


def _flush(mon: Monitor, iommu: AmdIommu, rest: list[str]) -> None:
    if len(rest) > 1:
        raise MonitorError(f"usage: {_USAGE['flush']}")
    target = None
    what = "every IOTLB entry (INVALIDATE_IOMMU_ALL)"
    if rest:
        target, name = _target(mon, rest[0], "flush")
        what = f"the domain of {_who(iommu, target, name)}"
    drv = _require_driver(iommu, "flush")
    before = iommu.command_seq
    try:
        res = drv.flush(target)
    except DriverError as e:
        raise MonitorError(f"iommu flush: {e}") from None
    ran = _executed_since(iommu, before)
    mon.value = _inval_state(res)
    mon.data = {"commands": _commands_data(ran), "invalidation": _inval_data(res)}
    mon.out(f"iommu flush: {what}")
    for line in command_lines(ran, res, iommu.stalled):
        mon.out(line)
    _pending_lines(mon, iommu, res)


def _walk(mon: Monitor, iommu: AmdIommu, rest: list[str]) -> None:
    if len(rest) not in (2, 3):
        raise MonitorError(f"usage: {_USAGE['walk']}")
    target, name = _target(mon, rest[0], "walk")
    iova = mon.expr(rest[1])
    perm = _perm_arg(rest[2], "walk", ("r", "w")) if len(rest) == 3 else IOMMUPerm.RO
    w = iommu.walk(target, iova, perm)
    verdict = _iotlb_verdict(iommu, w.iotlb) if w.iotlb is not None else None
    mon.value = w.translated_addr if w.ok and w.translated_addr is not None else "fault"
    data = w.to_dict()
    data["device"] = name or None
    data["iotlb_tables"] = verdict
    mon.data = data
    fix_on = mon.machine.engine.fixes[PAGE_WALK]
    for line in walk_tree(w, name, fix_on, verdict):
        mon.out(line)


def _faults(mon: Monitor, iommu: AmdIommu, rest: list[str]) -> None:
    pos, flags, _ = _options(rest, "faults", ("--clear",))
    if pos:
        raise MonitorError(f"usage: {_USAGE['faults']}")
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
    if "--clear" in flags:
        mem = mon.machine.memory
        # What Linux's amd_iommu event handler does: head = tail, then clear the W1C bits.
        _, tail = mem.load(AMDVI_BASE_ADDR + REG_EVT_TAIL, 8)
        mem.store(AMDVI_BASE_ADDR + REG_EVT_HEAD, 8, tail)
        mem.store(AMDVI_BASE_ADDR + REG_STATUS, 8, STATUS_EVENT_BITS)
        mon.out(f"  event log head moved to {tail:#x}: {len(log)} entries consumed")


_SUBS = {
    "on": lambda mon, iommu, rest: _on_off(mon, iommu, rest, True),
    "off": lambda mon, iommu, rest: _on_off(mon, iommu, rest, False),
    "setup": _setup,
    "map": _map,
    "unmap": _unmap,
    "flush": _flush,
    "walk": _walk,
    "faults": _faults,
}


# -- info ------------------------------------------------------------------------------------


def _no_args(name: str, args: str) -> None:
    if split_words(args):
        raise MonitorError(f"info {name}: extraneous characters at the end of line")


@info_command("iommu", "", "show the IOMMU: registers decoded, reserved range, domains and devices")
def info_iommu(mon: Monitor, args: str) -> None:
    _no_args("iommu", args)
    iommu = _iommu(mon, "info iommu")
    drv = _driver(iommu)
    layout = drv.layout() if drv is not None else None
    state = iommu.state()
    regs = iommu.decode_registers()
    domains = iommu.domains_view()
    devices = iommu.devices_view()
    pending = _pending(iommu)
    fixes = {sw.name: on for sw, on in mon.machine.engine.fixes.items() if sw.layer == "amd-iommu"}
    mon.value = "on" if iommu.enabled else "off"
    mon.data = {
        "device": iommu.name,
        "bdf": iommu.bdf,
        "mmio": AMDVI_BASE_ADDR,
        "state": state,
        "fixes": fixes,
        "layout": layout,
        "registers": {r.name: r.value for r in regs},
        "domains": [
            {
                "domain": d.domain_id,
                "devids": [format_bdf(x) for x in d.devids],
                "roots": list(d.roots),
                "iotlb_entries": d.iotlb_entries,
            }
            for d in domains
        ],
        "devices": [
            {
                "devid": format_bdf(v.devid),
                "functions": list(v.functions),
                "translated": v.translated,
                "dte": list(v.dte.raw) if v.dte is not None else None,
            }
            for v in devices
        ],
        "pending": [
            {"mapping": p.mapping.id, "command": p.command, "domain": p.domain} for p in pending
        ],
    }
    lines = iommu_info_lines(
        name=iommu.name,
        bdf=iommu.bdf,
        mmio=AMDVI_BASE_ADDR,
        state=state,
        fixes=fixes,
        layout=layout,
        regs=regs,
        domains=domains,
        devices=devices,
        pending=pending,
        stalled_since_ns=iommu.stalled_since_ns if iommu.stalled else None,
    )
    for line in lines:
        mon.out(line)


def _iotlb_verdict(iommu: AmdIommu, e: IotlbView) -> str:
    """How a cached translation compares with what the tables say now."""
    if not iommu.enabled:
        return "unused while translation is off"
    perm = IOMMUPerm.RO if int(e.perm) & 1 else IOMMUPerm.WO
    w = iommu.walk(e.devid, e.iova, perm)
    expected = e.translated_addr + (e.iova & (e.page_size - 1))
    if w.ok and w.translated_addr == expected and int(w.granted) == int(e.perm):
        return "agree"
    if w.ok and w.translated_addr is not None:
        return f"STALE: now {w.translated_addr:#x} {perm_short(w.granted)}"
    return f"STALE: now a fault ({w.reason})"


@info_command("iotlb", "", "show the IOMMU's cached translations and whether they are stale")
def info_iotlb(mon: Monitor, args: str) -> None:
    _no_args("iotlb", args)
    iommu = _iommu(mon, "info iotlb")
    rows = [(e, _iotlb_verdict(iommu, e)) for e in iommu.iotlb_entries()]
    mon.value = len(rows)
    mon.data = [dict(e.to_dict(), tables=verdict) for e, verdict in rows]
    for line in iotlb_lines(rows):
        mon.out(line)


@info_command(
    "dma", "", "show live DMA mappings, their translations, references and checker reports"
)
def info_dma(mon: Monitor, args: str) -> None:
    _no_args("dma", args)
    machine = mon.machine
    tracker = machine.engine.dma
    iommu = find_iommu(machine)
    mappings = sorted((m for m in tracker.mappings.values() if m.live), key=lambda m: m.id)
    pending = _pending(iommu)
    stalled = bool(iommu is not None and iommu.stalled)
    mon.value = len(mappings)
    mon.data = {
        "mappings": [
            {
                "id": m.id,
                "device": m.device,
                "requester_id": format_bdf(m.requester_id),
                "addr": m.addr,
                "length": m.length,
                "to_memory": m.is_write,
                "gpa": mapping_gpa(m),
                "translated": m.translation is not None,
                "refs": m.refs,
                "generation": m.generation,
                "stale": m.stale,
            }
            for m in mappings
        ],
        "pending": [
            {"mapping": p.mapping.id, "command": p.command, "domain": p.domain} for p in pending
        ],
        "drain": machine.engine.fixes[INVAL_DRAIN],
        "reports": list(tracker.reports),
    }
    for line in dma_lines(mappings, pending, tracker.reports, stalled):
        mon.out(line)
