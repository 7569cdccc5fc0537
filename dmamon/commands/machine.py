"""Run state, time, devices, registers and fix switches."""

from __future__ import annotations

import re

from dmamon import ops
from dmamon.argspec import Param, arg, flag, register_kind, scan_word
from dmamon.devices import Device, RegInfo, RegisterBank
from dmamon.memory import ConfigError, all_fixes
from dmamon.monitor import Monitor, MonitorError, command, subcommand
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


@command("stop", "", "stop emulation", "Machine", aliases=("s",), args=())
def stop(mon: Monitor) -> None:
    mon.machine.stop()


@command("cont", "", "resume emulation", "Machine", aliases=("c",), args=())
def cont(mon: Monitor) -> None:
    if mon.machine.halted:
        raise MonitorError(
            f"cont: the machine is {mon.machine.run_state}; use system_reset to bring it back"
        )
    mon.machine.cont()


@command("system_reset", "", "reset the system", "Machine", args=())
def system_reset(mon: Monitor) -> None:
    mon.machine.system_reset()


@command("quit", "", "quit the emulator", "Machine", aliases=("q",), args=())
def quit_(mon: Monitor) -> None:
    mon.quit_requested = True


def _scan_duration(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    word, end = scan_word(text, pos)
    return parse_duration(word), end


register_kind("duration", _scan_duration)


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
    args=(),
)
def clock(mon: Monitor) -> None:
    m = mon.machine
    now = m.now_ns
    timers = m.clock.pending_timers
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


def _time_moves(mon: Monitor, sub: str) -> None:
    m = mon.machine
    if m.halted:
        raise MonitorError(
            f"clock {sub}: the machine is {m.run_state}, time does not move; "
            "system_reset brings it back"
        )


@subcommand(
    "clock",
    "step",
    args=(arg("duration", "duration"),),
    usage="clock step DURATION (e.g. clock step 100ms)",
)
def clock_step(mon: Monitor, *, duration: int) -> None:
    _time_moves(mon, "step")
    mon.machine.step(duration)
    clock(mon)


@subcommand("clock", "next", args=(), usage="clock next")
def clock_next(mon: Monitor) -> None:
    _time_moves(mon, "next")
    mon.machine.step_to_next()
    clock(mon)


_FIX_USAGE = "fix NAME on|off"


@command(
    "fix",
    "[name on|off]",
    "turn a bug fix on or off (no arguments: list them, as info fixes)",
    "Machine",
    args=(
        arg("name", optional=True, complete="fix"),
        arg("state", "choice", optional=True, choices=("on", "off"), error="usage: " + _FIX_USAGE),
    ),
    usage=_FIX_USAGE,
)
def fix(mon: Monitor, *, name: str | None, state: str | None) -> None:
    if name is None:
        for line in fixes_lines(mon.machine.fixes.items()):
            mon.out(line)
        return
    if state is None:
        raise MonitorError("usage: " + _FIX_USAGE)
    try:
        ops.set_fix(mon.machine, name, state == "on")
    except KeyError:
        known = ", ".join(s.name for s in all_fixes())
        raise MonitorError(f"fix: unknown switch '{name}' (known: {known})") from None
    mon.value = state


@command(
    "device_add",
    "driver[,prop=value][,...]",
    "add device, like -device on the command line",
    "Devices",
    args=(arg("spec", "rest", optional=True, default="", complete="devtype"),),
)
def device_add(mon: Monitor, *, spec: str) -> None:
    from dmamon.devices import DEVICE_TYPES

    if not spec:  # QEMU's 'O' argument type: a missing string
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


@command(
    "device_del",
    "device",
    "remove device",
    "Devices",
    args=(arg("id", complete="device"),),  # an id, a name or a QOM path: the machine decides
    usage="device_del ID",
)
def device_del(mon: Monitor, *, id: str) -> None:
    try:
        mon.machine.device_del(id)
    except KeyError:
        raise MonitorError(f"Error: Device '{id}' not found") from None


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


_REG_USAGE = "usage: reg read DEV REG [--peek] | reg write DEV REG VALUE"
_DEV = arg("dev", metavar="DEV", complete="device")  # a word: swapped arguments get a hint
_REG = arg("register", "register", metavar="REG")


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
    args=(),
)
def reg(mon: Monitor) -> None:
    raise MonitorError(_REG_USAGE)


@subcommand("reg", "read", args=(_DEV, _REG, flag("--peek")), usage="reg read DEV REG [--peek]")
def reg_read(mon: Monitor, *, dev: str, register: str, peek: bool) -> None:
    device, bank = _find_bank(mon, "read", dev, register)
    cls = type(bank)
    info = cls.lookup(register)
    assert info is not None
    value = ops.reg_read(mon.machine, device, bank, info, peek=peek)
    fields = cls.decode(info.name, value)
    mon.value = value
    mon.data = {
        "device": device.name,
        "register": info.name,
        "offset": info.offset,
        "value": value,
        "fields": dict(fields),
    }
    digits = info.width // 4
    text = f"{device.name}.{info.name} = 0x{value:0{digits}x}"
    if fields:
        text += " (" + " ".join(f"{n}={v:#x}" for n, v in fields) + ")"
    mon.out(text)


@subcommand("reg", "write", args=(_DEV, _REG, arg("value", complete="reg-field")))
def reg_write(mon: Monitor, *, dev: str, register: str, value: str) -> None:
    device, bank = _find_bank(mon, "write", dev, register)
    cls = type(bank)
    info = cls.lookup(register)
    assert info is not None
    old = bank.peek(info.name)
    new = _reg_value(mon, cls, info.name, value, old)
    if new >> info.width:
        raise MonitorError(f"reg: {new:#x} does not fit {info.name} ({info.width} bits)")
    ops.reg_write(mon.machine, device, bank, info, new)
    mon.value = new
    _say_ignored_bits(mon, f"{device.name}.{info.name}", info, old, new)


_PCI_USAGE = "pci map DEV [ADDR]"


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
    args=(),
)
def pci(mon: Monitor) -> None:
    raise MonitorError("usage: " + _PCI_USAGE)


@subcommand(
    "pci",
    "map",
    args=(
        arg("dev", "device", metavar="DEV", error="pci map: device '{word}' not found"),
        arg("addr", "expr", optional=True),
    ),
    usage=_PCI_USAGE,
)
def pci_map(mon: Monitor, *, dev: str, addr: int | None) -> None:
    from dmamon.devices import PciDevice
    from dmamon.pcimap import default_base, map_writes

    m = mon.machine
    device = m.device(dev)
    if not isinstance(device, PciDevice):
        raise MonitorError(f"pci map: device '{device.name}' is not a PCI function")
    base = addr if addr is not None else default_base(m.pci_devices(), device)
    try:
        writes = map_writes(device, base)
    except ValueError as e:
        raise MonitorError(f"pci map: {device.name}: {e}") from None
    mon.out(f"# pci map {device.name}: the config writes a guest makes ({device.bdf})")
    for w in writes:
        m.io_as.store(w.port, w.size, w.value)
        mon.out(w.command)
    mon.value = base
    mon.data = {"device": device.name, "base": base, "writes": [w.command for w in writes]}
