"""The register bank base class: guest accesses, device-side access and introspection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from dmamon.devices.regs.check import (
    ACCESS_SIZES,
    ReadTable,
    WriteTable,
    build_tables,
    check_reg,
    is_int,
)
from dmamon.devices.regs.decl import FieldInfo, Reg, RegInfo
from dmamon.devices.regs.hooks import (
    ON_READ,
    ON_WRITE,
    BeforeWriteHook,
    OnReadHook,
    OnWriteHook,
    collect_hooks,
)

__all__ = ["RegisterBank", "bank_names"]


def bank_names(bank: type[RegisterBank]) -> str:
    """The bank's register names, for error messages."""
    return ", ".join(r.name for r in bank._regs) or "no registers"


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
    valid_sizes: ClassVar[tuple[int, ...]] = ACCESS_SIZES
    _regs: ClassVar[tuple[RegInfo, ...]] = ()
    _by_name: ClassVar[dict[str, int]] = {}
    _index_by_id: ClassVar[dict[int, int]] = {}
    _byte_map: ClassVar[dict[int, int]] = {}
    _resets: ClassVar[tuple[int, ...]] = ()
    _rd_table: ClassVar[ReadTable] = {n: {} for n in ACCESS_SIZES}
    _wr_table: ClassVar[WriteTable] = {n: {} for n in ACCESS_SIZES}

    __slots__ = ("owner", "_v", "_rd", "_wr", "_on_read", "_on_write", "_before_write")

    owner: object
    _v: list[int]
    _rd: ReadTable
    _wr: WriteTable
    _on_read: dict[int, OnReadHook]
    _on_write: dict[int, OnWriteHook]
    _before_write: dict[int, BeforeWriteHook]

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
            if not is_int(size) or size <= 0:
                raise ValueError(f"{where}: bank size must be a positive int, got {size!r}")
            cls.size = size
        if valid_sizes is not None:
            vs = tuple(valid_sizes)
            if not vs or any(not is_int(n) or n not in ACCESS_SIZES for n in vs):
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
            (check_reg(where, name, reg, cls.size, RegisterBank) for name, reg in declared.items()),
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
        cls._rd_table, cls._wr_table = build_tables(cls._regs)

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
        for decl in collect_hooks(type(owner)):
            bank_name, dot, reg = decl.target.rpartition(".")
            if dot and bank_name != cls.__name__:
                continue
            idx = cls._by_name.get(reg)
            if idx is None:
                if dot:
                    raise ValueError(
                        f"{where}: {decl.kind} hook {decl.attr!r} names unknown register "
                        f"{reg!r} ({cls.__name__} has: {bank_names(cls)})"
                    )
                continue  # another bank's register; validate_hooks checks those
            if (decl.kind, idx) in bound_by:
                raise ValueError(
                    f"{where}: {decl.kind} hook {decl.attr!r} and {bound_by[decl.kind, idx]!r} "
                    f"are both {decl.kind} hooks of register {cls.__name__}.{reg}"
                )
            bound_by[decl.kind, idx] = decl.attr
            method = getattr(owner, decl.attr)
            if decl.kind == ON_READ:
                self._on_read[idx] = method
            elif decl.kind == ON_WRITE:
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
        if not is_int(size) or size <= 0:
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
        if data & r.unimp_mask:
            self._log_unimp(r, data)
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

    def _log_unimp(self, r: RegInfo, data: int) -> None:
        """Tell the owner a guest write set bits of a field the model leaves out."""
        log = getattr(self.owner, "unimp", None)
        if not callable(log):
            return
        who = getattr(self.owner, "name", type(self.owner).__name__)
        for f in r.fields:
            v = (data >> f.bit) & ((1 << f.width) - 1)
            if f.unimp and v:
                log(f"{who}: {r.name}.{f.name} = {v:#x} written (not modelled)")

    # ---- device-side and monitor access --------------------------------------------------

    def reset(self) -> None:
        """Set every register to its reset value (no hooks run)."""
        self._v[:] = type(self)._resets

    def _index(self, name: str) -> int:
        try:
            return type(self)._by_name[name]
        except KeyError:
            raise KeyError(
                f"{type(self).__name__} has no register {name!r} (it has: {bank_names(type(self))})"
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
            raise KeyError(f"{cls.__name__} has no register {name!r} (it has: {bank_names(cls)})")
        return [(f.name, (value >> f.bit) & ((1 << f.width) - 1)) for f in cls._regs[idx].fields]
