"""Run state, time, devices, registers and fix switches."""

from __future__ import annotations

import re

from dmamon import ops
from dmamon.devices import Device, RegInfo, RegisterBank
from dmamon.memory import ConfigError, all_fixes
from dmamon.monitor import Monitor, MonitorError, command, split_words
from dmamon.views import fixes_lines, sentence_case

_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_DURATION = re.compile(r"^(\d+)(ns|us|ms|s)?$")


def parse_duration(text: str) -> int:
    """``100ms``, ``5us``, ``42`` (ns) to integer nanoseconds.

    Raises:
        MonitorError: not a duration.
    """
    m = _DURATION.match(text.strip().replace("_", ""))
    if not m:
        raise MonitorError(f"invalid duration {text!r} (expected e.g. 100ms, 5us, 1000ns, 1s)")
    return int(m.group(1)) * _UNITS[m.group(2) or "ns"]


def _no_args(name: str, args: str) -> None:
    if args.strip():
        raise MonitorError(f"{name}: extraneous characters at the end of line")


@command("stop", "", "stop emulation", "Machine", aliases=("s",))
def stop(mon: Monitor, args: str) -> None:
    _no_args("stop|s", args)
    mon.machine.stop()


@command("cont", "", "resume emulation", "Machine", aliases=("c",))
def cont(mon: Monitor, args: str) -> None:
    _no_args("cont|c", args)
    if mon.machine.halted:
        raise MonitorError(
            f"cont: the machine is {mon.machine.run_state}; use system_reset to bring it back"
        )
    mon.machine.cont()


@command("system_reset", "", "reset the system", "Machine")
def system_reset(mon: Monitor, args: str) -> None:
    _no_args("system_reset", args)
    mon.machine.system_reset()


@command("quit", "", "quit the emulator", "Machine", aliases=("q",))
def quit_(mon: Monitor, args: str) -> None:
    _no_args("quit|q", args)
    mon.quit_requested = True


@command(
    "clock",
    "[step DURATION|next]",
    "show virtual time, or advance it (units ns, us, ms, s)",
    "Clock",
    details=(
        "clock              virtual time, run state, pending timers\n"
        "clock step 100ms   advance virtual time, firing due timers in order\n"
        "clock next         advance to the next timer deadline"
    ),
    complete=("subcommand:step,next",),
)
def clock(mon: Monitor, args: str) -> None:
    words = split_words(args)
    m = mon.machine
    if words and words[0] in ("step", "next") and m.halted:
        raise MonitorError(
            f"clock {words[0]}: the machine is {m.run_state}, time does not move; "
            "system_reset brings it back"
        )
    if words and words[0] == "step":
        if len(words) != 2:
            raise MonitorError("usage: clock step DURATION (e.g. clock step 100ms)")
        m.step(parse_duration(words[1]))
    elif words and words[0] == "next":
        if len(words) != 1:
            raise MonitorError("usage: clock next")
        m.step_to_next()
    elif words:
        raise MonitorError(f"clock: unknown subcommand {words[0]!r} (step, next)")
    now = m.now_ns
    timers = m.engine.clock.pending_timers
    mon.value = now
    mon.data = {
        "now_ns": now,
        "state": m.run_state,
        "timers": [{"name": t.name, "deadline_ns": t.deadline_ns} for t in timers],
    }
    mon.out(f"virtual time: {now} ns ({now / 1e9:.9f} s), machine {m.status()}")
    for t in timers:
        assert t.deadline_ns is not None
        mon.out(f"  timer {t.name} at {t.deadline_ns} ns (in {t.deadline_ns - now} ns)")


@command(
    "fix",
    "[name on|off]",
    "turn a bug fix on or off (no arguments: list them, as info fixes)",
    "Machine",
    complete=("fix", "subcommand:on,off"),
)
def fix(mon: Monitor, args: str) -> None:
    words = split_words(args)
    fixes = mon.machine.engine.fixes
    if not words:
        for line in fixes_lines(fixes.items()):
            mon.out(line)
        return
    if len(words) != 2 or words[1] not in ("on", "off"):
        raise MonitorError("usage: fix NAME on|off")
    try:
        ops.set_fix(mon.machine, words[0], words[1] == "on")
    except KeyError:
        known = ", ".join(s.name for s in all_fixes())
        raise MonitorError(f"fix: unknown switch '{words[0]}' (known: {known})") from None
    mon.value = words[1]


@command(
    "device_add",
    "driver[,prop=value][,...]",
    "add device, like -device on the command line",
    "Devices",
    complete=("devtype",),
)
def device_add(mon: Monitor, args: str) -> None:
    from dmamon.devices import DEVICE_TYPES

    spec = args.strip()
    if not spec:
        raise MonitorError("device_add: string expected")
    if spec in ("help", "?"):
        for name, cls in sorted(DEVICE_TYPES.items()):
            if cls.user_creatable:
                mon.out(f'name "{name}", desc "{cls.description}"')
        return
    if spec.endswith(",help"):
        dcls = DEVICE_TYPES.get(spec[: -len(",help")])
        if dcls is None:
            raise MonitorError(f"'{spec[:-5]}' is not a valid device model name")
        mon.out(f"{dcls.type_name} options:")
        for p in dcls.props:
            mon.out(f"  {p.name}=<{p.kind}> - {p.doc} (default: {p.default})")
        return
    try:
        dev = mon.machine.device_add(spec)
    except ConfigError as e:
        raise MonitorError(f"Error: {e}") from None
    mon.value = dev.name


@command("device_del", "device", "remove device", "Devices", complete=("device",))
def device_del(mon: Monitor, args: str) -> None:
    words = split_words(args)
    if len(words) != 1:
        raise MonitorError("device_del: usage: device_del ID")
    try:
        mon.machine.device_del(words[0])
    except KeyError:
        raise MonitorError(f"Error: Device '{words[0]}' not found") from None


def _reg_value(mon: Monitor, bank_cls: type, reg: str, text: str, old: int) -> int:
    """A value, or ``field=v,field=v`` applied on top of the current value."""
    if "=" not in text:
        return mon.expr(text)
    info = bank_cls.lookup(reg)  # type: ignore[attr-defined]
    value = old
    for item in text.split(","):
        fname, _, ftext = item.partition("=")
        try:
            fi = info.field(fname.strip())
        except KeyError:
            names = ", ".join(f.name for f in info.fields) or "none"
            raise MonitorError(
                f"reg: {reg} has no field '{fname.strip()}' (fields: {names})"
            ) from None
        v = mon.expr(ftext)
        if v >> fi.width:
            raise MonitorError(f"reg: {v:#x} does not fit field {fname.strip()} ({fi.width} bits)")
        value = (value & ~fi.mask) | (v << fi.bit)
    return value


def _find_bank(mon: Monitor, op: str, dev_name: str, reg_name: str) -> tuple[Device, RegisterBank]:
    """The device and bank of ``reg_name``; swapped arguments get a suggestion."""
    m = mon.machine
    try:
        return m.find_bank(dev_name, reg_name)
    except KeyError as e:
        if dev_name not in m.devices and reg_name in m.devices:
            try:
                m.find_bank(reg_name, dev_name)
            except KeyError:
                pass
            else:
                raise MonitorError(
                    f"reg: '{dev_name}' is a register of {reg_name}, not a device: "
                    f"did you mean 'reg {op} {reg_name} {dev_name}'?"
                ) from None
        raise MonitorError(f"reg: {sentence_case(str(e.args[0]))}") from None


def _say_ignored_bits(mon: Monitor, where: str, info: RegInfo, old: int, value: int) -> None:
    """One line when a write tried to change bits a guest write cannot change."""
    fixed = info.ro_mask | info.rc_mask
    lost = (old ^ value) & fixed
    if not lost:
        return
    if fixed == info.mask:
        mon.out(f"reg: {where} is read-only: the write was ignored, as a guest's is")
    else:
        mon.out(f"reg: bits {lost:#x} of {where} are read-only: they were not written")


@command(
    "reg",
    "read|write dev reg [value] [--peek]",
    "read or write a device register by name, fields decoded",
    "Devices",
    details=(
        "reg read DEV REG          a guest-visible read (read-to-clear bits clear, hooks run)\n"
        "reg read DEV REG --peek   the stored value, without any side effect\n"
        "reg write DEV REG VALUE   a guest-visible write; VALUE may be field=v,field=v"
    ),
    complete=("subcommand:read,write", "device", "register"),
)
def reg(mon: Monitor, args: str) -> None:
    words = split_words(args)
    peek = "--peek" in words
    words = [w for w in words if w != "--peek"]
    if len(words) < 3 or words[0] not in ("read", "write"):
        raise MonitorError("usage: reg read DEV REG [--peek] | reg write DEV REG VALUE")
    op, dev_name, reg_name = words[0], words[1], words[2]
    if op == "read" and len(words) != 3:
        raise MonitorError("usage: reg read DEV REG [--peek]")
    if op == "write" and len(words) != 4:
        raise MonitorError("usage: reg write DEV REG VALUE")
    dev, bank = _find_bank(mon, op, dev_name, reg_name)
    cls = type(bank)
    info = cls.lookup(reg_name)
    assert info is not None
    if op == "write":
        old = bank.peek(info.name)
        value = _reg_value(mon, cls, info.name, words[3], old)
        if value >> info.width:
            raise MonitorError(f"reg: {value:#x} does not fit {info.name} ({info.width} bits)")
        ops.reg_write(mon.machine, dev, bank, info, value)
        mon.value = value
        _say_ignored_bits(mon, f"{dev.name}.{info.name}", info, old, value)
        return
    value = ops.reg_read(mon.machine, dev, bank, info, peek=peek)
    fields = cls.decode(info.name, value)
    mon.value = value
    mon.data = {
        "device": dev.name,
        "register": info.name,
        "offset": info.offset,
        "value": value,
        "fields": dict(fields),
    }
    digits = info.width // 4
    text = f"{dev.name}.{info.name} = 0x{value:0{digits}x}"
    if fields:
        text += " (" + " ".join(f"{n}={v:#x}" for n, v in fields) + ")"
    mon.out(text)


@command(
    "pci",
    "map dev [addr]",
    "set a PCI function up as a guest does: BARs from addr, COMMAND memory + bus master",
    "Devices",
    details=(
        "pci map DEV [ADDR]   issue the config writes a guest's firmware would (BAR addresses\n"
        "                     from ADDR, default the next free address from 0xfe000000; then\n"
        "                     COMMAND.MEMORY and .MASTER) through ports 0xcf8/0xcfc, and print\n"
        "                     them as raw commands a script can replay instead"
    ),
    complete=("subcommand:map", "device", "symbol"),
)
def pci(mon: Monitor, args: str) -> None:
    from dmamon.devices import PciDevice
    from dmamon.pcimap import default_base, map_writes

    words = split_words(args)
    if not words or words[0] != "map" or len(words) not in (2, 3):
        raise MonitorError("usage: pci map DEV [ADDR]")
    m = mon.machine
    try:
        dev = m.device(words[1])
    except KeyError as e:
        raise MonitorError(f"pci map: {sentence_case(str(e.args[0]))}") from None
    if not isinstance(dev, PciDevice):
        raise MonitorError(f"pci map: device '{dev.name}' is not a PCI function")
    base = mon.expr(words[2]) if len(words) == 3 else default_base(m.pci_devices(), dev)
    try:
        writes = map_writes(dev, base)
    except ValueError as e:
        raise MonitorError(f"pci map: {dev.name}: {e}") from None
    mon.out(f"# pci map {dev.name}: the config writes a guest makes ({dev.bdf})")
    for w in writes:
        m.io_as.store(w.port, w.size, w.value)
        mon.out(w.command)
    mon.value = base
    mon.data = {"device": dev.name, "base": base, "writes": [w.command for w in writes]}
