"""``info`` and its subcommands for the machine as a whole (QEMU's names and layouts)."""

from __future__ import annotations

import json

from dmamon import ops
from dmamon.argspec import HMP_COUNT_ERRORS, arg
from dmamon.monitor import (
    INFO,
    Monitor,
    MonitorError,
    command,
    info_command,
    info_help_lines,
    split_words,
)
from dmamon.pcimap import pci_state_lines
from dmamon.qom import QomError, qom_get, qom_list, qom_tree_lines
from dmamon.views import fixes_lines, pci_lines, qtree_lines, registers_lines


@command(
    "info",
    "[subcommand]",
    "show various information about the system state",
    "Info",
    complete=("info",),
)
def info(mon: Monitor, args: str) -> None:
    name, _, rest = args.strip().partition(" ")
    if not name:
        for line in info_help_lines():
            mon.out(line)
        return
    found = INFO.get(name)
    if found is None:
        raise MonitorError(f"unknown command: 'info {name}'")
    found.func(mon, rest.strip())


@info_command("status", "", "show the current VM status (running|paused)", args=())
def info_status(mon: Monitor) -> None:
    m = mon.machine
    mon.value = m.run_state
    halt = m.halt
    mon.data = {
        "status": m.run_state,
        "running": m.run_state == "running",
        "report": halt.report() if halt else None,
    }
    mon.out(f"VM status: {m.status()}")
    if halt is not None:
        for line in (line.strip() for line in halt.report()):
            mon.out(f"  {line}")
        mon.out("  (system_reset brings the machine back)")


@info_command(
    "mtree",
    "[-f][-d][-o][-D]",
    "show memory tree (-f: dump flat view for address spaces;"
    "-d: dump dispatch tree, valid with -f only);-o: dump region owners/parents;"
    "-D: dump disabled regions",
    complete=("mtree-flag",),  # QEMU's single-dash flags, in any order
)
def info_mtree(mon: Monitor, args: str) -> None:
    from dmamon.memory.mtree import render_mtree

    flags = set(split_words(args))
    bad = flags - {"-f", "-o", "-D", "-d"}
    if bad:
        raise MonitorError(f"info mtree: unsupported option {sorted(bad)[0]}")
    if {"-f", "-d"} <= flags:  # without -f, QEMU ignores -d too
        raise MonitorError(
            "info mtree: -d (the dispatch tree of QEMU's address lookup) is not modelled: "
            "dmamon dispatches on the flat view that info mtree -f shows"
        )
    lines = render_mtree(
        mon.machine.address_spaces(),
        flat="-f" in flags,
        show_disabled="-D" in flags,
        owner="-o" in flags,
    )
    for line in lines:
        mon.out(line)


@info_command("pci", "", "show PCI info", args=())
def info_pci(mon: Monitor) -> None:
    lines = pci_lines(mon.machine)
    mon.data = [
        {
            "bdf": d.bdf,
            "type": d.type_name,
            "id": d.qdev_id,
            "vendor": int.from_bytes(d.config[0:2], "little"),
            "device": int.from_bytes(d.config[2:4], "little"),
            "command": d.command,
            "bars": {str(i): {"addr": b.addr, "size": b.size} for i, b in d.bars.items()},
        }
        for d in mon.machine.pci_devices()
    ]
    for line in lines:
        mon.out(line)


@info_command("qtree", "", "show device tree", args=())
def info_qtree(mon: Monitor) -> None:
    for line in qtree_lines(mon.machine):
        mon.out(line)


@info_command(
    "registers",
    "[dev]",
    "show a device's registers, fields decoded (no side effects)",
    args=(arg("dev", "device", error="info registers: device '{word}' not found"),),
    usage="info registers DEV (dmamon has no CPU)",
)
def info_registers(mon: Monitor, *, dev: str) -> None:
    device = mon.machine.device(dev)
    banks = device.banks()
    if not banks:
        raise MonitorError(f"info registers: device '{device.name}' has no register banks")
    data = {}
    for bank_name, bank in banks.items():
        for line in registers_lines(device.name, bank_name, bank):
            mon.out(line)
        data[bank_name] = {i.name: bank.peek(i.name) for i in type(bank).registers()}
    mon.data = data


@info_command(
    "trace-events",
    "[name] [vcpu]",
    "show available trace-events & their state",
    args=(
        arg("name", optional=True, default="*", complete="event-pattern"),
        arg("vcpu", optional=True),  # accepted as QEMU does; dmamon has no vCPU
    ),
)
def info_trace_events(mon: Monitor, *, name: str, vcpu: str | None) -> None:
    pattern = name
    # QEMU lists in reverse declaration order (its list is built by prepending).
    states = ops.trace_event_states(mon.machine, ops.match_trace_events(pattern)[::-1])
    mon.data = {e.name: on for e, on in states}
    for e, on in states:
        mon.out(f"{e.name} : state {int(on)}")


@info_command(
    "fixes", "", "show the bug-fix switches, their state and what they stand for", args=()
)
def info_fixes(mon: Monitor) -> None:
    items = mon.machine.fixes.items()
    mon.data = {
        sw.name: {"on": on, "default": sw.default, "reference": sw.reference} for sw, on in items
    }
    for line in fixes_lines(items):
        mon.out(line)


@info_command("devices", "", "show the devices with their state", args=())
def info_devices(mon: Monitor) -> None:
    from dmamon.devices import PciDevice

    data: list[dict[str, object]] = []
    for d in mon.machine.devices.values():
        where = f"{d.bdf} " if isinstance(d, PciDevice) else ""
        mon.out(f"{d.name}: {d.type_name} {where}- {d.description}")
        extra = pci_state_lines(d) if isinstance(d, PciDevice) else []
        for line in [*d.status_lines(), *extra]:
            mon.out(f"  {line}")
        item: dict[str, object] = {"name": d.name, "type": d.type_name}
        if isinstance(d, PciDevice):
            item["command"] = d.command
            item["bus_master"] = d.bus_master_enabled
            item["bars"] = {str(i): b.addr for i, b in d.bars.items()}
        data.append(item)
    mon.data = data


@info_command(
    "trace",
    "[count]",
    "show the last trace and log lines with their virtual time",
    args=(arg("count", "hmpexpr", optional=True, default=20),),
)
def info_trace(mon: Monitor, *, count: int) -> None:
    ring = list(mon.machine.tracer.ring)[-count:] if count else []
    mon.data = [{"time_ns": r.time_ns, "kind": r.kind, "text": r.text} for r in ring]
    for r in ring:
        mon.out(f"{r.time_ns:>15}ns {r.text}")


@info_command("version", "", "show the version of QEMU", args=())
def info_version(mon: Monitor) -> None:
    from dmamon import __version__
    from dmamon.qmp import QEMU_VERSION

    # QEMU prints "%d.%d.%d%s": the version, then its package string as it is.
    major, minor, micro = QEMU_VERSION
    package = f" (dmamon {__version__})"
    mon.data = {"qemu": {"major": major, "minor": minor, "micro": micro}, "package": package}
    mon.value = f"{major}.{minor}.{micro}"
    mon.out(f"{major}.{minor}.{micro}{package}")


@info_command("ramblock", "", "Display system ramblock information", args=())
def info_ramblock(mon: Monitor) -> None:
    size = mon.machine.ram_size
    mon.data = [{"name": "pc.ram", "offset": 0, "used": size, "total": size}]
    mon.out(f"{'Block Name':>24} {'PSize':>8}  {'Offset':>18} {'Used':>18} {'Total':>18}")
    mon.out(f"{'pc.ram':>24} {'4 KiB':>8}  0x{0:016x} 0x{size:016x} 0x{size:016x}")


@info_command(
    "roms",
    "",
    "show roms",
    details="dmamon's board loads no firmware (no BIOS, option ROMs or ACPI tables): empty.",
    args=(),
)
def info_roms(mon: Monitor) -> None:
    mon.data = []


@info_command(
    "qom-tree",
    "[path]",
    "show QOM composition tree",
    args=(arg("path", optional=True, default="/machine"),),
    usage=HMP_COUNT_ERRORS,
)
def info_qom_tree(mon: Monitor, *, path: str) -> None:
    try:
        lines = qom_tree_lines(mon.machine, path)
    except QomError as e:
        raise MonitorError(str(e)) from None
    for line in lines:
        mon.out(line)


@command(
    "qom-list",
    "path",
    "list QOM properties",
    "Devices",
    args=(arg("path", optional=True),),
    usage=HMP_COUNT_ERRORS,
)
def qom_list_cmd(mon: Monitor, *, path: str | None) -> None:
    if path is None:  # QEMU prints the root's name and stops
        mon.out("/")
        return
    try:
        props = qom_list(mon.machine, path)
    except QomError as e:
        raise MonitorError(f"Error: {e}") from None
    mon.data = [{"name": n, "type": t} for n, t in props]
    for name, kind in props:
        mon.out(f"{name} ({kind})")


@command(
    "qom-get",
    "path property",
    "print QOM property",
    "Devices",
    args=(arg("path"), arg("property")),
    usage=HMP_COUNT_ERRORS,
)
def qom_get_cmd(mon: Monitor, *, path: str, property: str) -> None:
    try:
        value = qom_get(mon.machine, path, property)
    except QomError as e:
        raise MonitorError(f"Error: {e}") from None
    mon.value = value if not isinstance(value, bool) else ("true" if value else "false")
    mon.data = value
    mon.out(json.dumps(value))


@info_command("irq", "", "show the interrupts statistics (if available)", args=())
def info_irq(mon: Monitor) -> None:
    # QEMU's layout: "IRQ statistics for ioapic:" then "%2d: %d" for each GSI that rose
    # (MSIs bypass the IOAPIC and are not counted; the i8259 sees none of dmamon's GSIs).
    counts = mon.machine.irq_counts
    mon.data = {str(k): v for k, v in sorted(counts.items())}
    mon.out("IRQ statistics for ioapic:")
    for gsi, n in sorted(counts.items()):
        if n:
            mon.out(f"{gsi:2d}: {n}")
