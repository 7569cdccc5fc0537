"""Machine operations the front ends offer, implemented once.

HMP, QMP and qtest each parse their own syntax and print their own replies; what they do
to the machine goes through these functions, so a guest-visible operation has the same
effect (and the same log lines) whichever front end asked for it.

Registers, as a guest would access them:
    :func:`find_register` (machine, device, register) -> (device, bank, RegInfo);
    :func:`reg_read` (machine, device, bank, info, peek=False) -> int;
    :func:`reg_write` (machine, device, bank, info, value) -> None;
    :func:`as_guest` (device, engine, access) runs any access with the device's
    re-entrancy guard engaged inside one engine activation, as MMIO dispatch does.
Memory (the CPU's view, ``machine.memory``):
    :func:`memory_read` (machine, addr, size) -> (MemTxResult, bytes);
    :func:`memory_write` (machine, addr, data) -> MemTxResult;
    :func:`save_memory` (machine, addr, size, stream) -> None, the body of ``pmemsave``.
Trace events:
    :func:`match_trace_events` (pattern) -> list[TraceEvent], QEMU's glob (``*``, ``?``);
    :func:`trace_event_states` (machine, events) -> list[(TraceEvent, bool)];
    :func:`set_trace_events` (machine, events, on) -> None.
Fix switches:
    :func:`fix_states` (machine) -> list[(FixSwitch, bool)];
    :func:`set_fix` (machine, name, on) -> None (KeyError: no such switch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, BinaryIO, Final

from dmamon.memory import MemTxResult, TraceEvent, all_events, glob_match

if TYPE_CHECKING:
    from dmamon.devices import Device, Machine
    from dmamon.devices.regs import RegInfo, RegisterBank
    from dmamon.memory import Engine
    from dmamon.memory.errors import DispatchFrame
    from dmamon.memory.fixes import FixSwitch

__all__ = [
    "SAVE_CHUNK",
    "as_guest",
    "find_register",
    "fix_states",
    "match_trace_events",
    "memory_read",
    "memory_write",
    "reg_read",
    "reg_write",
    "save_memory",
    "set_fix",
    "set_trace_events",
    "trace_event_states",
]

_U64: Final = (1 << 64) - 1
#: Bytes ``save_memory`` reads and writes at a time.
SAVE_CHUNK: Final = 1 << 20


# -- registers ---------------------------------------------------------------------------


def find_register(
    machine: Machine, device: str, register: str
) -> tuple[Device, RegisterBank, RegInfo]:
    """The device, bank and register description for ``device``'s ``register``.

    Raises:
        KeyError: no such device, or it has no such register (the message says which).
    """
    dev, bank = machine.find_bank(device, register)
    info = type(bank).lookup(register)
    if info is None:
        raise KeyError(f"{device} has no register '{register}'")
    return dev, bank, info


def as_guest(
    dev: Device, engine: Engine, access: Callable[[], None], frame: DispatchFrame | None = None
) -> None:
    """Run a register access as MMIO dispatch would: one activation, with the device
    engaged in I/O, so re-entrant DMA from its hooks meets the guard as a guest's would
    (``Blocked re-entrant IO on MemoryRegion: ...``). ``frame`` is the dispatch frame a
    guest's access would push: a crash report then lists the same chain."""
    guard = dev.guard

    def engaged() -> None:
        was = guard.engaged_in_io
        guard.engaged_in_io = True
        if frame is not None:
            engine.io_chain.append(frame)
        try:
            access()
        finally:
            guard.engaged_in_io = was
            if frame is not None and engine.io_chain:
                engine.io_chain.pop()

    engine.run_activation(engaged)


def reg_read(
    machine: Machine, dev: Device, bank: RegisterBank, info: RegInfo, *, peek: bool = False
) -> int:
    """Read a register as a guest (read hooks run, read-to-clear bits clear), or with
    ``peek`` the stored value without any side effect."""
    if peek:
        return bank.peek(info.name)
    box: list[int] = []
    frame = _guest_frame(dev, bank, info.offset, None, info.size)
    as_guest(dev, machine.engine, lambda: box.append(bank.read(info.offset, info.size)), frame)
    return box[0] if box else 0


def reg_write(machine: Machine, dev: Device, bank: RegisterBank, info: RegInfo, value: int) -> None:
    """Write a register as a guest: write hooks run with the device's guard engaged.

    Raises:
        ValueError: ``value`` does not fit the register.
    """
    if value < 0 or value >> info.width:
        raise ValueError(f"{value:#x} does not fit {info.name} ({info.width} bits)")
    frame = _guest_frame(dev, bank, info.offset, value, info.size)
    as_guest(dev, machine.engine, lambda: bank.write(info.offset, value, info.size), frame)


def _guest_frame(
    dev: Device, bank: RegisterBank, offset: int, value: int | None, size: int
) -> DispatchFrame | None:
    """The frame a guest's access to ``bank`` would push, when the device reaches its only
    bank through its BAR 0 (the bank's offsets are then the region's); else None."""
    bar = getattr(dev, "bars", {}).get(0)
    region = getattr(bar, "region", None)
    if list(dev.banks().values()) != [bank] or getattr(region, "owner", None) is not dev:
        return None
    return (dev.name, str(getattr(region, "name", "")), offset, value, size)


# -- memory --------------------------------------------------------------------------------


def memory_read(machine: Machine, addr: int, size: int) -> tuple[MemTxResult, bytes]:
    """``size`` bytes at ``addr`` in the CPU's view (unassigned bytes read as zeros)."""
    return machine.memory.read(addr & _U64, size)


def memory_write(machine: Machine, addr: int, data: bytes) -> MemTxResult:
    """Write ``data`` at ``addr`` in the CPU's view."""
    return machine.memory.write(addr & _U64, data)


def save_memory(machine: Machine, addr: int, size: int, stream: BinaryIO) -> None:
    """``pmemsave``: ``size`` bytes from ``addr`` to ``stream``, a chunk at a time.

    Transaction errors are ignored as QEMU does (unassigned memory saves as zeros); the
    address wraps at 2**64.

    Raises:
        ValueError: a negative size.
        OSError: the stream cannot be written.
    """
    if size < 0:
        raise ValueError("size must not be negative")
    addr &= _U64
    while size:
        n = min(size, SAVE_CHUNK)
        stream.write(machine.memory.read(addr, n)[1])
        addr = (addr + n) & _U64
        size -= n


# -- trace events --------------------------------------------------------------------------


def match_trace_events(pattern: str) -> list[TraceEvent]:
    """The trace events ``pattern`` names, in declaration order (QEMU's glob)."""
    return [e for e in all_events() if glob_match(pattern, e.name)]


def trace_event_states(
    machine: Machine, events: Sequence[TraceEvent]
) -> list[tuple[TraceEvent, bool]]:
    """Each event with whether it is enabled on this machine."""
    enabled = machine.tracer.enabled
    return [(ev, ev in enabled) for ev in events]


def set_trace_events(machine: Machine, events: Sequence[TraceEvent], on: bool) -> None:
    """Enable or disable each of ``events`` on this machine."""
    tracer = machine.tracer
    for ev in events:
        tracer.set_state(ev.name, on)


# -- fix switches --------------------------------------------------------------------------


def fix_states(machine: Machine) -> list[tuple[FixSwitch, bool]]:
    """Every fix switch with its state on this machine."""
    return machine.fixes.items()


def set_fix(machine: Machine, name: str, on: bool) -> None:
    """Turn the fix switch ``name`` on or off.

    Raises:
        KeyError: no such switch.
    """
    machine.fixes.set(name, on)
