"""``info`` and its subcommands for the machine as a whole (QEMU's names and layouts)."""

from __future__ import annotations

import json

from dmamon import ops
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
from dmamon.render import fold_frames
from dmamon.views import fixes_lines, pci_lines, qtree_lines, registers_lines, sentence_case


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


@info_command("status", "", "show the current VM status (running|paused)")
def info_status(mon: Monitor, args: str) -> None:
    m = mon.machine
    mon.value = m.run_state
    halt = m.engine.halt
    mon.data = {
        "status": m.run_state,
        "running": m.run_state == "running",
        "report": halt.report() if halt else None,
    }
    mon.out(f"VM status: {m.status()}")
    if halt is not None:
        for line in fold_frames([line.strip() for line in halt.report()]):
            mon.out(f"  {line}")
        mon.out("  (system_reset brings the machine back)")


@info_command(
    "mtree",
    "[-f][-d][-o][-D]",
    "show memory tree (-f: dump flat view for address spaces;"
    "-d: dump dispatch tree, valid with -f only);-o: dump region owners/parents;"
    "-D: dump disabled regions",
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


@info_command("pci", "", "show PCI info")
def info_pci(mon: Monitor, args: str) -> None:
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


@info_command("qtree", "", "show device tree")
def info_qtree(mon: Monitor, args: str) -> None:
    for line in qtree_lines(mon.machine):
        mon.out(line)


@info_command(
    "registers",
    "[dev]",
    "show a device's registers, fields decoded (no side effects)",
    complete=("device",),
)
def info_registers(mon: Monitor, args: str) -> None:
    words = split_words(args)
    if len(words) != 1:
        raise MonitorError("info registers: usage: info registers DEV (dmamon has no CPU)")
    try:
        dev = mon.machine.device(words[0])
    except KeyError as e:
        raise MonitorError(f"info registers: {sentence_case(str(e.args[0]))}") from None
    banks = dev.banks()
    if not banks:
        raise MonitorError(f"info registers: device '{dev.name}' has no register banks")
    data = {}
    for bank_name, bank in banks.items():
        for line in registers_lines(dev.name, bank_name, bank):
            mon.out(line)
        data[bank_name] = {i.name: bank.peek(i.name) for i in type(bank).registers()}
    mon.data = data


@info_command("trace-events", "[name] [vcpu]", "show available trace-events & their state")
def info_trace_events(mon: Monitor, args: str) -> None:
    words = split_words(args)
    pattern = words[0] if words else "*"
    # QEMU lists in reverse declaration order (its list is built by prepending).
    states = ops.trace_event_states(mon.machine, ops.match_trace_events(pattern)[::-1])
    mon.data = {e.name: on for e, on in states}
    for e, on in states:
        mon.out(f"{e.name} : state {int(on)}")


@info_command("fixes", "", "show the bug-fix switches, their state and what they stand for")
def info_fixes(mon: Monitor, args: str) -> None:
    items = mon.machine.engine.fixes.items()
    mon.data = {
        sw.name: {"on": on, "default": sw.default, "reference": sw.reference} for sw, on in items
    }
    for line in fixes_lines(items):
        mon.out(line)


@info_command("devices", "", "show the devices with their state")
def info_devices(mon: Monitor, args: str) -> None:
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


@info_command("trace", "[count]", "show the last trace and log lines with their virtual time")
def info_trace(mon: Monitor, args: str) -> None:
    count = mon.expr(args) if args.strip() else 20
    ring = list(mon.machine.engine.tracer.ring)[-count:] if count else []
    mon.data = [{"time_ns": r.time_ns, "kind": r.kind, "text": r.text} for r in ring]
    for r in ring:
        mon.out(f"{r.time_ns:>15}ns {r.text}")


@info_command("version", "", "show the version of QEMU")
def info_version(mon: Monitor, args: str) -> None:
    from dmamon import __version__
    from dmamon.qmp import QEMU_VERSION

    # QEMU prints "%d.%d.%d%s": the version, then its package string as it is.
    major, minor, micro = QEMU_VERSION
    package = f" (dmamon {__version__})"
    mon.data = {"qemu": {"major": major, "minor": minor, "micro": micro}, "package": package}
    mon.value = f"{major}.{minor}.{micro}"
    mon.out(f"{major}.{minor}.{micro}{package}")


@info_command("ramblock", "", "Display system ramblock information")
def info_ramblock(mon: Monitor, args: str) -> None:
    size = mon.machine.ram_size
    mon.data = [{"name": "pc.ram", "offset": 0, "used": size, "total": size}]
    mon.out(f"{'Block Name':>24} {'PSize':>8}  {'Offset':>18} {'Used':>18} {'Total':>18}")
    mon.out(f"{'pc.ram':>24} {'4 KiB':>8}  0x{0:016x} 0x{size:016x} 0x{size:016x}")


@info_command(
    "roms",
    "",
    "show roms",
    details="dmamon's board loads no firmware (no BIOS, option ROMs or ACPI tables): empty.",
)
def info_roms(mon: Monitor, args: str) -> None:
    mon.data = []


@info_command("qom-tree", "[path]", "show QOM composition tree")
def info_qom_tree(mon: Monitor, args: str) -> None:
    words = split_words(args)
    if len(words) > 1:
        raise MonitorError("info qom-tree: extraneous characters at the end of line")
    try:
        lines = qom_tree_lines(mon.machine, words[0] if words else "/machine")
    except QomError as e:
        raise MonitorError(str(e)) from None
    for line in lines:
        mon.out(line)


@command("qom-list", "path", "list QOM properties", "Devices")
def qom_list_cmd(mon: Monitor, args: str) -> None:
    words = split_words(args)
    if len(words) > 1:
        raise MonitorError("qom-list: extraneous characters at the end of line")
    if not words:  # QEMU prints the root's name and stops
        mon.out("/")
        return
    try:
        props = qom_list(mon.machine, words[0])
    except QomError as e:
        raise MonitorError(f"Error: {e}") from None
    mon.data = [{"name": n, "type": t} for n, t in props]
    for name, kind in props:
        mon.out(f"{name} ({kind})")


@command("qom-get", "path property", "print QOM property", "Devices")
def qom_get_cmd(mon: Monitor, args: str) -> None:
    words = split_words(args)
    if len(words) > 2:
        raise MonitorError("qom-get: extraneous characters at the end of line")
    if len(words) < 2:
        raise MonitorError("qom-get: string expected")
    try:
        value = qom_get(mon.machine, words[0], words[1])
    except QomError as e:
        raise MonitorError(f"Error: {e}") from None
    mon.value = value if not isinstance(value, bool) else ("true" if value else "false")
    mon.data = value
    mon.out(json.dumps(value))


@info_command("irq", "", "show the interrupts statistics (if available)")
def info_irq(mon: Monitor, args: str) -> None:
    # QEMU's layout: "IRQ statistics for ioapic:" then " GSI: raises" for the non-zero ones.
    counts = getattr(mon.machine, "irq_counts", None)
    if not isinstance(counts, dict):
        raise MonitorError(
            "info irq: this machine keeps no interrupt statistics; info devices shows each "
            "device's INTx level, trace-event pci_irq on logs every change"
        )
    mon.data = {str(k): v for k, v in sorted(counts.items())}
    mon.out("IRQ statistics for ioapic:")
    for gsi, n in sorted(counts.items()):
        if n:
            mon.out(f"{gsi:2d}: {n}")
