"""QEMU's JSON parser (``qobject/json-parser.c``): one message's tokens to a value.

Iterative, so deep nesting cannot exhaust the Python stack.
"""

from __future__ import annotations

import re
from typing import Final

from dmamon.qmp.base import JsonValue

# Token types (qobject/json-parser-int.h JSONTokenType).
_LCURLY, _RCURLY, _LSQUARE, _RSQUARE, _COLON, _COMMA = range(6)
_INTEGER, _FLOAT, _KEYWORD, _STRING = range(6, 10)
_STRUCTURAL: Final = {
    0x7B: _LCURLY,
    0x7D: _RCURLY,
    0x5B: _LSQUARE,
    0x5D: _RSQUARE,
    0x3A: _COLON,
    0x2C: _COMMA,
}

_Token = tuple[int, bytes]

_U64: Final = (1 << 64) - 1
_I64_MIN: Final = -(1 << 63)
_I64_MAX: Final = (1 << 63) - 1


class _ParseError(Exception):
    pass


class _Frame:
    __slots__ = ("container", "key", "want_key")

    def __init__(self, container: dict[str, JsonValue] | list[JsonValue]) -> None:
        self.container = container
        self.key = ""
        self.want_key = True


_OPEN: Final = object()  # _scalar's answer for "a container was opened"


def _scalar(tokens: list[_Token], pos: int, stack: list[_Frame]) -> tuple[JsonValue, int]:
    """json-parser.c parse_value at ``pos``: the value and the position after it, or
    ``_OPEN`` when a non-empty container starts (its frame is pushed on ``stack``)."""
    n = len(tokens)
    if pos >= n:
        raise _ParseError("premature EOI")
    ttype, text = tokens[pos]
    pos += 1
    if ttype in (_LCURLY, _LSQUARE):
        if pos >= n:
            raise _ParseError("premature EOI")
        if tokens[pos][0] == (_RCURLY if ttype == _LCURLY else _RSQUARE):
            return ({} if ttype == _LCURLY else []), pos + 1
        stack.append(_Frame({} if ttype == _LCURLY else []))
        return _OPEN, pos
    if ttype == _STRING:
        return _parse_string(text), pos
    if ttype == _INTEGER:
        iv = int(text)
        if _I64_MIN <= iv <= _U64 and (iv <= _I64_MAX or text[0] != 0x2D):
            return iv, pos
        return float(text), pos  # QEMU falls back to strtod
    if ttype == _FLOAT:
        return float(text), pos
    if ttype == _KEYWORD:
        if text not in _KEYWORDS:
            raise _ParseError(f"invalid keyword '{text.decode('ascii')}'")
        return _KEYWORDS[text], pos
    raise _ParseError("expecting value")


_KEYWORDS: Final[dict[bytes, JsonValue]] = {b"true": True, b"false": False, b"null": None}


def _next(tokens: list[_Token], pos: int) -> int:
    if pos >= len(tokens):
        raise _ParseError("premature EOI")
    return tokens[pos][0]


def _attach(
    tokens: list[_Token], pos: int, stack: list[_Frame], value: JsonValue
) -> tuple[int, JsonValue]:
    """Hand ``value`` to the innermost open container and read the separator after it.

    Returns the position after the separator (containers it closes are popped) and, once
    the outermost container has closed (``stack`` empty), the whole message's value.
    """
    while stack:
        f = stack[-1]
        c = f.container
        if isinstance(c, list):
            c.append(value)
            t = _next(tokens, pos)
            pos += 1
            if t == _RSQUARE:
                stack.pop()
                value = c
                continue
            if t != _COMMA:
                raise _ParseError("expected separator in list")
            return pos, None
        if f.want_key:
            if not isinstance(value, str):
                raise _ParseError("key is not a string in object")
            f.key = value
            if _next(tokens, pos) != _COLON:
                raise _ParseError("missing : in object pair")
            f.want_key = False
            return pos + 1, None
        if f.key in c:
            raise _ParseError("duplicate key")
        c[f.key] = value
        t = _next(tokens, pos)
        pos += 1
        if t == _RCURLY:
            stack.pop()
            value = c
            continue
        if t != _COMMA:
            raise _ParseError("expected separator in dict")
        _next(tokens, pos)  # a comma must be followed by something
        f.want_key = True
        return pos, None
    return pos, value


def _parse(tokens: list[_Token]) -> JsonValue:
    """Parse one message's tokens; raises _ParseError with json-parser.c's wording."""
    pos = 0
    stack: list[_Frame] = []
    while True:
        value, pos = _scalar(tokens, pos, stack)
        if value is _OPEN:
            continue
        if not stack:
            return value
        pos, value = _attach(tokens, pos, stack, value)
        if not stack:
            return value


_ESCAPES: Final = {
    0x22: '"',
    0x27: "'",
    0x5C: "\\",
    0x2F: "/",
    0x62: "\b",
    0x66: "\f",
    0x6E: "\n",
    0x72: "\r",
    0x74: "\t",
}
_HEX4_RE: Final = re.compile(rb"[0-9a-fA-F]{4}")


def _valid_codepoint(cp: int) -> bool:
    # util/unicode.c is_valid_codepoint: no surrogates, no noncharacters, <= U+10FFFF.
    return 0 <= cp <= 0x10FFFF and not (
        0xD800 <= cp <= 0xDFFF or 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE
    )


_MIN_CP: Final = (0x80, 0x800, 0x10000, 0x200000, 0x4000000)


def _c_text(raw: bytes) -> str:
    """Raw input bytes quoted in a message, as QEMU shows them: the C string ends at a NUL,
    and the writer turns each invalid sequence (util/unicode.c mod_utf8_codepoint) into
    one U+FFFD."""
    raw = raw.split(b"\0", 1)[0]
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if s.isascii() or all(_valid_codepoint(ord(c)) for c in s):
            return s
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        i += 1
        if b < 0x80:
            out.append(chr(b))
            continue
        cp = -1
        if b < 0xFE and b & 0x40:
            length = 0
            mask = 0x80
            while b & mask:
                length += 1
                mask >>= 1
            cp = b & (mask - 1)
            for _ in range(length - 1):
                if i >= n or raw[i] & 0xC0 != 0x80:
                    cp = -1
                    break
                cp = (cp << 6) | (raw[i] & 0x3F)
                i += 1
            else:
                if not _valid_codepoint(cp) or (
                    cp < _MIN_CP[length - 2] and not (cp == 0 and length == 2)
                ):
                    cp = -1
        out.append(chr(cp) if cp >= 0 else "\ufffd")
    return "".join(out)


def _decode_raw(raw: bytes) -> str:
    """Modified UTF-8 (C0 80 is NUL) as json-parser.c accepts it."""
    try:
        s = "\0".join(part.decode("utf-8") for part in raw.split(b"\xc0\x80"))
    except UnicodeDecodeError:
        raise _ParseError("invalid UTF-8 sequence in string") from None
    if not s.isascii() and not all(_valid_codepoint(ord(ch)) for ch in s):
        raise _ParseError("invalid UTF-8 sequence in string")
    return s


def _parse_string(tok: bytes) -> str:
    """Decode a string token, quotes included (json-parser.c parse_string)."""
    body = tok[1:-1]
    if b"\\" not in body:
        return body.decode("ascii") if body.isascii() else _decode_raw(body)
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        j = body.find(b"\\", i)
        if j < 0:
            out.append(_decode_raw(body[i:]))
            break
        if j > i:
            out.append(_decode_raw(body[i:j]))
        esc = body[j + 1]  # the lexer guarantees a byte after a backslash
        if esc != 0x75:
            ch = _ESCAPES.get(esc)
            if ch is None:
                raise _ParseError("invalid escape sequence in string")
            out.append(ch)
            i = j + 2
            continue
        cp = _hex4(body, j + 2)
        end = j + 6
        if 0xD800 <= cp <= 0xDBFF and body[end : end + 2] == b"\\u":
            trail = _hex4(body, end + 2)
            if 0xDC00 <= trail <= 0xDFFF:
                cp = 0x10000 + ((cp & 0x3FF) << 10) + (trail & 0x3FF)
                end += 6
            else:
                cp = -1
        if not _valid_codepoint(cp):
            # The message quotes the escape as far as the parser read it, up to the
            # token's end (the closing quote counts; the C string's NUL stops it).
            shown = _c_text(tok[j + 1 : j + 1 + (end - j)])
            raise _ParseError(f"{shown} is not a valid Unicode character")
        out.append(chr(cp))
        i = end
    return "".join(out)


def _hex4(body: bytes, at: int) -> int:
    m = _HEX4_RE.fullmatch(body, at, at + 4)
    return int(m.group(), 16) if m else -1
