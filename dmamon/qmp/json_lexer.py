"""QEMU's JSON lexer and streamer (``qobject/json-lexer.c``, ``json-streamer.c``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from dmamon.qmp.base import MAX_MESSAGE, MAX_NESTING, MAX_TOKENS, JsonValue
from dmamon.qmp.json_parser import (
    _FLOAT,
    _INTEGER,
    _KEYWORD,
    _LCURLY,
    _LSQUARE,
    _RCURLY,
    _RSQUARE,
    _STRING,
    _STRUCTURAL,
    _c_text,
    _parse,
    _ParseError,
    _Token,
)

__all__ = [
    "JsonStreamParser",
    "ParsedMessage",
]


# Lexer states (qobject/json-lexer.c); the number states are its IN_* states.
(
    _START,
    _RECOVERY,
    _DQ,
    _DQ_ESC,
    _SQ,
    _SQ_ESC,
    _ZERO,
    _NONZERO,
    _NEG,
    _MANTISSA,
    _MANTISSA_DIGITS,
    _EXP_E,
    _DIGIT,
    _DIGITS,
    _KEYWORD_ST,
) = range(15)

_WS_RE: Final = re.compile(rb"[ \t\r\n]+")
# IN_RECOVERY skips everything but structural characters, control characters other than
# TAB, and the impossible UTF-8 bytes 0xFE/0xFF; lexing resumes at that byte.
_RECOVERY_RE: Final = re.compile(rb"[\t\x20-\x2b\x2d-\x39\x3b-\x5a\x5c\x5e-\x7a\x7c\x7e-\xfd]*")
# String bodies: bytes 0x20..0xFD except the quote and the backslash.
_DQ_BODY_RE: Final = re.compile(rb"[\x20\x21\x23-\x5b\x5d-\xfd]*")
_SQ_BODY_RE: Final = re.compile(rb"[\x20-\x26\x28-\x5b\x5d-\xfd]*")
_KEYWORD_RE: Final = re.compile(rb"[a-z]*")
_DIGITS_RE: Final = re.compile(rb"[0-9]*")
# The state a token's first byte starts (digits 1-9 and a-z are ranges, checked apart).
_FIRST_BYTE: Final = {0x22: _DQ, 0x27: _SQ, 0x30: _ZERO, 0x2D: _NEG}


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """One complete JSON value from the stream, or why it could not be parsed.

    Attributes:
        value: the parsed value (dict, list, str, int, float, bool or None).
        error: None on success, else QEMU's message (``JSON parse error, ...``).
    """

    value: JsonValue
    error: str | None = None


class JsonStreamParser:
    """QEMU's JSON message parser: bytes in any chunking, whole values out.

    Mirrors ``json-lexer.c`` + ``json-streamer.c``: a value is complete when its braces and
    brackets balance (or go negative); a bad byte yields ``JSON parse error, stray '...'``
    and the lexer skips to the next structural or control byte. Unlike QEMU, a message that
    outgrows ``max_size`` (or the nesting/token limits) gets one error and the rest of it is
    skipped up to its closing brace, so the stream stays in step instead of answering every
    remaining token.

    Args:
        max_size: most bytes one incomplete message may buffer.
        max_nesting: deepest nesting of ``{``/``[``.
        max_tokens: most tokens one message may have.
    """

    def __init__(
        self,
        max_size: int = MAX_MESSAGE,
        max_nesting: int = MAX_NESTING,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        self.max_size = max_size
        self.max_nesting = max_nesting
        self.max_tokens = max_tokens
        self._state = _START
        self._tok = bytearray()
        self._tokens: list[_Token] = []
        self._size = 0
        self._brace = 0
        self._bracket = 0
        self._discard = False
        self._out: list[ParsedMessage] = []

    @property
    def pending(self) -> int:
        """Bytes buffered for the message being received."""
        return self._size + len(self._tok)

    def feed(self, data: bytes) -> list[ParsedMessage]:
        """Lex ``data`` and return every value (or error) it completes, in order.

        Args:
            data: the next bytes of the stream.

        Returns:
            The completed messages; incomplete input stays buffered.
        """
        n = len(data)
        i = 0
        while i < n:
            st = self._state
            if st == _START:
                i = self._start(data, i)
            elif st == _RECOVERY:
                i = _RECOVERY_RE.match(data, i).end()  # type: ignore[union-attr]
                if i < n:
                    self._state = _START
            elif st in (_DQ, _SQ):
                i = self._string(st, data, i)
            elif st in (_DQ_ESC, _SQ_ESC):
                c = data[i]
                i += 1
                if 0x20 <= c <= 0xFD:
                    self._grow(data[i - 1 : i])
                    self._state = _DQ if st == _DQ_ESC else _SQ
                else:
                    self._stray(bytes(self._tok) + data[i - 1 : i])
            elif st == _KEYWORD_ST:
                end = _KEYWORD_RE.match(data, i).end()  # type: ignore[union-attr]
                self._grow(data[i:end])
                i = end
                if i < n:
                    self._finish(_KEYWORD)  # lookahead: data[i] is lexed next
            else:
                i = self._number(st, data, i)
        return self._take()

    def _start(self, data: bytes, i: int) -> int:
        """Between tokens: skip white space, then start the token at ``data[i]``."""
        m = _WS_RE.match(data, i)
        if m:
            i = m.end()
            if i >= len(data):
                return i
        c = data[i]
        t = _STRUCTURAL.get(c)
        if t is not None:
            self._token(t, data[i : i + 1])
        else:
            state = _FIRST_BYTE.get(c)
            if state is None and 0x31 <= c <= 0x39:
                state = _NONZERO
            elif state is None and 0x61 <= c <= 0x7A:
                state = _KEYWORD_ST
            if state is None:
                self._stray(data[i : i + 1])
            else:
                self._begin(state, c)
        return i + 1

    def _string(self, st: int, data: bytes, i: int) -> int:
        """Inside a quoted string: take its body, then the quote, backslash or bad byte."""
        quote = 0x22 if st == _DQ else 0x27
        end = (_DQ_BODY_RE if st == _DQ else _SQ_BODY_RE).match(data, i).end()  # type: ignore[union-attr]
        self._grow(data[i:end])
        i = end
        if i >= len(data):
            return i
        c = data[i]
        i += 1
        if c == quote:
            self._grow(data[i - 1 : i])
            self._finish(_STRING)
        elif c == 0x5C:
            self._grow(data[i - 1 : i])
            self._state = _DQ_ESC if st == _DQ else _SQ_ESC
        else:
            self._stray(bytes(self._tok) + data[i - 1 : i])
        return i

    def _take(self) -> list[ParsedMessage]:
        out, self._out = self._out, []
        return out

    # -- lexer -----------------------------------------------------------------------------

    def _begin(self, state: int, c: int) -> None:
        self._state = state
        self._tok = bytearray((c,))
        self._check_size()

    def _grow(self, chunk: bytes) -> None:
        if chunk and not self._discard:
            self._tok += chunk
            self._check_size()

    def _number(self, st: int, data: bytes, i: int) -> int:
        """One step of the number states; returns the new read position."""
        c = data[i]
        digit = 0x30 <= c <= 0x39
        if st in (_NONZERO, _MANTISSA_DIGITS, _DIGITS) and digit:
            end = _DIGITS_RE.match(data, i).end()  # type: ignore[union-attr]
            self._grow(data[i:end])
            return end
        nxt: int | None = None  # next state if c is consumed; None: token ends or error
        term: int | None = None  # token type if the token ends before c (lookahead)
        if st == _ZERO:
            if c == 0x2E:
                nxt = _MANTISSA
            elif not digit:
                term = _INTEGER
        elif st == _NONZERO:
            if c in (0x65, 0x45):
                nxt = _EXP_E
            elif c == 0x2E:
                nxt = _MANTISSA
            else:
                term = _INTEGER
        elif st == _NEG:
            if c == 0x30:
                nxt = _ZERO
            elif digit:
                nxt = _NONZERO
        elif st == _MANTISSA:
            if digit:
                nxt = _MANTISSA_DIGITS
        elif st == _MANTISSA_DIGITS:
            if c in (0x65, 0x45):
                nxt = _EXP_E
            else:
                term = _FLOAT
        elif st == _EXP_E:
            if c in (0x2B, 0x2D):
                nxt = _DIGIT
            elif digit:
                nxt = _DIGITS
        elif st == _DIGIT:
            if digit:
                nxt = _DIGITS
        else:  # _DIGITS
            term = _FLOAT
        if term is not None:
            self._finish(term)
            return i
        if nxt is None:
            self._stray(bytes(self._tok) + data[i : i + 1])
            return i + 1
        self._grow(data[i : i + 1])
        self._state = nxt
        return i + 1

    def _finish(self, ttype: int) -> None:
        tok = bytes(self._tok)
        self._tok = bytearray()
        self._state = _START
        self._token(ttype, tok)

    def _stray(self, text: bytes) -> None:
        """A lexical error (json-lexer.c JSON_ERROR): report, reset, enter recovery."""
        self._tok = bytearray()
        self._state = _RECOVERY
        desc = "JSON parse error, stray '" + _c_text(text) + "'"
        self._reset()
        self._out.append(ParsedMessage(None, desc))

    def _reset(self) -> None:
        self._tokens = []
        self._size = 0
        self._brace = self._bracket = 0
        self._discard = False

    def _check_size(self) -> None:
        if not self._discard and self._size + len(self._tok) > self.max_size:
            self._overflow("JSON token size limit exceeded")

    def _overflow(self, desc: str) -> None:
        """Answer once and skip the rest of this message (depth keeps being tracked)."""
        self._out.append(ParsedMessage(None, desc))
        self._tokens = []
        self._size = 0
        self._tok = bytearray()
        self._discard = True

    # -- streamer --------------------------------------------------------------------------

    def _token(self, ttype: int, text: bytes) -> None:
        if ttype == _LCURLY:
            self._brace += 1
        elif ttype == _RCURLY:
            self._brace -= 1
        elif ttype == _LSQUARE:
            self._bracket += 1
        elif ttype == _RSQUARE:
            self._bracket -= 1
        open_ = (self._brace > 0 or self._bracket > 0) and self._brace >= 0 and self._bracket >= 0
        if self._discard:
            if not open_:
                self._reset()
            return
        if self._size + len(text) > self.max_size:
            self._overflow("JSON token size limit exceeded")
        elif len(self._tokens) + 1 > self.max_tokens:
            self._overflow("JSON token count limit exceeded")
        elif self._brace + self._bracket > self.max_nesting:
            self._overflow("JSON nesting depth limit exceeded")
        if self._discard:
            if not open_:
                self._reset()
            return
        self._tokens.append((ttype, text))
        self._size += len(text)
        if open_:
            return
        tokens = self._tokens
        self._reset()
        try:
            self._out.append(ParsedMessage(_parse(tokens)))
        except _ParseError as e:
            self._out.append(ParsedMessage(None, f"JSON parse error, {e}"))


# -- parser (json-parser.c, iterative so deep nesting cannot exhaust the Python stack) -----
