"""Hook decorators that attach owner methods to registers, and their discovery."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import FunctionType
from typing import Final, Never, TypeVar

__all__ = [
    "HookDecl",
    "before_write",
    "check_signature",
    "collect_hooks",
    "on_read",
    "on_write",
]

_HOOK_ATTR: Final = "__dmamon_reg_hooks__"
ON_READ: Final = "on_read"
ON_WRITE: Final = "on_write"
BEFORE_WRITE: Final = "before_write"
_HOOK_PARAMS: Final = {
    ON_READ: "(self, value)",
    ON_WRITE: "(self, old, new)",
    BEFORE_WRITE: "(self, old, new)",
}

OnReadHook = Callable[[int], int]
OnWriteHook = Callable[[int, int], None]
BeforeWriteHook = Callable[[int, int], int | None]

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
    return _mark(ON_READ, reg)


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
    return _mark(ON_WRITE, reg)


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
    return _mark(BEFORE_WRITE, reg)


@dataclass(frozen=True, slots=True)
class HookDecl:
    kind: str
    target: str
    attr: str
    func: FunctionType


def collect_hooks(owner_cls: type) -> list[HookDecl]:
    """Find the hook-marked methods visible on ``owner_cls`` (subclasses override by name)."""
    attrs: dict[str, object] = {}
    for klass in reversed(owner_cls.__mro__):
        attrs.update(vars(klass))
    decls: list[HookDecl] = []
    for attr, val in attrs.items():
        if isinstance(val, FunctionType):
            marks: tuple[tuple[str, str], ...] = getattr(val, _HOOK_ATTR, ())
            for kind, target in marks:
                decls.append(HookDecl(kind, target, attr, val))
    return decls


def check_signature(owner_name: str, decl: HookDecl) -> None:
    sig = inspect.signature(decl.func)
    try:
        if decl.kind == ON_READ:
            sig.bind(None, 0)
        else:
            sig.bind(None, 0, 0)
    except TypeError:
        raise ValueError(
            f"{owner_name}: {decl.kind} hook {decl.attr!r} must take {_HOOK_PARAMS[decl.kind]}, "
            f"not {decl.attr}{sig}"
        ) from None
