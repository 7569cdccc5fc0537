"""Checking an owner class's register hooks against the banks it uses."""

from __future__ import annotations

from collections.abc import Iterable

from dmamon.devices.regs.bank import RegisterBank, bank_names
from dmamon.devices.regs.hooks import check_signature, collect_hooks

__all__ = ["validate_hooks"]


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
    for decl in collect_hooks(owner_cls):
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
                    f"({bank_name} has: {bank_names(_bank(bank_classes, bank_name))})"
                )
        else:
            banks = [b for b in bank_classes if reg in b._by_name]
            if not banks:
                have = "; ".join(f"{b.__name__} has: {bank_names(b)}" for b in bank_classes)
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
        check_signature(owner, decl)


def _bank(bank_classes: Iterable[type[RegisterBank]], name: str) -> type[RegisterBank]:
    return next(b for b in bank_classes if b.__name__ == name)
