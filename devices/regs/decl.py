"""Register and field declarations, and the checked records a bank reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Never, overload

from dmamon.devices.regs.access import Access
from dmamon.devices.regs.view import RegView

if TYPE_CHECKING:
    from dmamon.devices.regs.bank import RegisterBank

__all__ = ["Field", "FieldInfo", "Reg", "RegInfo"]


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
        unimp: The model does not implement what the field does: guest writes that set it
            are logged under ``unimp`` (QEMU's LOG_UNIMP, Renode's tagged fields), so a lite
            model shows what it leaves out. The bits are stored as usual.

    The declaration is checked when the `RegisterBank` subclass that uses it is created.
    """

    name: str
    bit: int
    width: int = 1
    access: Access | None = None
    reset: int = 0
    doc: str = ""
    unimp: bool = False


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
        unimp: Declared as not implemented by the model.
    """

    name: str
    bit: int
    width: int
    access: Access
    reset: int
    doc: str
    unimp: bool = False

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
        unimp_mask: Bits of fields declared ``unimp`` (guest writes setting them are logged).
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
    unimp_mask: int = 0

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
