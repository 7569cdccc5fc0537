"""qtest numbers as QEMU parses them (``qemu_strtou64``/``qemu_strtoi64``/``qemu_strtoi``,
``util/cutils.c``), and the check that lets a whole chunk of lines use ``int()``."""

from __future__ import annotations

from dmamon.qtest.base import _U64, _BadNumber

__all__ = ["parse_u64"]

_CSPACE = " \t\n\v\f\r"  # C isspace() in the "C" locale
_HEX = frozenset("0123456789abcdefABCDEF")
_OCT = frozenset("01234567")
_DEC = frozenset("0123456789")


def _u64(w: str) -> int:
    if w.isascii() and w.isalnum():  # the common spellings: 4096, 0x1000, 010
        try:
            if w[0] != "0":
                v = int(w)
            elif len(w) > 2 and w[1] in "xX":
                v = int(w, 16)
            elif len(w) > 1:
                if not _OCT.issuperset(w[1:]):
                    # int(..., 8) also takes a "0o" prefix; strtoull stops at the "o"
                    raise _BadNumber(w, "is not a number")
                v = int(w[1:], 8)
            else:
                return 0
        except ValueError:
            raise _BadNumber(w, "is not a number") from None
        if v > _U64:
            raise _BadNumber(w, "is out of range")
        return v
    return _strto(w, 0, _U64, True)


def _strto(w: str, lo: int, hi: int, wrap: bool) -> int:
    """C ``strtoull``/``strtoll`` base 0 over the whole word (QEMU rejects trailing text)."""
    if not w:
        raise _BadNumber(w, "is empty (two spaces in a row?)")
    s = w.lstrip(_CSPACE)
    neg = s[:1] == "-"
    if s[:1] in ("+", "-"):
        s = s[1:]
    if len(s) > 2 and s[0] == "0" and s[1] in "xX" and s[2] in _HEX:
        digits, base, ok = s[2:], 16, _HEX
    elif s[:1] == "0":
        digits, base, ok = s, 8, _OCT
    else:
        digits, base, ok = s, 10, _DEC
    if not digits or not all(c in ok for c in digits):
        raise _BadNumber(w, "is not a number")
    v = int(digits, base)
    if wrap:  # strtoull: a negated magnitude wraps; only the magnitude can overflow
        if v > hi:
            raise _BadNumber(w, "is out of range")
        return (-v) & hi if neg else v
    v = -v if neg else v
    if not lo <= v <= hi:
        raise _BadNumber(w, "is out of range")
    return v


def parse_u64(word: str) -> int:
    """Parse a qtest number as QEMU 7.2 does (``qemu_strtou64``, base 0).

    Args:
        word: decimal, ``0x`` hex or leading-0 octal, optionally signed (``-1`` wraps).

    Returns:
        The value, 0 to 2**64-1.

    Raises:
        ValueError: not a number, trailing text, or out of range.
    """
    try:
        return _u64(word)
    except _BadNumber as e:
        raise ValueError(f"'{e.word}' {e.problem}") from None


def _i64(w: str) -> int:
    return _strto(w, -(1 << 63), (1 << 63) - 1, False)


def _i32(w: str) -> int:
    return _strto(w, -(1 << 31), (1 << 31) - 1, False)


# Text with none of these lets int(word, 0) stand in for strtoull: Python's int() also
# takes underscores, whitespace around the digits (\x1c-\x1f count), 0o/0b prefixes and
# non-ASCII digits, which QEMU's qemu_strtou64 refuses, and "-1" must wrap.
_UNSAFE_CHARS = ("_", "+", "-", "\t", "\v", "\f", "\r", "\x1c", "\x1d", "\x1e", "\x1f")
_UNSAFE_PREFIXES = (" 0o", " 0O", " 0b", " 0B")


def _trusted(text: str) -> bool:
    """Whether every number in ``text`` (many request lines) may be parsed by int().

    Single characters are found by memchr, so the prefixes are only searched for when
    their letter occurs at all (``b`` does, in hex digits; the others rarely)."""
    if not text.isascii():
        return False
    for c in _UNSAFE_CHARS:
        if c in text:
            return False
    return not any(p[2] in text and p in text for p in _UNSAFE_PREFIXES)
