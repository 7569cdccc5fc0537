"""``bank.<register>``: one register of one bank instance, for the device model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from dmamon.devices.regs.bank import RegisterBank
    from dmamon.devices.regs.decl import RegInfo

__all__ = ["RegView"]

# Names a field may not take: the view has them as attributes (checked at class time).
VIEW_ATTRS: Final = frozenset({"value", "name", "info"})


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
        if name.startswith("_") or name in VIEW_ATTRS:
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
