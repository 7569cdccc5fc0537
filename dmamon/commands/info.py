"""``info`` and its subcommands for the machine as a whole (QEMU's names and layouts)."""

from __future__ import annotations

from dmamon.memory import all_events
from dmamon.monitor import (
    INFO,
    Monitor,
    MonitorError,
    command,
    info_command,
    info_help_lines,
    split_words,
)
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
    import fnmatch

    words = split_words(args)
    pattern = words[0] if words else "*"
    tracer = mon.machine.engine.tracer
    events = [e for e in all_events() if fnmatch.fnmatchcase(e.name, pattern)]
    # QEMU lists in reverse declaration order (its list is built by prepending).
    events.reverse()
    mon.data = {e.name: e in tracer.enabled for e in events}
    for e in events:
        mon.out(f"{e.name} : state {1 if e in tracer.enabled else 0}")


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

    data = []
    for d in mon.machine.devices.values():
        where = f"{d.bdf} " if isinstance(d, PciDevice) else ""
        mon.out(f"{d.name}: {d.type_name} {where}- {d.description}")
        for line in d.status_lines():
            mon.out(f"  {line}")
        data.append({"name": d.name, "type": d.type_name})
    mon.data = data


@info_command("trace", "[count]", "show the last trace and log lines with their virtual time")
def info_trace(mon: Monitor, args: str) -> None:
    count = mon.expr(args) if args.strip() else 20
    ring = list(mon.machine.engine.tracer.ring)[-count:] if count else []
    mon.data = [{"time_ns": r.time_ns, "kind": r.kind, "text": r.text} for r in ring]
    for r in ring:
        mon.out(f"{r.time_ns:>15}ns {r.text}")
