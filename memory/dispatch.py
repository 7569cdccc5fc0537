"""I/O dispatch into one region (QEMU ``memory_region_dispatch_read/write``).

The general path of an MMIO access once the address space has found the region:
validity (``memory_region_access_valid``, logged under guest_errors), the activation
boundary, the re-entrancy guard and nesting depth, and QEMU 7.2's widening and splitting
(``access_with_adjusted_size``) with the ``memory_region_ops_*`` trace events. The
unassigned region and ``memory_access_size`` live here too. The address space's
load/store fast path inlines the common case of this and must keep the same effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.memory import trace_events as ev
from dmamon.memory.errors import MachineHalt, describe_frame
from dmamon.memory.events import ReentrancyBlocked
from dmamon.memory.reentrancy import REENTRANCY_GUARD
from dmamon.memory.region import MemoryRegion
from dmamon.memory.txn import MemTxAttrs, MemTxResult

if TYPE_CHECKING:
    from dmamon.memory.engine import Engine

__all__ = [
    "access_size",
    "dispatch_read",
    "dispatch_write",
    "pow2floor",
    "unassigned",
    "valid",
]

_OK = MemTxResult.OK
_DECODE = MemTxResult.DECODE_ERROR
_ACCESS = MemTxResult.ACCESS_ERROR
_ERROR = MemTxResult.ERROR
MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}
U64 = 0xFFFF_FFFF_FFFF_FFFF


def pow2floor(n: int) -> int:
    """The largest power of two not above ``n`` (n >= 1)."""
    return 1 << (n.bit_length() - 1)


def access_size(mr: MemoryRegion, length: int, off: int) -> int:
    """QEMU 7.2 ``memory_access_size``: the widest access the region allows here."""
    ops = mr.ops
    assert ops is not None
    amax = ops.valid_max or 4
    if not ops.impl_unaligned:
        align = off & -off
        if align and align < amax:
            amax = align
    return pow2floor(min(length, amax))


def _invalid(
    engine: Engine, addr: int, size: int, is_write: bool, region: str, reason: str
) -> None:
    """QEMU's guest_errors line for a refused access (with its fields for exporters)."""
    tracer = engine.tracer
    if "guest_errors" in tracer.log_items:
        tracer.log(
            "guest_errors",
            f"Invalid {'write' if is_write else 'read'} at addr 0x{addr:X}, size {size}, "
            f"region '{region}', reason: {reason}",
            {
                "access": "write" if is_write else "read",
                "addr": addr,
                "size": size,
                "region": region,
                "reason": reason,
            },
        )


def unassigned(engine: Engine, addr: int, buf: memoryview, is_write: bool) -> int:
    """Nothing is mapped at ``addr``: QEMU's nameless unassigned region refuses the
    access, one piece of at most 4 aligned bytes (its ops leave max_access_size 0 -> 4).
    A read piece reads as zeros.

    Returns:
        The piece's length (the caller records ``DECODE_ERROR`` for it).
    """
    sz = pow2floor(min(len(buf), 4, (addr & -addr) or 4))
    _invalid(engine, addr & U64, sz, is_write, "(null)", "rejected")
    if not is_write:
        buf[0:sz] = bytes(sz)
    return sz


def valid(
    engine: Engine, mr: MemoryRegion, off: int, size: int, is_write: bool, attrs: MemTxAttrs
) -> bool:
    """QEMU ``memory_region_access_valid``; a refusal is logged under guest_errors."""
    ops = mr.ops
    assert ops is not None
    if ops.accepts is not None and not ops.accepts(off, size, is_write, attrs):
        reason = "rejected"
    elif not ops.valid_unaligned and off & (size - 1):
        reason = "unaligned"
    elif ops.valid_max and (size > ops.valid_max or size < ops.valid_min):
        reason = f"invalid size (min:{ops.valid_min} max:{ops.valid_max})"
    else:
        return True
    _invalid(engine, off, size, is_write, mr.name, reason)
    return False


def dispatch_read(
    engine: Engine, mr: MemoryRegion, off: int, size: int, attrs: MemTxAttrs
) -> tuple[MemTxResult, int]:
    """One read of ``size`` bytes at ``off`` inside I/O region ``mr``."""
    if not valid(engine, mr, off, size, False, attrs):
        return _DECODE, 0
    if engine.active:
        return _guarded(engine, mr, off, size, None, attrs)
    engine.active = 1
    engine.steps = 0
    try:
        return _guarded(engine, mr, off, size, None, attrs)
    except MachineHalt as h:
        engine.halted(h)
        return _ERROR, 0
    finally:
        engine.active = 0
        engine.io_chain.clear()


def dispatch_write(
    engine: Engine, mr: MemoryRegion, off: int, value: int, size: int, attrs: MemTxAttrs
) -> MemTxResult:
    """One write of ``size`` bytes at ``off`` inside I/O region ``mr``."""
    if not valid(engine, mr, off, size, True, attrs):
        return _DECODE
    if engine.active:
        return _guarded(engine, mr, off, size, value, attrs)[0]
    engine.active = 1
    engine.steps = 0
    try:
        return _guarded(engine, mr, off, size, value, attrs)[0]
    except MachineHalt as h:
        engine.halted(h)
        return _ERROR
    finally:
        engine.active = 0
        engine.io_chain.clear()


def _blocked(engine: Engine, mr: MemoryRegion, off: int, is_write: bool) -> None:
    """QEMU 8.1 access_with_adjusted_size: warn_report_once (and tell the event bus)."""
    engine.tracer.warn_once(
        f"reentrancy:{mr.id}",
        f"Blocked re-entrant IO on MemoryRegion: {mr.name} at addr: 0x{off:X}",
    )
    if engine.events.has_subscribers:
        owner = mr.owner.name if mr.owner is not None else "-"
        engine.events.emit(ReentrancyBlocked(owner, mr.name, off, is_write))


def _guarded(
    engine: Engine, mr: MemoryRegion, off: int, size: int, value: int | None, attrs: MemTxAttrs
) -> tuple[MemTxResult, int]:
    """The re-entrancy guard and nesting depth around one adjusted access."""
    owner = mr.owner
    guard = None
    if owner is not None and not mr.disable_reentrancy_guard:
        g = owner.guard
        if g.engaged_in_io:
            if engine.fixes[REENTRANCY_GUARD]:
                _blocked(engine, mr, off, value is not None)
                return _ACCESS, 0
        else:
            g.engaged_in_io = True
            guard = g
    chain = engine.io_chain
    chain.append((owner.name if owner is not None else "-", mr.name, off, value, size))
    if len(chain) > engine.max_io_depth:
        raise MachineHalt(
            "crashed",
            f"stack overflow: {len(chain)} nested MMIO dispatches into {chain[-1][0]} "
            "(QEMU dies here with SIGSEGV: the handler recursed until the stack ran out)",
            tuple(f"  #{i} {describe_frame(f)}" for i, f in enumerate(chain)),
        )
    try:
        if value is None:
            return _adjusted_read(engine, mr, off, size, attrs)
        return _adjusted_write(engine, mr, off, value, size, attrs), 0
    finally:
        if guard is not None:
            guard.engaged_in_io = False
        if chain:
            chain.pop()


def _adjusted_read(
    engine: Engine, mr: MemoryRegion, off: int, size: int, attrs: MemTxAttrs
) -> tuple[MemTxResult, int]:
    ops = mr.ops
    assert ops is not None
    asz = max(min(size, ops.impl_max or 4), ops.impl_min or 1)
    tracer = engine.tracer
    traced = ev.memory_region_ops_read in tracer.enabled
    if asz == size and ops.read_with_attrs is None and not traced:
        return _OK, ops.read(off, size) & MASK[size]
    mask = MASK[asz]
    value = 0
    result = _OK
    for i in range(0, size, asz):
        if ops.read_with_attrs is not None:
            r, tmp = ops.read_with_attrs(off + i, asz, attrs)
            result |= r
        else:
            tmp = ops.read(off + i, asz)
        if traced:
            tracer.emit(
                ev.memory_region_ops_read,
                cpu=-1,
                mr=mr.trace_id or engine.number_region(mr),
                addr=mr.absolute_address() + off + i,
                value=tmp & U64,
                size=asz,
                name=mr.name,
            )
        value |= (tmp & mask) << (i * 8)
    return result, value & MASK[size]


def _adjusted_write(
    engine: Engine, mr: MemoryRegion, off: int, value: int, size: int, attrs: MemTxAttrs
) -> MemTxResult:
    ops = mr.ops
    assert ops is not None
    asz = max(min(size, ops.impl_max or 4), ops.impl_min or 1)
    mask = MASK[asz]
    tracer = engine.tracer
    traced = ev.memory_region_ops_write in tracer.enabled
    result = _OK
    for i in range(0, size, asz):
        tmp = (value >> (i * 8)) & mask
        if traced:
            tracer.emit(
                ev.memory_region_ops_write,
                cpu=-1,
                mr=mr.trace_id or engine.number_region(mr),
                addr=mr.absolute_address() + off + i,
                value=tmp,
                size=asz,
                name=mr.name,
            )
        if ops.write_with_attrs is not None:
            result |= ops.write_with_attrs(off + i, tmp, asz, attrs)
        else:
            ops.write(off + i, tmp, asz)
    return result
