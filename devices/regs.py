"""Declarative register banks for device models.

A device lists its MMIO registers as data, in a `RegisterBank` subclass, and attaches behaviour
to them by name with hooks on the device class. The access vocabulary (RO, WO, RW, W1C, W1S, RC,
reserved) is the one of Renode's ``FieldMode`` and QEMU's ``RegisterAccessInfo``; the
class-attribute style is amaranth-soc's. Everything is checked when the class is created, so a
bad register map fails at import time.

Example::

    class EduRegs(RegisterBank, size=0x100, valid_sizes=(4, 8)):
        ident = Reg(0x00, access=RO, reset=0x010000ED, doc="identification")
        dma_cmd = Reg(0x98, width=64, fields=(Field("run", bit=0), Field("irq", bit=2)))

    class EduDevice:
        def __init__(self) -> None:
            self.regs = EduRegs(owner=self)

        @on_write("dma_cmd")
        def _cmd_written(self, old: int, new: int) -> None: ...

Guest accesses are little-endian and byte-granular: an access may cover part of a register, or
several registers, and bytes that hit no register read as 0 and ignore writes. The bank stores
one integer per register (the *stored value*); the access modes decide how guest reads and writes
see and change it:

======  ==========================  ============================================
mode    guest read                  guest write
======  ==========================  ============================================
RO      stored value                ignored
WO      0                           stores the written bits
RW      stored value                stores the written bits
W1C     stored value                clears the bits written as 1
W1S     stored value                sets the bits written as 1
RC      stored value, then clears   ignored
RSVD    0                           ignored (the stored bits are always 0)
======  ==========================  ============================================

A register without fields is one field of its own access mode. In a register with fields, the
bits no field covers are reserved, and a field without an access mode takes the register's.

This module imports only the standard library.
"""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import FunctionType
from typing import ClassVar, Final, Never, TypeVar, overload

__all__ = [
    "RC",
    "RO",
    "RSVD",
    "RW",
    "W1C",
    "W1S",
    "WO",
    "Access",
    "Field",
    "FieldInfo",
    "Reg",
    "RegInfo",
    "RegView",
    "RegisterBank",
    "before_write",
    "on_read",
    "on_write",
    "validate_hooks",
]


class Access(enum.Enum):
    """How guest reads and writes treat a register or field."""

    RO = "ro"
    """Read-only: writes are ignored."""
    WO = "wo"
    """Write-only: reads return 0; writes are stored (the device can peek them)."""
    RW = "rw"
    """Read-write."""
    W1C = "w1c"
    """Write 1 to clear: bits written as 1 are cleared, bits written as 0 are kept."""
    W1S = "w1s"
    """Write 1 to set: bits written as 1 are set, bits written as 0 are kept."""
    RC = "rc"
    """Read to clear: a read returns the value and then clears the bits read; writes ignored."""
    RSVD = "rsvd"
    """Reserved: reads return 0 and writes are ignored."""


RO: Final = Access.RO
WO: Final = Access.WO
RW: Final = Access.RW
W1C: Final = Access.W1C
W1S: Final = Access.W1S
RC: Final = Access.RC
RSVD: Final = Access.RSVD

_WIDTHS: Final = (8, 16, 32, 64)
_ACCESS_SIZES: Final = (1, 2, 4, 8)
_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]*\Z")
_VIEW_ATTRS: Final = frozenset({"value", "name", "info"})
_ACCESS_NAMES: Final = ", ".join(a.name for a in Access)


# --------------------------------------------------------------------------------------------
# Declarations


@dataclass(frozen=True, slots=True)
class Field:
    """A bit field of a register.

    Args:
        name: Field name, lower_snake; the datasheet mnemonic belongs in ``doc``.
        bit: Position of the least significant bit.
        width: Number of bits.
        access: Access mode; ``None`` (the default) takes the register's, which is RW unless
            the register says otherwise.
        reset: Reset value of the field, unshifted.
        doc: Datasheet mnemonic and meaning.

    The declaration is checked when the `RegisterBank` subclass that uses it is created.
    """

    name: str
    bit: int
    width: int = 1
    access: Access | None = None
    reset: int = 0
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Reg:
    """A register of a `RegisterBank`; the class attribute name is the register name.

    Args:
        offset: Byte offset in the bank, aligned to the register width.
        width: Width in bits: 8, 16, 32 or 64.
        access: Access mode of the whole register when it has no fields; with fields, the mode
            of every field that does not name its own.
        reset: Reset value. Field reset values are ORed into it.
        fields: The register's bit fields. Bits that no field covers are reserved.
        doc: Datasheet mnemonic and meaning.

    On a bank instance the attribute gives a `RegView` (``bank.dma_cmd.value``,
    ``bank.dma_cmd.run``); on the class it gives the `Reg` itself. The declaration is checked
    when the `RegisterBank` subclass is created.
    """

    offset: int
    width: int = 32
    access: Access = Access.RW
    reset: int = 0
    fields: tuple[Field, ...] = ()
    doc: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.fields, tuple):
            # Accept any iterable of fields (a list is a common slip); validation comes later.
            fields: object = self.fields
            if isinstance(fields, Iterable):
                object.__setattr__(self, "fields", tuple(fields))

    @overload
    def __get__(self, instance: None, owner: type[object]) -> Reg: ...

    @overload
    def __get__(self, instance: RegisterBank, owner: type[object]) -> RegView: ...

    def __get__(self, instance: RegisterBank | None, owner: type[object]) -> Reg | RegView:
        if instance is None:
            return self
        return RegView(instance, type(instance)._index_by_id[id(self)])

    def __set__(self, instance: RegisterBank, value: Never) -> None:
        name = type(instance)._regs[type(instance)._index_by_id[id(self)]].name
        raise AttributeError(
            f"cannot assign register {name!r}; assign bank.{name}.value or use bank.poke()"
        )


# --------------------------------------------------------------------------------------------
# Introspection records


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """A checked field, as `RegisterBank.registers` reports it.

    Attributes:
        name: Field name.
        bit: Least significant bit.
        width: Number of bits.
        access: Access mode (resolved: never ``None``).
        reset: Reset value, unshifted.
        doc: Datasheet mnemonic and meaning.
    """

    name: str
    bit: int
    width: int
    access: Access
    reset: int
    doc: str

    @property
    def msb(self) -> int:
        """Most significant bit of the field."""
        return self.bit + self.width - 1

    @property
    def mask(self) -> int:
        """The field's bits, in register position."""
        return ((1 << self.width) - 1) << self.bit


@dataclass(frozen=True, slots=True)
class RegInfo:
    """A checked register, as `RegisterBank.registers` reports it.

    Attributes:
        name: Register name (the class attribute).
        offset: Byte offset in the bank.
        width: Width in bits.
        access: The register's declared access mode.
        reset: Effective reset value (register and field resets combined).
        doc: Datasheet mnemonic and meaning.
        fields: Fields ordered by bit; empty for a register without fields.
        ro_mask: Bits that are RO.
        wo_mask: Bits that are WO.
        rw_mask: Bits that are RW.
        w1c_mask: Bits that are W1C.
        w1s_mask: Bits that are W1S.
        rc_mask: Bits that are RC.
        rsvd_mask: Reserved bits (declared RSVD, or covered by no field).
    """

    name: str
    offset: int
    width: int
    access: Access
    reset: int
    doc: str
    fields: tuple[FieldInfo, ...]
    ro_mask: int
    wo_mask: int
    rw_mask: int
    w1c_mask: int
    w1s_mask: int
    rc_mask: int
    rsvd_mask: int

    @property
    def size(self) -> int:
        """Width in bytes."""
        return self.width // 8

    @property
    def mask(self) -> int:
        """All bits of the register."""
        return (1 << self.width) - 1

    @property
    def read_mask(self) -> int:
        """Bits a guest read returns (everything but WO and reserved bits)."""
        return self.mask & ~(self.wo_mask | self.rsvd_mask)

    @property
    def write_mask(self) -> int:
        """Bits a guest write stores as written (RW and WO bits)."""
        return self.rw_mask | self.wo_mask

    def field(self, name: str) -> FieldInfo:
        """Return the field called ``name``.

        Args:
            name: Field name.

        Returns:
            The field's record.

        Raises:
            KeyError: The register has no such field.
        """
        for f in self.fields:
            if f.name == name:
                return f
        have = ", ".join(f.name for f in self.fields) or "no fields"
        raise KeyError(f"register {self.name!r} has no field {name!r} (it has: {have})")


# --------------------------------------------------------------------------------------------
# Hooks

_HOOK_ATTR: Final = "__dmamon_reg_hooks__"
_ON_READ: Final = "on_read"
_ON_WRITE: Final = "on_write"
_BEFORE_WRITE: Final = "before_write"
_HOOK_PARAMS: Final = {
    _ON_READ: "(self, value)",
    _ON_WRITE: "(self, old, new)",
    _BEFORE_WRITE: "(self, old, new)",
}

_OnReadHook = Callable[[int], int]
_OnWriteHook = Callable[[int, int], None]
_BeforeWriteHook = Callable[[int, int], int | None]

_OnReadF = TypeVar("_OnReadF", bound=Callable[[Never, int], int])
_OnWriteF = TypeVar("_OnWriteF", bound=Callable[[Never, int, int], None])
_BeforeWriteF = TypeVar("_BeforeWriteF", bound=Callable[[Never, int, int], int | None])
_AnyF = TypeVar("_AnyF", bound=Callable[..., object])


def _mark(kind: str, reg: str) -> Callable[[_AnyF], _AnyF]:
    if not isinstance(reg, str) or not reg:
        raise ValueError(f"{kind} needs a register name, got {reg!r}")

    def mark(fn: _AnyF) -> _AnyF:
        marks: tuple[tuple[str, str], ...] = getattr(fn, _HOOK_ATTR, ())
        setattr(fn, _HOOK_ATTR, (*marks, (kind, reg)))
        return fn

    return mark


def on_read(reg: str) -> Callable[[_OnReadF], _OnReadF]:
    """Attach a method of the owner class as the read hook of a register.

    The method is called as ``method(self, value) -> int`` on every guest read that touches the
    register. ``value`` is what the guest would read without the hook (the stored value with WO
    and reserved bits as 0), and the return value, cut to the register width, is what the guest
    reads. RC bits are cleared after the hook runs. `RegisterBank.peek` never calls it.

    Args:
        reg: Register name, or ``"BankClass.reg"`` when the owner has several banks with the
            same register name.

    Returns:
        A decorator that marks the method and returns it unchanged.

    Raises:
        ValueError: ``reg`` is not a non-empty string.
    """
    return _mark(_ON_READ, reg)


def on_write(reg: str) -> Callable[[_OnWriteF], _OnWriteF]:
    """Attach a method of the owner class as the write hook of a register.

    The method is called as ``method(self, old, new) -> None`` after every guest write that
    touches the register has been stored: ``old`` is the stored value before the write and
    ``new`` the stored value after the access rules (and any `before_write` hook) were applied.
    It is called even when the value did not change, since a write is an event (a doorbell).
    It is not called when a `before_write` hook drops the write, nor for `RegisterBank.poke`.

    Args:
        reg: Register name, or ``"BankClass.reg"`` to name the bank as well.

    Returns:
        A decorator that marks the method and returns it unchanged.

    Raises:
        ValueError: ``reg`` is not a non-empty string.
    """
    return _mark(_ON_WRITE, reg)


def before_write(reg: str) -> Callable[[_BeforeWriteF], _BeforeWriteF]:
    """Attach a method of the owner class that may change or drop guest writes to a register.

    The method is called as ``method(self, old, new) -> int | None`` before a guest write is
    stored (QEMU's ``pre_write``): ``new`` is the value the access rules would store. It returns
    the value to store instead (cut to the register width; reserved bits stay 0), or ``None`` to
    drop the write, in which case the `on_write` hook is not called either.

    Args:
        reg: Register name, or ``"BankClass.reg"`` to name the bank as well.

    Returns:
        A decorator that marks the method and returns it unchanged.

    Raises:
        ValueError: ``reg`` is not a non-empty string.
    """
    return _mark(_BEFORE_WRITE, reg)


@dataclass(frozen=True, slots=True)
class _HookDecl:
    kind: str
    target: str
    attr: str
    func: FunctionType


def _collect_hooks(owner_cls: type) -> list[_HookDecl]:
    """Find the hook-marked methods visible on ``owner_cls`` (subclasses override by name)."""
    attrs: dict[str, object] = {}
    for klass in reversed(owner_cls.__mro__):
        attrs.update(vars(klass))
    decls: list[_HookDecl] = []
    for attr, val in attrs.items():
        if isinstance(val, FunctionType):
            marks: tuple[tuple[str, str], ...] = getattr(val, _HOOK_ATTR, ())
            for kind, target in marks:
                decls.append(_HookDecl(kind, target, attr, val))
    return decls


def _check_signature(owner_name: str, decl: _HookDecl) -> None:
    sig = inspect.signature(decl.func)
    try:
        if decl.kind == _ON_READ:
            sig.bind(None, 0)
        else:
            sig.bind(None, 0, 0)
    except TypeError:
        raise ValueError(
            f"{owner_name}: {decl.kind} hook {decl.attr!r} must take {_HOOK_PARAMS[decl.kind]}, "
            f"not {decl.attr}{sig}"
        ) from None


def validate_hooks(owner_cls: type, *bank_classes: type[RegisterBank]) -> None:
    """Check the register hooks of an owner class against the banks it uses.

    Meant to be called from the owner's ``__init_subclass__`` (the Device base class does), so
    that a misspelt register name fails when the device class is created.

    Args:
        owner_cls: The class whose methods carry `on_read`/`on_write`/`before_write` marks.
        *bank_classes: The `RegisterBank` subclasses an instance of ``owner_cls`` will own.

    Raises:
        TypeError: An entry of ``bank_classes`` is not a `RegisterBank` subclass.
        ValueError: A hook names a register no bank has, a bank that is not listed, or a
            register that several banks have without saying which (qualify it as
            ``"BankClass.reg"``); two hooks of one kind target the same register; or a hook's
            parameters do not fit its kind.
    """
    owner = owner_cls.__name__
    for b in bank_classes:
        if not (isinstance(b, type) and issubclass(b, RegisterBank)):
            raise TypeError(f"{owner}: {b!r} is not a RegisterBank subclass")
    seen: dict[tuple[str, str, str], str] = {}
    for decl in _collect_hooks(owner_cls):
        what = f"{owner}: {decl.kind} hook {decl.attr!r}"
        bank_name, dot, reg = decl.target.rpartition(".")
        if dot:
            banks = [b for b in bank_classes if b.__name__ == bank_name]
            if not banks:
                listed = ", ".join(b.__name__ for b in bank_classes) or "none"
                raise ValueError(
                    f"{what} names unknown register bank {bank_name!r} (banks: {listed})"
                )
            banks = [b for b in banks if reg in b._by_name]
            if not banks:
                raise ValueError(
                    f"{what} names unknown register {reg!r} "
                    f"({bank_name} has: {_names(_bank(bank_classes, bank_name))})"
                )
        else:
            banks = [b for b in bank_classes if reg in b._by_name]
            if not banks:
                have = "; ".join(f"{b.__name__} has: {_names(b)}" for b in bank_classes)
                raise ValueError(
                    f"{what} names unknown register {reg!r} ({have or 'no register banks'})"
                )
            if len(banks) > 1:
                both = " and ".join(b.__name__ for b in banks)
                raise ValueError(
                    f"{what} names register {reg!r}, which {both} both have; "
                    f"qualify it as {banks[0].__name__ + '.' + reg!r}"
                )
        key = (decl.kind, banks[0].__name__, reg)
        if key in seen:
            raise ValueError(
                f"{what} and {seen[key]!r} are both {decl.kind} hooks of "
                f"register {banks[0].__name__}.{reg}"
            )
        seen[key] = decl.attr
        _check_signature(owner, decl)


def _bank(bank_classes: Iterable[type[RegisterBank]], name: str) -> type[RegisterBank]:
    return next(b for b in bank_classes if b.__name__ == name)


def _names(bank: type[RegisterBank]) -> str:
    return ", ".join(r.name for r in bank._regs) or "no registers"


# --------------------------------------------------------------------------------------------
# Class-time checking


def _bits(lo: int, width: int) -> str:
    return f"bit {lo}" if width == 1 else f"bits {lo}..{lo + width - 1}"


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_fields(where: str, name: str, reg: Reg) -> tuple[FieldInfo, ...]:
    infos: list[FieldInfo] = []
    seen: set[str] = set()
    for f in reg.fields:
        if not isinstance(f, Field):
            raise ValueError(f"{where}: register {name!r} has a field that is not a Field: {f!r}")
        of = f"field {f.name!r} of register {name!r}"
        if not isinstance(f.name, str) or not _NAME_RE.match(f.name):
            raise ValueError(
                f"{where}: field name {f.name!r} of register {name!r} is not lower_snake "
                "(a-z, 0-9 and _, starting with a letter)"
            )
        if f.name in _VIEW_ATTRS:
            raise ValueError(
                f"{where}: field name {f.name!r} of register {name!r} is reserved "
                f"(RegView has .{f.name})"
            )
        if f.name in seen:
            raise ValueError(f"{where}: duplicate field name {f.name!r} in register {name!r}")
        seen.add(f.name)
        if not _is_int(f.bit) or f.bit < 0:
            raise ValueError(f"{where}: {of} has invalid bit {f.bit!r}")
        if not _is_int(f.width) or f.width < 1:
            raise ValueError(f"{where}: {of} has invalid width {f.width!r}")
        if f.bit + f.width > reg.width:
            raise ValueError(
                f"{where}: field {f.name!r} ({_bits(f.bit, f.width)}) is wider than "
                f"register {name!r} ({reg.width} bits)"
            )
        access = reg.access if f.access is None else f.access
        if not isinstance(access, Access):
            raise ValueError(
                f"{where}: {of} has invalid access mode {access!r} (expected {_ACCESS_NAMES})"
            )
        if not _is_int(f.reset):
            raise ValueError(f"{where}: {of} has a reset value that is not an int: {f.reset!r}")
        if not 0 <= f.reset < 1 << f.width:
            unit = "bit" if f.width == 1 else "bits"
            raise ValueError(
                f"{where}: {of} reset value {f.reset:#x} does not fit in {f.width} {unit}"
            )
        infos.append(FieldInfo(f.name, f.bit, f.width, access, f.reset, f.doc))
    infos.sort(key=lambda fi: fi.bit)
    for a, b in zip(infos, infos[1:], strict=False):
        if a.msb >= b.bit:
            raise ValueError(
                f"{where}: fields {a.name!r} ({_bits(a.bit, a.width)}) and {b.name!r} "
                f"({_bits(b.bit, b.width)}) of register {name!r} overlap"
            )
    return tuple(infos)


def _check_reg(where: str, name: str, reg: Reg, size: int) -> RegInfo:
    if not _NAME_RE.match(name):
        raise ValueError(
            f"{where}: register name {name!r} is not lower_snake "
            "(a-z, 0-9 and _, starting with a letter)"
        )
    if hasattr(RegisterBank, name):
        raise ValueError(f"{where}: register name {name!r} shadows RegisterBank.{name}")
    if not isinstance(reg.access, Access):
        raise ValueError(
            f"{where}: register {name!r} has invalid access mode {reg.access!r} "
            f"(expected {_ACCESS_NAMES})"
        )
    if reg.width not in _WIDTHS or not _is_int(reg.width):
        raise ValueError(
            f"{where}: register {name!r} has invalid width {reg.width!r} "
            "(expected 8, 16, 32 or 64 bits)"
        )
    if not _is_int(reg.offset) or reg.offset < 0:
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
    if not _is_int(reg.reset):
        raise ValueError(
            f"{where}: register {name!r} has a reset value that is not an int: {reg.reset!r}"
        )
    full = (1 << reg.width) - 1
    if not 0 <= reg.reset <= full:
        raise ValueError(
            f"{where}: register {name!r} reset value {reg.reset:#x} does not fit in "
            f"{reg.width} bits"
        )
    if not isinstance(reg.fields, tuple):
        raise ValueError(f"{where}: register {name!r} fields must be a tuple, got {reg.fields!r}")
    fields = _check_fields(where, name, reg)

    masks = dict.fromkeys(Access, 0)
    if fields:
        covered = 0
        for f in fields:
            masks[f.access] |= f.mask
            covered |= f.mask
        masks[Access.RSVD] |= full & ~covered
    else:
        masks[reg.access] = full
    reset = reg.reset
    for f in fields:
        mine = (reg.reset >> f.bit) & ((1 << f.width) - 1)
        if f.reset and mine and mine != f.reset:
            raise ValueError(
                f"{where}: register {name!r} reset value {reg.reset:#x} disagrees with the "
                f"reset value {f.reset:#x} of its field {f.name!r}"
            )
        reset |= f.reset << f.bit
    if reset & masks[Access.RSVD]:
        raise ValueError(
            f"{where}: register {name!r} reset value {reset:#x} sets reserved bits "
            f"{reset & masks[Access.RSVD]:#x}"
        )
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
    )


# Fast-path tables: {access size: {byte offset: entry}} for the accesses that fall inside one
# register. A read entry is (index, shift, mask): value = (stored >> shift) & mask. A write
# entry is (index, shift, keep, wmask): stored = (stored & keep) | ((value << shift) & wmask).
_ReadTable = dict[int, dict[int, tuple[int, int, int]]]
_WriteTable = dict[int, dict[int, tuple[int, int, int, int]]]


def _build_tables(regs: tuple[RegInfo, ...]) -> tuple[_ReadTable, _WriteTable]:
    rd: _ReadTable = {n: {} for n in _ACCESS_SIZES}
    wr: _WriteTable = {n: {} for n in _ACCESS_SIZES}
    for idx, r in enumerate(regs):
        for n in _ACCESS_SIZES:
            lane = (1 << (8 * n)) - 1
            for start in range(r.size - n + 1):
                shift = 8 * start
                if not r.rc_mask:
                    rd[n][r.offset + start] = (idx, shift, (r.read_mask >> shift) & lane)
                if not (r.w1c_mask or r.w1s_mask):
                    wmask = r.write_mask & (lane << shift)
                    wr[n][r.offset + start] = (idx, shift, r.mask & ~wmask, wmask)
    return rd, wr


# --------------------------------------------------------------------------------------------
# The bank


class RegisterBank:
    """Base class of register banks: subclass it and declare `Reg` class attributes.

    Class keywords:
        size: The bank's size in bytes (its MMIO region size). Inherited when omitted.
        valid_sizes: Access sizes in bytes the guest may use, a subset of (1, 2, 4, 8); the
            device passes them on to its MMIO ops, the bank itself accepts any size.

    Instances hold the stored value of each register and the hooks bound to their owner.

    Args:
        owner: The device whose `on_read`/`on_write`/`before_write` methods are the hooks, or
            ``None`` for a bank without behaviour.

    Raises:
        ValueError: When a subclass is created: any bad declaration (offset misaligned or out
            of the bank, overlapping registers or fields, a field beyond its register, duplicate
            or badly formed names, a reset value that does not fit, an invalid access mode or
            width). When an instance is created: a hook naming this bank
            (``"BankClass.reg"``) with a register it lacks, or two hooks of one kind on one
            register.
    """

    size: ClassVar[int] = 0
    valid_sizes: ClassVar[tuple[int, ...]] = _ACCESS_SIZES
    _regs: ClassVar[tuple[RegInfo, ...]] = ()
    _by_name: ClassVar[dict[str, int]] = {}
    _index_by_id: ClassVar[dict[int, int]] = {}
    _byte_map: ClassVar[dict[int, int]] = {}
    _resets: ClassVar[tuple[int, ...]] = ()
    _rd_table: ClassVar[_ReadTable] = {n: {} for n in _ACCESS_SIZES}
    _wr_table: ClassVar[_WriteTable] = {n: {} for n in _ACCESS_SIZES}

    __slots__ = ("owner", "_v", "_rd", "_wr", "_on_read", "_on_write", "_before_write")

    owner: object
    _v: list[int]
    _rd: _ReadTable
    _wr: _WriteTable
    _on_read: dict[int, _OnReadHook]
    _on_write: dict[int, _OnWriteHook]
    _before_write: dict[int, _BeforeWriteHook]

    def __init_subclass__(
        cls,
        *,
        size: int | None = None,
        valid_sizes: Iterable[int] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init_subclass__(**kwargs)
        where = cls.__name__
        if size is not None:
            if not _is_int(size) or size <= 0:
                raise ValueError(f"{where}: bank size must be a positive int, got {size!r}")
            cls.size = size
        if valid_sizes is not None:
            vs = tuple(valid_sizes)
            if not vs or any(not _is_int(n) or n not in _ACCESS_SIZES for n in vs):
                raise ValueError(
                    f"{where}: valid_sizes must be a non-empty subset of (1, 2, 4, 8), "
                    f"got {valid_sizes!r}"
                )
            cls.valid_sizes = tuple(sorted(set(vs)))

        declared: dict[str, Reg] = {}
        for klass in reversed(cls.__mro__):
            for name, val in vars(klass).items():
                if isinstance(val, Reg):
                    declared[name] = val
                else:
                    declared.pop(name, None)
        if declared and not cls.size:
            raise ValueError(
                f"{where}: a bank with registers needs a size: "
                f"class {where}(RegisterBank, size=0x...)"
            )
        infos = sorted(
            (_check_reg(where, name, reg, cls.size) for name, reg in declared.items()),
            key=lambda r: r.offset,
        )
        for a, b in zip(infos, infos[1:], strict=False):
            if a.offset + a.size > b.offset:
                raise ValueError(
                    f"{where}: registers {a.name!r} ({a.offset:#x}..{a.offset + a.size - 1:#x}) "
                    f"and {b.name!r} ({b.offset:#x}..{b.offset + b.size - 1:#x}) overlap"
                )
        cls._regs = tuple(infos)
        cls._by_name = {r.name: i for i, r in enumerate(infos)}
        cls._index_by_id = {id(declared[r.name]): i for i, r in enumerate(infos)}
        cls._byte_map = {r.offset + k: i for i, r in enumerate(infos) for k in range(r.size)}
        cls._resets = tuple(r.reset for r in infos)
        cls._rd_table, cls._wr_table = _build_tables(cls._regs)

    def __init__(self, owner: object = None) -> None:
        cls = type(self)
        self.owner = owner
        self._v = list(cls._resets)
        self._on_read = {}
        self._on_write = {}
        self._before_write = {}
        if owner is not None:
            self._bind_hooks(owner)
        # Registers with hooks leave the fast tables and take the general path.
        self._rd = cls._rd_table
        if self._on_read:
            no_rd = set(self._on_read)
            self._rd = {
                n: {o: e for o, e in t.items() if e[0] not in no_rd} for n, t in self._rd.items()
            }
        self._wr = cls._wr_table
        if self._on_write or self._before_write:
            no_wr = set(self._on_write) | set(self._before_write)
            self._wr = {
                n: {o: e for o, e in t.items() if e[0] not in no_wr} for n, t in self._wr.items()
            }

    def _bind_hooks(self, owner: object) -> None:
        cls = type(self)
        where = type(owner).__name__
        bound_by: dict[tuple[str, int], str] = {}
        for decl in _collect_hooks(type(owner)):
            bank_name, dot, reg = decl.target.rpartition(".")
            if dot and bank_name != cls.__name__:
                continue
            idx = cls._by_name.get(reg)
            if idx is None:
                if dot:
                    raise ValueError(
                        f"{where}: {decl.kind} hook {decl.attr!r} names unknown register "
                        f"{reg!r} ({cls.__name__} has: {_names(cls)})"
                    )
                continue  # another bank's register; validate_hooks checks those
            if (decl.kind, idx) in bound_by:
                raise ValueError(
                    f"{where}: {decl.kind} hook {decl.attr!r} and {bound_by[decl.kind, idx]!r} "
                    f"are both {decl.kind} hooks of register {cls.__name__}.{reg}"
                )
            bound_by[decl.kind, idx] = decl.attr
            method = getattr(owner, decl.attr)
            if decl.kind == _ON_READ:
                self._on_read[idx] = method
            elif decl.kind == _ON_WRITE:
                self._on_write[idx] = method
            else:
                self._before_write[idx] = method

    def __repr__(self) -> str:
        owner = "None" if self.owner is None else type(self.owner).__name__
        return f"<{type(self).__name__} size={self.size:#x} owner={owner}>"

    # ---- guest accesses ------------------------------------------------------------------

    def read(self, offset: int, size: int) -> int:
        """Perform a guest read.

        Args:
            offset: Byte offset in the bank.
            size: Access size in bytes (normally 1, 2, 4 or 8).

        Returns:
            The value read, little-endian; bytes that hit no register read as 0.

        Raises:
            ValueError: ``size`` is not positive.
        """
        try:
            idx, shift, mask = self._rd[size][offset]
        except KeyError:
            return self._read_slow(offset, size)[0]
        return (self._v[idx] >> shift) & mask

    def read_ex(self, offset: int, size: int) -> tuple[int, bool]:
        """Perform a guest read and say whether it hit a register.

        Args:
            offset: Byte offset in the bank.
            size: Access size in bytes.

        Returns:
            ``(value, hit)``: the value as `read` returns it, and whether any byte of the access
            fell on a register (``False`` means unmapped: the caller logs it as unimplemented).

        Raises:
            ValueError: ``size`` is not positive.
        """
        try:
            idx, shift, mask = self._rd[size][offset]
        except KeyError:
            return self._read_slow(offset, size)
        return (self._v[idx] >> shift) & mask, True

    def write(self, offset: int, value: int, size: int) -> None:
        """Perform a guest write.

        Args:
            offset: Byte offset in the bank.
            value: The value written, little-endian; bits beyond ``size`` bytes are ignored.
            size: Access size in bytes (normally 1, 2, 4 or 8).

        Raises:
            ValueError: ``size`` is not positive.
        """
        try:
            idx, shift, keep, wmask = self._wr[size][offset]
        except KeyError:
            self._write_slow(offset, value, size)
            return
        v = self._v
        v[idx] = (v[idx] & keep) | ((value << shift) & wmask)

    def write_ex(self, offset: int, value: int, size: int) -> bool:
        """Perform a guest write and say whether it hit a register.

        Args:
            offset: Byte offset in the bank.
            value: The value written, little-endian.
            size: Access size in bytes.

        Returns:
            Whether any byte of the access fell on a register (``False``: unmapped, ignored).

        Raises:
            ValueError: ``size`` is not positive.
        """
        try:
            idx, shift, keep, wmask = self._wr[size][offset]
        except KeyError:
            return self._write_slow(offset, value, size)
        v = self._v
        v[idx] = (v[idx] & keep) | ((value << shift) & wmask)
        return True

    def _spans(self, offset: int, size: int) -> list[tuple[int, int, int, int]]:
        """List (register index, register bit shift, access bit shift, bits) per register hit."""
        if not _is_int(size) or size <= 0:
            raise ValueError(f"access size must be a positive number of bytes, got {size!r}")
        cls = type(self)
        byte_map, regs = cls._byte_map, cls._regs
        spans: list[tuple[int, int, int, int]] = []
        pos, end = offset, offset + size
        while pos < end:
            idx = byte_map.get(pos)
            if idx is None:
                pos += 1
                continue
            r = regs[idx]
            stop = min(end, r.offset + r.size)
            spans.append((idx, 8 * (pos - r.offset), 8 * (pos - offset), 8 * (stop - pos)))
            pos = stop
        return spans

    def _read_slow(self, offset: int, size: int) -> tuple[int, bool]:
        # The general path: hooks, RC bits, accesses spanning registers or holes, odd sizes.
        cls = type(self)
        idx = cls._byte_map.get(offset)
        if idx is not None and size > 0:
            r = cls._regs[idx]
            if offset + size <= r.offset + r.size:  # inside one register
                return self._read_reg(r, idx, 8 * (offset - r.offset), 8 * size), True
        result, hit = 0, False
        for idx, rshift, ashift, nbits in self._spans(offset, size):
            hit = True
            result |= self._read_reg(cls._regs[idx], idx, rshift, nbits) << ashift
        return result, hit

    def _read_reg(self, r: RegInfo, idx: int, rshift: int, nbits: int) -> int:
        v = self._v
        value = v[idx] & r.read_mask
        hook = self._on_read.get(idx)
        if hook is not None:
            value = hook(value) & r.mask
        clear = r.rc_mask & (((1 << nbits) - 1) << rshift)
        if clear:
            v[idx] &= ~clear
        return (value >> rshift) & ((1 << nbits) - 1)

    def _write_slow(self, offset: int, value: int, size: int) -> bool:
        cls = type(self)
        idx = cls._byte_map.get(offset)
        if idx is not None and size > 0:
            r = cls._regs[idx]
            if offset + size <= r.offset + r.size:  # inside one register
                self._write_reg(r, idx, 8 * (offset - r.offset), 8 * size, value)
                return True
        hit = False
        for idx, rshift, ashift, nbits in self._spans(offset, size):
            hit = True
            self._write_reg(cls._regs[idx], idx, rshift, nbits, value >> ashift)
        return hit

    def _write_reg(self, r: RegInfo, idx: int, rshift: int, nbits: int, value: int) -> None:
        v = self._v
        lane = ((1 << nbits) - 1) << rshift
        data = (value << rshift) & lane
        old = v[idx]
        wmask = r.write_mask & lane
        new = (old & ~wmask) | (data & wmask)
        new &= ~(data & r.w1c_mask)
        new |= data & r.w1s_mask
        pre = self._before_write.get(idx)
        if pre is not None:
            changed = pre(old, new)
            if changed is None:
                return
            new = changed & r.mask & ~r.rsvd_mask
        v[idx] = new
        post = self._on_write.get(idx)
        if post is not None:
            post(old, new)

    # ---- device-side and monitor access --------------------------------------------------

    def reset(self) -> None:
        """Set every register to its reset value (no hooks run)."""
        self._v[:] = type(self)._resets

    def _index(self, name: str) -> int:
        try:
            return type(self)._by_name[name]
        except KeyError:
            raise KeyError(
                f"{type(self).__name__} has no register {name!r} (it has: {_names(type(self))})"
            ) from None

    def peek(self, name: str) -> int:
        """Return a register's stored value with no side effect.

        No RC clearing and no hooks; WO bits are included (the guest would read them as 0).

        Args:
            name: Register name.

        Returns:
            The stored value.

        Raises:
            KeyError: No register has that name.
        """
        return self._v[self._index(name)]

    def poke(self, name: str, value: int) -> None:
        """Store a register value from the device side, bypassing access modes and hooks.

        Reserved bits are dropped, so they keep reading as 0.

        Args:
            name: Register name.
            value: New stored value.

        Raises:
            KeyError: No register has that name.
            ValueError: ``value`` is negative or wider than the register.
        """
        idx = self._index(name)
        r = type(self)._regs[idx]
        if not 0 <= value <= r.mask:
            raise ValueError(f"value {value:#x} does not fit register {name!r} ({r.width} bits)")
        self._v[idx] = value & ~r.rsvd_mask

    def _field(self, reg: str, field: str) -> tuple[int, FieldInfo]:
        idx = self._index(reg)
        return idx, type(self)._regs[idx].field(field)

    def field(self, reg: str, field: str) -> int:
        """Return a field of a register's stored value, with no side effect.

        Args:
            reg: Register name.
            field: Field name.

        Returns:
            The field value, shifted down to bit 0.

        Raises:
            KeyError: No such register or field.
        """
        idx, f = self._field(reg, field)
        return (self._v[idx] >> f.bit) & ((1 << f.width) - 1)

    def set_field(self, reg: str, field: str, value: int) -> None:
        """Store a field from the device side, bypassing access modes and hooks.

        Args:
            reg: Register name.
            field: Field name.
            value: New field value, unshifted. Writing a reserved field has no effect.

        Raises:
            KeyError: No such register or field.
            ValueError: ``value`` is negative or wider than the field.
        """
        idx, f = self._field(reg, field)
        if not 0 <= value < 1 << f.width:
            unit = "bit" if f.width == 1 else "bits"
            raise ValueError(
                f"value {value:#x} does not fit field {reg}.{field} ({f.width} {unit})"
            )
        r = type(self)._regs[idx]
        self._v[idx] = ((self._v[idx] & ~f.mask) | (value << f.bit)) & ~r.rsvd_mask

    def snapshot(self) -> dict[str, int]:
        """Return every register's stored value, by name (for savevm); no side effects.

        Returns:
            ``{register name: stored value}`` in offset order.
        """
        return {r.name: v for r, v in zip(type(self)._regs, self._v, strict=True)}

    def restore(self, state: Mapping[str, int]) -> None:
        """Load stored values saved by `snapshot` (for loadvm); no hooks run.

        Registers missing from ``state`` keep their value.

        Args:
            state: ``{register name: stored value}``.

        Raises:
            KeyError: ``state`` names a register this bank lacks.
            ValueError: A value does not fit its register.
        """
        for name, value in state.items():
            self.poke(name, value)

    # ---- introspection (also usable on the class) ----------------------------------------

    @classmethod
    def registers(cls) -> tuple[RegInfo, ...]:
        """Return the bank's registers ordered by offset.

        Returns:
            One `RegInfo` per register.
        """
        return cls._regs

    @classmethod
    def lookup(cls, name_or_offset: str | int) -> RegInfo | None:
        """Find a register by name (case-insensitive) or by any byte offset it covers.

        Args:
            name_or_offset: A register name, or a byte offset in the bank.

        Returns:
            The register, or ``None`` if there is none.
        """
        if isinstance(name_or_offset, str):
            idx = cls._by_name.get(name_or_offset.lower())
        else:
            idx = cls._byte_map.get(name_or_offset)
        return None if idx is None else cls._regs[idx]

    @classmethod
    def decode(cls, name: str, value: int) -> list[tuple[str, int]]:
        """Split a register value into its fields.

        Args:
            name: Register name.
            value: A value of that register (for example from `peek`).

        Returns:
            ``[(field name, field value), ...]`` in bit order; empty for a register without
            fields.

        Raises:
            KeyError: No register has that name.
        """
        idx = cls._by_name.get(name)
        if idx is None:
            raise KeyError(f"{cls.__name__} has no register {name!r} (it has: {_names(cls)})")
        return [(f.name, (value >> f.bit) & ((1 << f.width) - 1)) for f in cls._regs[idx].fields]


class RegView:
    """A register of one bank instance, as ``bank.<register>`` gives it.

    ``view.value`` reads (peek) and assigns (poke) the stored value; ``view.<field>`` reads and
    assigns a field (`RegisterBank.field`/`RegisterBank.set_field`). None of these run hooks or
    apply access modes: they are for the device model, not the guest.

    Args:
        bank: The bank instance.
        index: The register's position in ``bank.registers()``.
    """

    __slots__ = ("_bank", "_index")

    _bank: RegisterBank
    _index: int

    def __init__(self, bank: RegisterBank, index: int) -> None:
        object.__setattr__(self, "_bank", bank)
        object.__setattr__(self, "_index", index)

    @property
    def info(self) -> RegInfo:
        """The register's declaration."""
        return type(self._bank)._regs[self._index]

    @property
    def name(self) -> str:
        """The register's name."""
        return self.info.name

    @property
    def value(self) -> int:
        """The stored value (no side effects); assigning it pokes."""
        return self._bank._v[self._index]

    @value.setter
    def value(self, value: int) -> None:
        self._bank.poke(self.info.name, value)

    def __getattr__(self, name: str) -> int:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            f = self.info.field(name)
        except KeyError as e:
            raise AttributeError(e.args[0]) from None
        return (self._bank._v[self._index] >> f.bit) & ((1 << f.width) - 1)

    def __setattr__(self, name: str, value: int) -> None:
        if name == "value":
            object.__setattr__(self, name, value)
            return
        if name.startswith("_") or name in _VIEW_ATTRS:
            raise AttributeError(f"cannot set {name!r} on a register view")
        try:
            self.info.field(name)
        except KeyError as e:
            raise AttributeError(e.args[0]) from None
        self._bank.set_field(self.info.name, name, value)

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        r = self.info
        return f"<{type(self._bank).__name__}.{r.name} @{r.offset:#x} = {self.value:#x}>"
