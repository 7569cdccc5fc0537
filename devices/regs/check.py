"""Class-time checking of register declarations, and the fast-path access tables."""

from __future__ import annotations

import re
from typing import Final

from dmamon.devices.regs.access import ACCESS_NAMES, Access
from dmamon.devices.regs.decl import Field, FieldInfo, Reg, RegInfo
from dmamon.devices.regs.view import VIEW_ATTRS

WIDTHS: Final = (8, 16, 32, 64)
ACCESS_SIZES: Final = (1, 2, 4, 8)
NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]*\Z")


def _bits(lo: int, width: int) -> str:
    return f"bit {lo}" if width == 1 else f"bits {lo}..{lo + width - 1}"


def is_int(x: object) -> bool:
    """An int that is not a bool."""
    return isinstance(x, int) and not isinstance(x, bool)


def check_fields(where: str, name: str, reg: Reg) -> tuple[FieldInfo, ...]:
    """Check a register's fields and return their records ordered by bit."""
    infos: list[FieldInfo] = []
    seen: set[str] = set()
    for f in reg.fields:
        if not isinstance(f, Field):
            raise ValueError(f"{where}: register {name!r} has a field that is not a Field: {f!r}")
        _check_field_name(where, name, f, seen)
        infos.append(_check_field(where, name, reg, f))
    infos.sort(key=lambda fi: fi.bit)
    for a, b in zip(infos, infos[1:], strict=False):
        if a.msb >= b.bit:
            raise ValueError(
                f"{where}: fields {a.name!r} ({_bits(a.bit, a.width)}) and {b.name!r} "
                f"({_bits(b.bit, b.width)}) of register {name!r} overlap"
            )
    return tuple(infos)


def _check_field_name(where: str, name: str, f: Field, seen: set[str]) -> None:
    if not isinstance(f.name, str) or not NAME_RE.match(f.name):
        raise ValueError(
            f"{where}: field name {f.name!r} of register {name!r} is not lower_snake "
            "(a-z, 0-9 and _, starting with a letter)"
        )
    if f.name in VIEW_ATTRS:
        raise ValueError(
            f"{where}: field name {f.name!r} of register {name!r} is reserved "
            f"(RegView has .{f.name})"
        )
    if f.name in seen:
        raise ValueError(f"{where}: duplicate field name {f.name!r} in register {name!r}")
    seen.add(f.name)


def _check_field(where: str, name: str, reg: Reg, f: Field) -> FieldInfo:
    of = f"field {f.name!r} of register {name!r}"
    if not is_int(f.bit) or f.bit < 0:
        raise ValueError(f"{where}: {of} has invalid bit {f.bit!r}")
    if not is_int(f.width) or f.width < 1:
        raise ValueError(f"{where}: {of} has invalid width {f.width!r}")
    if f.bit + f.width > reg.width:
        raise ValueError(
            f"{where}: field {f.name!r} ({_bits(f.bit, f.width)}) is wider than "
            f"register {name!r} ({reg.width} bits)"
        )
    access = reg.access if f.access is None else f.access
    if not isinstance(access, Access):
        raise ValueError(
            f"{where}: {of} has invalid access mode {access!r} (expected {ACCESS_NAMES})"
        )
    if not is_int(f.reset):
        raise ValueError(f"{where}: {of} has a reset value that is not an int: {f.reset!r}")
    if not 0 <= f.reset < 1 << f.width:
        unit = "bit" if f.width == 1 else "bits"
        raise ValueError(f"{where}: {of} reset value {f.reset:#x} does not fit in {f.width} {unit}")
    return FieldInfo(f.name, f.bit, f.width, access, f.reset, f.doc, bool(f.unimp))


def check_reg(where: str, name: str, reg: Reg, size: int, base: type) -> RegInfo:
    """Check one register declaration of bank class ``where`` and resolve it.

    Args:
        where: The bank class name, for messages.
        name: The register's attribute name.
        reg: The declaration.
        size: The bank size in bytes.
        base: The bank base class, whose attribute names a register may not shadow.

    Returns:
        The register's checked record, with its access masks and combined reset value.

    Raises:
        ValueError: Any bad declaration, in words that name the class and register.
    """
    _check_name(where, name, base)
    _check_layout(where, name, reg, size)
    fields = check_fields(where, name, reg)
    masks = _masks(reg, fields)
    reset = _combined_reset(where, name, reg, fields)
    if reset & masks[Access.RSVD]:
        raise ValueError(
            f"{where}: register {name!r} reset value {reset:#x} sets reserved bits "
            f"{reset & masks[Access.RSVD]:#x}"
        )
    unimp = 0
    for f in fields:
        if f.unimp:
            unimp |= f.mask
    return RegInfo(
        name=name,
        offset=reg.offset,
        width=reg.width,
        access=reg.access,
        reset=reset,
        doc=reg.doc,
        fields=fields,
        ro_mask=masks[Access.RO],
        wo_mask=masks[Access.WO],
        rw_mask=masks[Access.RW],
        w1c_mask=masks[Access.W1C],
        w1s_mask=masks[Access.W1S],
        rc_mask=masks[Access.RC],
        rsvd_mask=masks[Access.RSVD],
        unimp_mask=unimp,
    )


def _check_name(where: str, name: str, base: type) -> None:
    if not NAME_RE.match(name):
        raise ValueError(
            f"{where}: register name {name!r} is not lower_snake "
            "(a-z, 0-9 and _, starting with a letter)"
        )
    if hasattr(base, name):
        raise ValueError(f"{where}: register name {name!r} shadows {base.__name__}.{name}")


def _check_layout(where: str, name: str, reg: Reg, size: int) -> None:
    """Access mode, width, offset, alignment, reset value and the fields' container."""
    if not isinstance(reg.access, Access):
        raise ValueError(
            f"{where}: register {name!r} has invalid access mode {reg.access!r} "
            f"(expected {ACCESS_NAMES})"
        )
    if reg.width not in WIDTHS or not is_int(reg.width):
        raise ValueError(
            f"{where}: register {name!r} has invalid width {reg.width!r} "
            "(expected 8, 16, 32 or 64 bits)"
        )
    if not is_int(reg.offset) or reg.offset < 0:
        raise ValueError(f"{where}: register {name!r} has invalid offset {reg.offset!r}")
    nbytes = reg.width // 8
    if reg.offset % nbytes:
        raise ValueError(
            f"{where}: register {name!r} at offset {reg.offset:#x} is not aligned to its "
            f"width ({reg.width} bits)"
        )
    if reg.offset + nbytes > size:
        raise ValueError(
            f"{where}: register {name!r} ({reg.offset:#x}..{reg.offset + nbytes - 1:#x}) "
            f"extends beyond the bank size {size:#x}"
        )
    if not is_int(reg.reset):
        raise ValueError(
            f"{where}: register {name!r} has a reset value that is not an int: {reg.reset!r}"
        )
    if not 0 <= reg.reset <= (1 << reg.width) - 1:
        raise ValueError(
            f"{where}: register {name!r} reset value {reg.reset:#x} does not fit in "
            f"{reg.width} bits"
        )
    if not isinstance(reg.fields, tuple):
        raise ValueError(f"{where}: register {name!r} fields must be a tuple, got {reg.fields!r}")


def _masks(reg: Reg, fields: tuple[FieldInfo, ...]) -> dict[Access, int]:
    """The bits of each access mode; bits no field covers are reserved."""
    full = (1 << reg.width) - 1
    masks = dict.fromkeys(Access, 0)
    if not fields:
        masks[reg.access] = full
        return masks
    covered = 0
    for f in fields:
        masks[f.access] |= f.mask
        covered |= f.mask
    masks[Access.RSVD] |= full & ~covered
    return masks


def _combined_reset(where: str, name: str, reg: Reg, fields: tuple[FieldInfo, ...]) -> int:
    reset = reg.reset
    for f in fields:
        mine = (reg.reset >> f.bit) & ((1 << f.width) - 1)
        if f.reset and mine and mine != f.reset:
            raise ValueError(
                f"{where}: register {name!r} reset value {reg.reset:#x} disagrees with the "
                f"reset value {f.reset:#x} of its field {f.name!r}"
            )
        reset |= f.reset << f.bit
    return reset


# Fast-path tables: {access size: {byte offset: entry}} for the accesses that fall inside one
# register. A read entry is (index, shift, mask): value = (stored >> shift) & mask. A write
# entry is (index, shift, keep, wmask): stored = (stored & keep) | ((value << shift) & wmask).
ReadTable = dict[int, dict[int, tuple[int, int, int]]]
WriteTable = dict[int, dict[int, tuple[int, int, int, int]]]


def build_tables(regs: tuple[RegInfo, ...]) -> tuple[ReadTable, WriteTable]:
    rd: ReadTable = {n: {} for n in ACCESS_SIZES}
    wr: WriteTable = {n: {} for n in ACCESS_SIZES}
    for idx, r in enumerate(regs):
        for n in ACCESS_SIZES:
            lane = (1 << (8 * n)) - 1
            for start in range(r.size - n + 1):
                shift = 8 * start
                if not (r.rc_mask or r.unimp_mask):
                    rd[n][r.offset + start] = (idx, shift, (r.read_mask >> shift) & lane)
                if not (r.w1c_mask or r.w1s_mask or r.unimp_mask):
                    wmask = r.write_mask & (lane << shift)
                    wr[n][r.offset + start] = (idx, shift, r.mask & ~wmask, wmask)
    return rd, wr
