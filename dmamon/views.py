"""Pure renderers of machine state in QEMU's layouts (``info pci``, ``info qtree``) and
dmamon's own tables (registers, fixes, devices). Text in, text out: unit-tested alone."""

from __future__ import annotations

from dmamon.devices import Device, Machine, PciDevice
from dmamon.devices.pci import BAR_UNMAPPED, CLASS_DESCRIPTIONS, INTERRUPT_LINE
from dmamon.devices.regs import RegisterBank
from dmamon.memory import FixSwitch

__all__ = ["fixes_lines", "pci_lines", "qtree_lines", "registers_lines", "sentence_case"]

_U64 = (1 << 64) - 1


def _ids(d: PciDevice) -> tuple[int, int]:
    """Vendor and device ID as config space has them (some models compute them)."""
    c = d.config
    return int.from_bytes(c[0:2], "little"), int.from_bytes(c[2:4], "little")


def pci_lines(machine: Machine) -> list[str]:
    """QEMU's ``info pci``."""
    out: list[str] = []
    for d in machine.pci_devices():
        out.append(f"  Bus {d.bus.number:2d}, device {d.slot:3d}, function {d.func}:")
        name = CLASS_DESCRIPTIONS.get(d.class_id)
        label = name if name else f"Class {d.class_id:04d}"
        vendor, device = _ids(d)
        out.append(f"    {label}: PCI device {vendor:04x}:{device:04x}")
        if d.header_type & 0x7F == 0:
            out.append(f"      PCI subsystem {d.subsystem_vendor_id:04x}:{d.subsystem_id:04x}")
        if d.interrupt_pin:
            out.append(f"      IRQ {d.config[INTERRUPT_LINE]}, pin {'ABCD'[d.interrupt_pin - 1]}")
        for idx in sorted(d.bars):
            bar = d.bars[idx]
            addr = _U64 if bar.addr == BAR_UNMAPPED else bar.addr
            last = (addr + bar.size - 1) & _U64
            if bar.is_io:
                out.append(f"      BAR{idx}: I/O at 0x{addr:04x} [0x{last:04x}].")
            else:
                pf = " prefetchable" if bar.prefetch else ""
                out.append(
                    f"      BAR{idx}: {64 if bar.is_64 else 32} bit{pf} memory at "
                    f"0x{addr:08x} [0x{last:08x}]."
                )
        out.append(f'      id "{d.qdev_id}"')
    return out


def _qtree_device(d: Device, indent: str) -> list[str]:
    out = [f'{indent}dev: {d.type_name}, id "{d.qdev_id}"']
    for k, v in d.qtree_props():
        out.append(f"{indent}  {k} = {v}")
    if isinstance(d, PciDevice):
        out.append(f"{indent}  addr = {d.slot:02x}.{d.func:x}")
        name = CLASS_DESCRIPTIONS.get(d.class_id) or f"Class {d.class_id:04x}"
        out.append(
            f"{indent}  class {name}, addr {d.bus.number:02x}:{d.slot:02x}.{d.func:x}, "
            f"pci id {_ids(d)[0]:04x}:{_ids(d)[1]:04x} "
            f"(sub {d.subsystem_vendor_id:04x}:{d.subsystem_id:04x})"
        )
        for idx in sorted(d.bars):
            bar = d.bars[idx]
            addr = _U64 if bar.addr == BAR_UNMAPPED else bar.addr
            kind = "i/o" if bar.is_io else "mem"
            out.append(
                f"{indent}  bar {idx}: {kind} at 0x{addr:x} [0x{(addr + bar.size - 1) & _U64:x}]"
            )
        sub = getattr(d, "secondary_bus", None)
        if sub is not None:
            out.append(f"{indent}  bus: pci.{sub.number}")
            out.append(f"{indent}    type PCI")
            for dfn in sorted(sub.devices):
                out.extend(_qtree_device(sub.devices[dfn], indent + "    "))
    return out


def qtree_lines(machine: Machine) -> list[str]:
    """QEMU-style ``info qtree`` of the devices dmamon models."""
    out = ["bus: main-system-bus", "  type System"]
    for d in machine.devices.values():
        if not isinstance(d, PciDevice):
            out.extend(_qtree_device(d, "  "))
    out += [
        '  dev: q35-pcihost, id ""',
        f"    below-4g-mem-size = {machine.ram_size}",
        "    bus: pcie.0",
        "      type PCIE",
    ]
    for dfn in sorted(machine.pci_bus.devices):
        out.extend(_qtree_device(machine.pci_bus.devices[dfn], "      "))
    return out


def registers_lines(device: str, bank_name: str, bank: RegisterBank) -> list[str]:
    """dmamon's ``info registers DEV``: every register with its value and decoded fields
    (values read with peek: no side effects)."""
    out = [f"{device} {bank_name} ({type(bank).__name__}):"]
    for info in type(bank).registers():
        value = bank.peek(info.name)
        digits = info.width // 4
        out.append(
            f"  {info.offset:#06x} {info.name:<14} {info.access.name:<4} "
            f"0x{value:0{digits}x}  {info.doc}".rstrip()
        )
        for fname, fval in type(bank).decode(info.name, value):
            fi = info.field(fname)
            bits = f"[{fi.bit}]" if fi.width == 1 else f"[{fi.msb}:{fi.bit}]"
            out.append(f"         .{fname:<12} {bits:<8} {fval:#x}  {fi.doc}".rstrip())
    return out


def fixes_lines(items: list[tuple[FixSwitch, bool]]) -> list[str]:
    """``info fixes``: each switch, its state, default, and what it stands for."""
    out = []
    width = max((len(s.name) for s, _ in items), default=4)
    for sw, on in items:
        state = "on " if on else "off"
        default = "" if on == sw.default else f" (default {'on' if sw.default else 'off'})"
        head = f"{sw.name:<{width}}  {state} "
        out += _wrap(f"[{sw.layer}] {sw.summary}{default}", head, " " * len(head))
        out += _wrap(sw.reference, " " * (width + 6), " " * (width + 8))
    return out


FIXES_COLUMNS = 100


def _wrap(text: str, first: str, rest: str) -> list[str]:
    """Wrap to :data:`FIXES_COLUMNS` at spaces, never inside a word (a commit id, a CVE)."""
    import textwrap

    return textwrap.wrap(
        text,
        FIXES_COLUMNS,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def sentence_case(text: str) -> str:
    """A message that follows ``cmd: `` starts in lower case (``Device 'x' not found`` from
    the machine becomes ``device 'x' not found``), as the monitor's own errors do."""
    return text[:1].lower() + text[1:]
