"""Argument checking as QEMU's QAPI input visitor does it (``qapi/qobject-input-visitor.c``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dmamon.qmp.base import JsonValue, QmpError
from dmamon.qmp.ghash import GHashSet, qdict_order

__all__ = [
    "Param",
    "marshal",
]

_U64: Final = (1 << 64) - 1
_I64_MIN: Final = -(1 << 63)
_I64_MAX: Final = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class Param:
    """One command argument: name, QAPI type, optional or not.

    Types: ``str``, ``int`` (int64), ``uint64``, ``bool``, ``enum`` (``choices``), and
    ``caps`` (a list of QMPCapability).
    """

    name: str
    kind: str
    optional: bool = False
    choices: tuple[str, ...] = ()


def _type_error(name: str, expected: str) -> QmpError:
    return QmpError(f"Invalid parameter type for '{name}', expected: {expected}")


def _coerce(p: Param, v: JsonValue) -> object:
    """One member as the QAPI input visitor checks it."""
    kind = p.kind
    if kind == "str":
        if not isinstance(v, str):
            raise _type_error(p.name, "string")
        return v
    if kind == "bool":
        if not isinstance(v, bool):
            raise _type_error(p.name, "boolean")
        return v
    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, int) or not _I64_MIN <= v <= _I64_MAX:
            raise _type_error(p.name, "integer")
        return v
    if kind == "uint64":
        # qobject_input_type_uint64 also takes negative int64 values, wrapping them.
        if isinstance(v, bool) or not isinstance(v, int) or not _I64_MIN <= v <= _U64:
            raise QmpError(f"Parameter '{p.name}' expects uint64")
        return v & _U64
    if kind == "enum":
        if not isinstance(v, str):
            raise _type_error(p.name, "string")
        if v not in p.choices:
            raise QmpError(f"Parameter '{p.name}' does not accept value '{v}'")
        return v
    if kind == "caps":
        if not isinstance(v, list):
            raise _type_error(p.name, "array")
        for i, item in enumerate(v):
            if not isinstance(item, str):
                raise _type_error(f"{p.name}[{i}]", "string")
            if item != "oob":
                # list elements are visited without a name: QEMU prints 'null'
                raise QmpError(f"Parameter 'null' does not accept value '{item}'")
        return list(v)
    raise AssertionError(f"unknown parameter kind {kind!r}")


def marshal(params: tuple[Param, ...], args: dict[str, JsonValue]) -> dict[str, object]:
    """Check ``args`` against ``params`` in QEMU's order: members in schema order (first
    missing or mistyped member wins), then the first unexpected member in glib hash order."""
    out: dict[str, object] = {}
    for p in params:
        if p.name not in args:
            if not p.optional:
                raise QmpError(f"Parameter '{p.name}' is missing")
            continue
        out[p.name] = _coerce(p, args[p.name])
    if len(out) < len(args):
        table = GHashSet()
        for k in qdict_order(args):
            table.insert(k)
        for p in params:
            if p.name in args:
                table.remove(p.name)
        raise QmpError(f"Parameter '{table.first()}' is unexpected")
    return out
