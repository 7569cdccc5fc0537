"""Render any device's typed records (frozen dataclasses from ``Device.info()``) as text and
as JSON, from the same walk over :func:`dataclasses.fields`, so the two cannot disagree.

Text is one ``name: value`` line per field, nested records and lists indented by two
spaces. A field whose metadata has ``{"fmt": "hex"}`` prints as ``0x...`` (JSON keeps the
number); enums print their name; bytes print as hex; None prints as ``-`` (JSON ``null``).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

__all__ = ["record_data", "record_lines"]


def record_data(value: object) -> object:
    """``value`` as JSON-ready data: records become dicts in field order."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: record_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): record_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [record_data(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return value


def _scalar(value: object, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes | bytearray):
        return value.hex() or "(empty)"
    if isinstance(value, int) and fmt == "hex":
        return f"{value:#x}"
    return str(value)


def _is_nested(value: object) -> bool:
    is_record = dataclasses.is_dataclass(value) and not isinstance(value, type)
    return is_record or isinstance(value, Mapping | list | tuple)


def _entries(value: object) -> list[tuple[str, object, str]]:
    """(label, value, fmt) of a record's fields, a mapping's items or a list's elements."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            (f.name, getattr(value, f.name), str(f.metadata.get("fmt", "")))
            for f in dataclasses.fields(value)
        ]
    if isinstance(value, Mapping):
        return [(str(k), v, "") for k, v in value.items()]
    assert isinstance(value, list | tuple)
    return [(f"[{i}]", v, "") for i, v in enumerate(value)]


def record_lines(value: object, indent: str = "") -> list[str]:
    """The text lines of ``value`` (a record, a mapping or a list of them)."""
    if not _is_nested(value):
        return [indent + _scalar(value, "")]
    out: list[str] = []
    for label, item, fmt in _entries(value):
        if _is_nested(item):
            empty = not _entries(item)
            out.append(f"{indent}{label}:{' (none)' if empty else ''}")
            out += record_lines(item, indent + "  ")
        else:
            out.append(f"{indent}{label}: {_scalar(item, fmt)}")
    return out
