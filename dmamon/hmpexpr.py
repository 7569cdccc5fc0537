"""QEMU HMP expressions: the ``l`` and ``i`` arguments of ``xp``, ``print``, ``pmemsave``...

The grammar follows QEMU 7.2 ``monitor/hmp.c`` (``expr_sum`` and friends), as observed and read:

* numbers as C's ``strtoull(s, NULL, 0)`` reads them: decimal, ``0x`` hex, leading-``0`` octal
  (``010`` is 8; ``08`` is 0 followed by stray text), ``'c'`` character constants;
* unary ``- + ~`` and parentheses;
* binary operators in **three** precedence levels, each left-associative. This is not C:
  ``* / %`` bind tightest, then ``& | ^`` (all three equal), then ``+ -``. QEMU prints
  ``2 & 1 + 1`` as 1 and ``1 | 2 ^ 3 & 4`` as 0;
* whitespace is allowed around every token, so ``16 /2`` is a division (the reason an unquoted
  ``pmemsave 0 16 /tmp/x`` fails with ``invalid char 't' in expression``);
* arithmetic on signed 64-bit values, wrapping; ``/`` and ``%`` truncate toward zero as in C.
  Results are returned as unsigned 64-bit values (``-1`` is ``0xffffffffffffffff``).

dmamon adds two things QEMU lacks: ``K``/``M``/``G`` binary size suffixes written right after a
number (``4K`` is 4096), and symbols such as ``edu0`` or ``edu0.dma_cmd`` looked up through a
resolver callback. Without a resolver a letter is an error, exactly as in QEMU.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeAlias

__all__ = [
    "MASK64",
    "HmpError",
    "Resolver",
    "evaluate",
    "require_int32",
    "scan_expression",
    "split_expressions",
]

MASK64 = (1 << 64) - 1
"""Mask for a 64-bit (target-long) value."""

Resolver: TypeAlias = Callable[[str], int | None]
"""Maps a symbol name such as ``edu0.dma_cmd`` to its value, or to None when unknown."""

# qemu_isspace() is C isspace(): no Unicode spaces.
_SPACE = frozenset(" \t\n\v\f\r")
_SIZE_SUFFIX = {"K": 10, "M": 20, "G": 30, "k": 10, "m": 20, "g": 30}
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_HEX = re.compile(r"0[xX]([0-9a-fA-F]+)")
_OCT = re.compile(r"0[0-7]*")
_DEC = re.compile(r"[1-9][0-9]*")
_MAX_DEPTH = 100


class HmpError(ValueError):
    """A bad HMP argument; the message is QEMU's own wording (``division by zero``...)."""


def _signed(value: int) -> int:
    """Wrap ``value`` to a signed 64-bit integer, as an ``int64_t`` holds it."""
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


def _c_divmod(a: int, b: int) -> tuple[int, int]:
    """C99 division of signed 64-bit values: the quotient truncates toward zero."""
    q = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        q = -q
    # INT64_MIN / -1 traps on x86 (QEMU 7.2 dies with SIGFPE); dmamon wraps instead.
    return _signed(q), a - b * q


class _Parser:
    """One pass over ``text`` from ``pos``; ``pos`` always rests on a non-space or the end."""

    def __init__(self, text: str, pos: int, resolve: Resolver | None) -> None:
        self.text = text
        self.pos = pos
        self.resolve = resolve
        self.depth = 0
        self._skip_space()

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1

    def _next(self) -> None:
        # QEMU's next(): step over one character, then any whitespace.
        if self.pos < len(self.text):
            self.pos += 1
            self._skip_space()

    def expr_sum(self) -> int:
        val = self._expr_logic()
        while (op := self._peek()) in ("+", "-"):
            self._next()
            rhs = self._expr_logic()
            val = _signed(val + rhs if op == "+" else val - rhs)
        return val

    def _expr_logic(self) -> int:
        val = self._expr_prod()
        while (op := self._peek()) in ("&", "|", "^"):
            self._next()
            rhs = self._expr_prod()
            val = val & rhs if op == "&" else val | rhs if op == "|" else val ^ rhs
        return val

    def _expr_prod(self) -> int:
        val = self._expr_unary()
        while (op := self._peek()) in ("*", "/", "%"):
            self._next()
            rhs = self._expr_unary()
            if op == "*":
                val = _signed(val * rhs)
            elif rhs == 0:
                raise HmpError("division by zero")
            else:
                quotient, remainder = _c_divmod(val, rhs)
                val = quotient if op == "/" else remainder
        return val

    def _expr_unary(self) -> int:
        # QEMU recurses in C without a limit; Python's stack is smaller, so refuse deep nesting
        # with a message rather than let a RecursionError reach the user.
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise HmpError("expression too deeply nested")
        try:
            return self._expr_unary_inner()
        finally:
            self.depth -= 1

    def _expr_unary_inner(self) -> int:
        c = self._peek()
        if c in ("+", "-", "~"):
            self._next()
            val = self._expr_unary()
            return val if c == "+" else _signed(-val) if c == "-" else ~val
        if c == "(":
            self._next()
            val = self.expr_sum()
            if self._peek() != ")":
                raise HmpError("')' expected")
            self._next()
            return val
        if c == "'":
            return self._char_constant()
        if c == "$":
            # $reg reads a CPU register; dmamon has no CPU, so every name is unknown.
            raise HmpError("unknown register")
        if c == "":
            raise HmpError("unexpected end of expression")
        if self.resolve is not None and _SYMBOL.match(self.text, self.pos):
            return self._symbol(self.resolve)
        return self._number()

    def _char_constant(self) -> int:
        self.pos += 1
        if self.pos >= len(self.text):
            raise HmpError("character constant expected")
        val = ord(self.text[self.pos])
        self.pos += 1
        if self._peek() != "'":
            raise HmpError("missing terminating ' character")
        self._next()
        return val

    def _number(self) -> int:
        # strtoull(base 0): "0x" needs a hex digit after it, else only the "0" is read.
        if m := _HEX.match(self.text, self.pos):
            val = int(m.group(1), 16)
        elif m := _OCT.match(self.text, self.pos) or _DEC.match(self.text, self.pos):
            val = int(m.group(), 8 if m.group().startswith("0") else 10)
        else:
            raise HmpError(f"invalid char '{self._peek()}' in expression")
        self.pos = m.end()
        # dmamon extension: a binary size suffix directly after decimal or octal digits. Not
        # after hex: there 'g' is a typo for a digit (0xfg), left for the caller to refuse.
        shift = None if m.re is _HEX else _SIZE_SUFFIX.get(self._peek())
        if shift is not None:
            val <<= shift
            self.pos += 1
        if val > MASK64:
            raise HmpError("number too large")
        self._skip_space()
        return _signed(val)

    def _symbol(self, resolve: Resolver) -> int:
        m = _SYMBOL.match(self.text, self.pos)
        assert m is not None
        name = m.group()
        # '-' may appear in device ids, so "edu0.dma_src-4" is first tried whole, then cut
        # back at each '-' so that the rest reads as a subtraction.
        candidate = name
        while True:
            val = resolve(candidate)
            if val is not None:
                self.pos += len(candidate)
                self._skip_space()
                return _signed(val)
            cut = candidate.rfind("-")
            if cut <= 0:
                raise HmpError(f"unknown symbol '{name}'")
            candidate = candidate[:cut]


def scan_expression(text: str, pos: int = 0, resolve: Resolver | None = None) -> tuple[int, int]:
    """Read one expression from ``text`` starting at ``pos``, greedily, as HMP does.

    The expression ends at the first character that cannot continue it; whitespace followed by
    a binary operator continues it (``16 /2`` is 8). Use this for commands whose arguments
    mix expressions with other text, such as ``pmemsave ADDR SIZE FILE``.

    Args:
        text: the argument text.
        pos: index in ``text`` where the expression starts (leading whitespace is skipped).
        resolve: looks up symbols such as ``edu0.dma_cmd``; None means names are errors.

    Returns:
        ``(value, end)``: the value as an unsigned 64-bit integer, and the index just after
        the expression and the whitespace following it.

    Raises:
        HmpError: with QEMU's message, e.g. ``unexpected end of expression`` or
            ``invalid char 'n' in expression``; or ``unknown symbol 'x'``.
    """
    parser = _Parser(text, pos, resolve)
    value = parser.expr_sum()
    return value & MASK64, parser.pos


def split_expressions(text: str, count: int, resolve: Resolver | None = None) -> list[int]:
    """Read exactly ``count`` whitespace-separated expressions that make up all of ``text``.

    Separation follows HMP: ``0x1000 16`` is two expressions but ``16 /2`` is one.

    Args:
        text: the argument text, e.g. ``"0x1000 16"``.
        count: how many expressions ``text`` must hold.
        resolve: looks up symbols; None means names are errors.

    Returns:
        The values, each as an unsigned 64-bit integer.

    Raises:
        HmpError: for a bad expression (QEMU's messages), or
            ``extraneous characters at the end of line`` when text is left over (QEMU prefixes
            that one with the command name, which is the caller's job).
    """
    values: list[int] = []
    pos = 0
    for _ in range(count):
        value, pos = scan_expression(text, pos, resolve)
        values.append(value)
    if text[pos:].strip(" \t\n\v\f\r"):
        raise HmpError("extraneous characters at the end of line")
    return values


def evaluate(text: str, resolve: Resolver | None = None) -> int:
    """Evaluate one HMP expression that makes up all of ``text``.

    Args:
        text: the expression, e.g. ``"(0x100 + 0x10) * 2"`` or ``"edu0 + 4K"``.
        resolve: looks up symbols; None means names are errors, as in QEMU.

    Returns:
        The value as an unsigned 64-bit integer (``-1`` gives ``0xffffffffffffffff``).

    Raises:
        HmpError: see :func:`split_expressions`.
    """
    return split_expressions(text, 1, resolve)[0]


def require_int32(value: int, command: str) -> int:
    """Check a value given for an HMP ``i`` (32-bit) argument, as ``sum`` and ``i``/``o`` take.

    QEMU rejects any value with bits set above bit 31, negative ones included.

    Args:
        value: the expression's value (unsigned 64-bit, as :func:`evaluate` returns it).
        command: the command name, used in the message.

    Returns:
        ``value`` unchanged.

    Raises:
        HmpError: ``'sum' has failed: integer is for 32-bit values``.
    """
    if value & MASK64 > 0xFFFFFFFF:
        raise HmpError(f"'{command}' has failed: integer is for 32-bit values")
    return value
