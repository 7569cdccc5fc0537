"""QEMU's JSON writer (``qobject/json-writer.c``) with ``QDict`` member order."""

from __future__ import annotations

import re
from typing import Final

from dmamon.qmp.base import JsonValue
from dmamon.qmp.ghash import qdict_order

__all__ = [
    "encode_json",
    "line",
]

# -- writer (qobject/json-writer.c + QDict iteration order) --------------------------------

_PLAIN_RE: Final = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_SPECIAL_RE: Final = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_NAMED: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    cp = ord(ch)
    if 0xD800 <= cp <= 0xDFFF:
        cp = 0xFFFD  # the writer replaces what it cannot decode
    if cp > 0xFFFF:
        cp -= 0x10000
        return f"\\u{0xD800 + (cp >> 10):04X}\\u{0xDC00 + (cp & 0x3FF):04X}"
    return f"\\u{cp:04X}"


def _quote(s: str) -> str:
    if _PLAIN_RE.fullmatch(s):
        return f'"{s}"'
    return '"' + _SPECIAL_RE.sub(_escape_char, s) + '"'


class _Raw(str):
    """Literal output text on the encoder's stack."""

    __slots__ = ()


def encode_json(value: JsonValue) -> str:
    """Serialise as QEMU 7.2's QMP output does: compact, ``", "``/``": "`` separators,
    ``QDict`` member order, ``\\uXXXX`` (upper case) for control and non-ASCII characters,
    doubles with ``%.17g``.

    Dict keys are taken in insertion order as QEMU's insertion order; build dicts in QAPI
    schema order to reproduce QEMU's bytes.

    Args:
        value: dict, list, tuple, str, int, float, bool or None (nested arbitrarily deep).

    Returns:
        One line of JSON, without the line end.

    Raises:
        TypeError: a value of another type.
    """
    out: list[str] = []
    stack: list[object] = [value]
    while stack:
        v = stack.pop()
        if type(v) is _Raw:
            out.append(v)
        elif isinstance(v, dict):
            _push_dict(v, stack, out)
        elif isinstance(v, list | tuple):
            _push_list(v, stack, out)
        else:
            out.append(_scalar(v))
    return "".join(out)


def _scalar(v: object) -> str:
    if isinstance(v, str):
        return _quote(v)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "%.17g" % v  # noqa: UP031 - QEMU's format, not Python's repr
    raise TypeError(f"cannot encode {type(v).__name__} as QMP JSON")


def _push_dict(v: dict[str, object], stack: list[object], out: list[str]) -> None:
    """Members go on the stack in reverse, so they pop in QDict order."""
    if not v:
        out.append("{}")
        return
    keys = qdict_order(v)
    stack.append(_Raw("}"))
    for j in range(len(keys) - 1, -1, -1):
        k = keys[j]
        stack.append(v[k])
        stack.append(_Raw(_quote(k) + ": "))
        if j:
            stack.append(_Raw(", "))
    stack.append(_Raw("{"))


def _push_list(v: list[object] | tuple[object, ...], stack: list[object], out: list[str]) -> None:
    if not v:
        out.append("[]")
        return
    stack.append(_Raw("]"))
    for j in range(len(v) - 1, -1, -1):
        stack.append(v[j])
        if j:
            stack.append(_Raw(", "))
    stack.append(_Raw("["))


def line(value: JsonValue) -> bytes:
    """One reply or event as sent: JSON, CRLF, ASCII."""
    return (encode_json(value) + "\r\n").encode("ascii")
