"""A QMP server over a :class:`~dmamon.devices.machine.Machine`, byte-compatible with QEMU 7.2.

The QEMU Machine Protocol as QEMU 7.2 speaks it (``docs/interop/qmp-spec.txt``), so the
unmodified ``qemu.qmp`` client, ``qmp-shell`` and scripts written for QEMU drive dmamon:

* **Framing.** Input is a stream of JSON values with no delimiter; output is one compact
  JSON object per line ending in ``\\r\\n``. The input side is QEMU's own JSON dialect
  (``qobject/json-lexer.c``, ``json-streamer.c``, ``json-parser.c``): single-quoted strings,
  the same lexical recovery after a stray byte and the same ``JSON parse error, ...``
  messages. The output side writes objects in QEMU's ``QDict`` iteration order (a hash of
  the key, ``qobject/qdict.c``) and escapes strings as ``qobject/json-writer.c`` does, so a
  reply is byte for byte what QEMU 7.2 sends.
* **Session.** Greeting, ``qmp_capabilities`` negotiation (before it every other command is
  ``CommandNotFound`` and no event is sent), ids echoed, ``error`` objects with QEMU's
  classes and ``desc`` strings, argument checking as QEMU's QAPI input visitor does it
  (which member is reported when several are wrong included).
* **Events** with QEMU's layout, stamped with *virtual* time so a session replays
  identically, and queued before the reply of the command that caused them.

Module layout: the JSON codec (:class:`JsonStreamParser`, :func:`encode_json`), argument
checking, :class:`QmpSession` (the protocol, no sockets: ``feed(bytes) -> bytes``) and
:class:`QmpServer` / :func:`serve_qmp` (UNIX and loopback TCP sockets, one client at a time).

Events and the machine's event bus
----------------------------------
``STOP``, ``RESUME`` and ``RESET`` are derived from the machine's run state and reset
counter after every command (so ``cont`` typed through ``human-monitor-command`` or a guest
reset through port 0xcf9 produce them too); ``SHUTDOWN`` comes from ``quit``. A modelled
device crash or hang reaches the session through ``machine.engine.halt_listeners`` and
becomes ``DMAMON_MACHINE_HALT`` (plus ``STOP`` when the machine was running).

Any other layer publishes events through the machine's *event bus*: the list
``machine.event_listeners`` of callables ``(name, payload) -> None`` (see
:func:`event_listeners`). ``payload`` is a dict of JSON values, an
:class:`~dmamon.memory.IOMMUFault`, a :class:`~dmamon.memory.MachineHalt` or None.
``devices/`` may not import this module, so an IOMMU model publishes a fault with::

    for cb in list(getattr(machine, "event_listeners", ())):
        cb("DMAMON_IOMMU_FAULT", fault)   # fault: IOMMUFault

and the session turns it into ``{"event": "DMAMON_IOMMU_FAULT", "data": {...}}``.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import re
import selectors
import socket
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Final

from dmamon import __version__
from dmamon.memory import (
    ConfigError,
    IOMMUFault,
    MachineHalt,
    TraceEvent,
    all_events,
    format_bdf,
)

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine
    from dmamon.devices.regs import RegInfo, RegisterBank

__all__ = [
    "QEMU_VERSION",
    "EventListener",
    "JsonStreamParser",
    "ParsedMessage",
    "QmpError",
    "QmpServer",
    "QmpSession",
    "encode_json",
    "event_listeners",
    "publish_event",
    "serve_qmp",
]

#: The QEMU release whose QMP dmamon speaks, reported in the greeting and ``query-version``:
#: the upstream release every reply and error string here was checked against, so a client
#: that gates behaviour on the version (qmp-shell prints it, management tools compare it)
#: sees the protocol it gets. Micro 0 rather than Debian's 7.2.22: no distribution patches
#: are imitated. dmamon's own version goes into ``package`` (``"dmamon 0.1.0"``).
QEMU_VERSION: Final = (7, 2, 0)

#: Default cap on one buffered, incomplete JSON message (QEMU's is 64 MiB).
MAX_MESSAGE: Final = 1 << 20
#: Nesting limit of one message (``json-streamer.c`` MAX_NESTING).
MAX_NESTING: Final = 1 << 10
#: Token limit of one message (QEMU's is 2 Mi; each buffered token costs Python ~100 bytes).
MAX_TOKENS: Final = 1 << 17
#: Largest block ``x-dmamon-memory-read``/``-write`` move in one command.
MAX_MEMORY_XFER: Final = 1 << 20

_U64: Final = (1 << 64) - 1
_I64_MIN: Final = -(1 << 63)
_I64_MAX: Final = (1 << 63) - 1

GENERIC_ERROR: Final = "GenericError"
COMMAND_NOT_FOUND: Final = "CommandNotFound"
DEVICE_NOT_FOUND: Final = "DeviceNotFound"

JsonValue = object
EventListener = Callable[[str, object], None]
HmpCallable = Callable[[str], str]


class QmpError(Exception):
    """A command failed: becomes ``{"error": {"class": ..., "desc": ...}}``.

    Args:
        desc: the human-readable message, QEMU's wording where QEMU has one.
        error_class: a QAPI ``ErrorClass`` name (``GenericError``, ``CommandNotFound``,
            ``DeviceNotFound``, ...).
    """

    def __init__(self, desc: str, error_class: str = GENERIC_ERROR) -> None:
        super().__init__(desc)
        self.desc = desc
        self.error_class = error_class


# ============================================================================================
# The machine's event bus
# ============================================================================================


def event_listeners(machine: Machine) -> list[EventListener]:
    """The machine's event bus, ``machine.event_listeners``, created on first use.

    A plain list of callables ``(name, payload) -> None``; publishers call every entry,
    subscribers append and remove themselves. Kept as an attribute set on the machine
    (rather than a field of ``Machine``) so ``devices/`` can publish with
    ``getattr(machine, "event_listeners", ())`` without importing the UI layer.

    Args:
        machine: the machine.

    Returns:
        The (shared, mutable) list.
    """
    lst = getattr(machine, "event_listeners", None)
    if not isinstance(lst, list):
        lst = []
        setattr(machine, "event_listeners", lst)  # noqa: B010 - not a Machine field (yet)
    return lst


def publish_event(machine: Machine, name: str, payload: object = None) -> None:
    """Publish an event on the machine's bus (for callers in ``dmamon/``).

    Args:
        machine: the machine.
        name: event name, upper case as QEMU's (``DMAMON_IOMMU_FAULT``).
        payload: a dict of JSON values, an IOMMUFault, a MachineHalt or None.
    """
    for cb in list(getattr(machine, "event_listeners", ())):
        cb(name, payload)


# ============================================================================================
# JSON: QEMU's dialect in, QEMU's byte layout out
# ============================================================================================

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

_Token = tuple[int, bytes]


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """One complete JSON value from the stream, or why it could not be parsed.

    Attributes:
        value: the parsed value (dict, list, str, int, float, bool or None).
        error: None on success, else QEMU's message (``JSON parse error, ...``).
    """

    value: JsonValue
    error: str | None = None


class _ParseError(Exception):
    pass


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
                m = _WS_RE.match(data, i)
                if m:
                    i = m.end()
                    if i >= n:
                        break
                c = data[i]
                t = _STRUCTURAL.get(c)
                if t is not None:
                    self._token(t, data[i : i + 1])
                    i += 1
                elif c == 0x22:
                    self._begin(_DQ, c)
                    i += 1
                elif c == 0x27:
                    self._begin(_SQ, c)
                    i += 1
                elif c == 0x30:
                    self._begin(_ZERO, c)
                    i += 1
                elif 0x31 <= c <= 0x39:
                    self._begin(_NONZERO, c)
                    i += 1
                elif c == 0x2D:
                    self._begin(_NEG, c)
                    i += 1
                elif 0x61 <= c <= 0x7A:
                    self._begin(_KEYWORD_ST, c)
                    i += 1
                else:
                    self._stray(data[i : i + 1])
                    i += 1
            elif st == _RECOVERY:
                i = _RECOVERY_RE.match(data, i).end()  # type: ignore[union-attr]
                if i < n:
                    self._state = _START
            elif st in (_DQ, _SQ):
                quote = 0x22 if st == _DQ else 0x27
                end = (_DQ_BODY_RE if st == _DQ else _SQ_BODY_RE).match(data, i).end()  # type: ignore[union-attr]
                self._grow(data[i:end])
                i = end
                if i >= n:
                    break
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


class _Frame:
    __slots__ = ("container", "key", "want_key")

    def __init__(self, container: dict[str, JsonValue] | list[JsonValue]) -> None:
        self.container = container
        self.key = ""
        self.want_key = True


def _parse(tokens: list[_Token]) -> JsonValue:
    """Parse one message's tokens; raises _ParseError with json-parser.c's wording."""
    n = len(tokens)
    pos = 0
    stack: list[_Frame] = []
    while True:
        # parse_value
        if pos >= n:
            raise _ParseError("premature EOI")
        ttype, text = tokens[pos]
        value: JsonValue
        if ttype in (_LCURLY, _LSQUARE):
            pos += 1
            if pos >= n:
                raise _ParseError("premature EOI")
            closer = _RCURLY if ttype == _LCURLY else _RSQUARE
            if tokens[pos][0] == closer:
                pos += 1
                value = {} if ttype == _LCURLY else []
            else:
                stack.append(_Frame({} if ttype == _LCURLY else []))
                continue
        elif ttype == _STRING:
            value = _parse_string(text)
            pos += 1
        elif ttype == _INTEGER:
            iv = int(text)
            if _I64_MIN <= iv <= _U64 and (iv <= _I64_MAX or text[0] != 0x2D):
                value = iv
            else:
                value = float(text)  # QEMU falls back to strtod
            pos += 1
        elif ttype == _FLOAT:
            value = float(text)
            pos += 1
        elif ttype == _KEYWORD:
            if text == b"true":
                value = True
            elif text == b"false":
                value = False
            elif text == b"null":
                value = None
            else:
                raise _ParseError(f"invalid keyword '{text.decode('ascii')}'")
            pos += 1
        else:
            raise _ParseError("expecting value")
        # hand the value to the enclosing containers
        while stack:
            f = stack[-1]
            c = f.container
            if isinstance(c, list):
                c.append(value)
                if pos >= n:
                    raise _ParseError("premature EOI")
                t = tokens[pos][0]
                pos += 1
                if t == _RSQUARE:
                    stack.pop()
                    value = c
                    continue
                if t != _COMMA:
                    raise _ParseError("expected separator in list")
                break
            if f.want_key:
                if not isinstance(value, str):
                    raise _ParseError("key is not a string in object")
                f.key = value
                if pos >= n:
                    raise _ParseError("premature EOI")
                t = tokens[pos][0]
                pos += 1
                if t != _COLON:
                    raise _ParseError("missing : in object pair")
                f.want_key = False
                break
            if f.key in c:
                raise _ParseError("duplicate key")
            c[f.key] = value
            if pos >= n:
                raise _ParseError("premature EOI")
            t = tokens[pos][0]
            pos += 1
            if t == _RCURLY:
                stack.pop()
                value = c
                continue
            if t != _COMMA:
                raise _ParseError("expected separator in dict")
            if pos >= n:
                raise _ParseError("premature EOI")
            f.want_key = True
            break
        else:
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


def _mod_utf8(s: str) -> bytes:
    return s.encode("utf-8", "replace").replace(b"\x00", b"\xc0\x80")


_BUCKETS: dict[str, int] = {}


def _qdict_bucket(key: str) -> int:
    """QDict's bucket for a key: tdb_hash() modulo QDICT_BUCKET_MAX (qobject/qdict.c)."""
    b = _BUCKETS.get(key)
    if b is None:
        raw = _mod_utf8(key)
        v = (0x238F13AF * len(raw)) & 0xFFFFFFFF
        for i, c in enumerate(raw):
            v = (v + (c << (i * 5 % 24))) & 0xFFFFFFFF
        b = ((1103515243 * v + 12345) & 0xFFFFFFFF) % 512
        if len(_BUCKETS) < 4096:
            _BUCKETS[key] = b
    return b


def qdict_order(keys: Iterable[str]) -> list[str]:
    """Keys in the order QEMU iterates a QDict built by inserting them in this order.

    Buckets ascending; inside a bucket the latest insertion comes first (QLIST_INSERT_HEAD).

    Args:
        keys: keys in insertion order.

    Returns:
        The iteration order.
    """
    ks = list(keys)
    idx = {k: i for i, k in enumerate(ks)}
    return sorted(ks, key=lambda k: (_qdict_bucket(k), -idx[k]))


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
        elif isinstance(v, str):
            out.append(_quote(v))
        elif v is None:
            out.append("null")
        elif v is True:
            out.append("true")
        elif v is False:
            out.append("false")
        elif isinstance(v, int):
            out.append(str(v))
        elif isinstance(v, float):
            out.append("%.17g" % v)  # noqa: UP031 - QEMU's format, not Python's repr
        elif isinstance(v, dict):
            if not v:
                out.append("{}")
                continue
            keys = qdict_order(v)
            stack.append(_Raw("}"))
            for j in range(len(keys) - 1, -1, -1):
                k = keys[j]
                stack.append(v[k])
                stack.append(_Raw(_quote(k) + ": "))
                if j:
                    stack.append(_Raw(", "))
            stack.append(_Raw("{"))
        elif isinstance(v, list | tuple):
            if not v:
                out.append("[]")
                continue
            stack.append(_Raw("]"))
            for j in range(len(v) - 1, -1, -1):
                stack.append(v[j])
                if j:
                    stack.append(_Raw(", "))
            stack.append(_Raw("["))
        else:
            raise TypeError(f"cannot encode {type(v).__name__} as QMP JSON")
    return "".join(out)


def _line(value: JsonValue) -> bytes:
    return (encode_json(value) + "\r\n").encode("ascii")


# ============================================================================================
# Argument checking (qapi/qobject-input-visitor.c)
# ============================================================================================

# glib's prime_mod[] (ghash.c): the modulus for a table of 1 << shift slots.
_PRIME_MOD: Final = (
    1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521,
    131071, 262139, 524287, 1048573, 2097143, 4194301, 8388593, 16777213, 33554393,
    67108859, 134217689, 268435399, 536870909, 1073741789, 2147483647,
)  # fmt: skip


class _GHashSet:
    """Just enough of glib 2.74's GHashTable (open addressing, quadratic probing,
    tombstones, in-place rehash) to know which key ``g_hash_table_iter_next`` returns
    first: QEMU reports *that* member as unexpected (qobject_input_check_struct)."""

    def __init__(self) -> None:
        self._shift(3)
        self.hashes = [0] * self.size
        self.keys: list[str | None] = [None] * self.size
        self.nnodes = 0
        self.noccupied = 0

    def _shift(self, shift: int) -> None:
        self.size = 1 << shift
        self.mod = _PRIME_MOD[shift]
        self.mask = self.size - 1

    @staticmethod
    def _hash(key: str) -> int:
        h = 5381
        for c in _mod_utf8(key):  # g_str_hash walks signed chars
            h = (h * 33 + (c - 256 if c >= 128 else c)) & 0xFFFFFFFF
        return h if h >= 2 else 2

    def _index(self, h: int) -> int:
        return ((h * 11) & 0xFFFFFFFF) % self.mod

    def _lookup(self, key: str, h: int) -> int:
        idx = self._index(h)
        step = 0
        tomb = -1
        while self.hashes[idx] != 0:
            nh = self.hashes[idx]
            if nh == h and self.keys[idx] == key:
                return idx
            if nh == 1 and tomb < 0:
                tomb = idx
            step += 1
            idx = (idx + step) & self.mask
        return tomb if tomb >= 0 else idx

    def insert(self, key: str) -> None:
        h = self._hash(key)
        idx = self._lookup(key, h)
        old = self.hashes[idx]
        if old >= 2:
            return
        self.hashes[idx] = h
        self.keys[idx] = key
        self.nnodes += 1
        if old == 0:
            self.noccupied += 1
            self._maybe_resize()

    def remove(self, key: str) -> None:
        idx = self._lookup(key, self._hash(key))
        if self.hashes[idx] < 2:
            return
        self.hashes[idx] = 1
        self.keys[idx] = None
        self.nnodes -= 1
        self._maybe_resize()

    def _maybe_resize(self) -> None:
        size, occ = self.size, self.noccupied
        if (size > self.nnodes * 4 and size > 8) or size <= occ + occ // 16:
            self._resize()

    def _resize(self) -> None:
        old_size = self.size
        n = int(self.nnodes * 1.333)
        shift = 0
        while n:
            n >>= 1
            shift += 1
        self._shift(max(shift, 3))
        if self.size > old_size:
            self.hashes += [0] * (self.size - old_size)
            self.keys += [None] * (self.size - old_size)
        moved = [False] * max(self.size, old_size)
        for i in range(old_size):
            nh = self.hashes[i]
            if nh < 2:
                self.hashes[i] = 0
                continue
            if moved[i]:
                continue
            self.hashes[i] = 0
            key, self.keys[i] = self.keys[i], None
            while True:
                idx = self._index(nh)
                step = 0
                while moved[idx]:
                    step += 1
                    idx = (idx + step) & self.mask
                moved[idx] = True
                replaced = self.hashes[idx]
                self.hashes[idx] = nh
                if replaced < 2:
                    self.keys[idx] = key
                    break
                nh = replaced
                key, self.keys[idx] = self.keys[idx], key
        if self.size < old_size:
            del self.hashes[self.size :]
            del self.keys[self.size :]
        self.noccupied = self.nnodes

    def first(self) -> str | None:
        for h, k in zip(self.hashes, self.keys, strict=True):
            if h >= 2:
                return k
        return None


@dataclass(frozen=True, slots=True)
class _Param:
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


def _coerce(p: _Param, v: JsonValue) -> object:
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


def _marshal(params: tuple[_Param, ...], args: dict[str, JsonValue]) -> dict[str, object]:
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
        table = _GHashSet()
        for k in qdict_order(args):
            table.insert(k)
        for p in params:
            if p.name in args:
                table.remove(p.name)
        raise QmpError(f"Parameter '{table.first()}' is unexpected")
    return out


# ============================================================================================
# Commands
# ============================================================================================


@dataclass(frozen=True, slots=True)
class _Command:
    name: str
    params: tuple[_Param, ...]
    method: str


_FORMAT = _Param("format", "enum", True, ("hex", "base64"))

_COMMANDS: Final = {
    c.name: c
    for c in (
        _Command("qmp_capabilities", (_Param("enable", "caps", True),), "_qmp_capabilities"),
        _Command("query-version", (), "_query_version"),
        _Command("query-commands", (), "_query_commands"),
        _Command("query-status", (), "_query_status"),
        _Command("stop", (), "_stop"),
        _Command("cont", (), "_cont"),
        _Command("system_reset", (), "_system_reset"),
        _Command("quit", (), "_quit"),
        _Command(
            "human-monitor-command",
            (_Param("command-line", "str"), _Param("cpu-index", "int", True)),
            "_human_monitor_command",
        ),
        _Command(
            "trace-event-get-state",
            (_Param("name", "str"), _Param("vcpu", "int", True)),
            "_trace_event_get_state",
        ),
        _Command(
            "trace-event-set-state",
            (
                _Param("name", "str"),
                _Param("enable", "bool"),
                _Param("ignore-unavailable", "bool", True),
                _Param("vcpu", "int", True),
            ),
            "_trace_event_set_state",
        ),
        _Command(
            "pmemsave",
            (_Param("val", "int"), _Param("size", "int"), _Param("filename", "str")),
            "_pmemsave",
        ),
        _Command(
            "x-dmamon-memory-read",
            (_Param("addr", "uint64"), _Param("size", "uint64"), _FORMAT),
            "_memory_read",
        ),
        _Command(
            "x-dmamon-memory-write",
            (_Param("addr", "uint64"), _Param("data", "str"), _FORMAT),
            "_memory_write",
        ),
        _Command(
            "x-dmamon-reg-read",
            (_Param("device", "str"), _Param("register", "str"), _Param("peek", "bool", True)),
            "_reg_read",
        ),
        _Command(
            "x-dmamon-reg-write",
            (_Param("device", "str"), _Param("register", "str"), _Param("value", "uint64")),
            "_reg_write",
        ),
    )
}

# dmamon run state -> QEMU RunState (qapi/run-state.json). A modelled crash or hang is a
# failure of the emulation that stops the guest until a reset: QEMU's "internal-error"
# (which also refuses ``cont`` with "Resetting the Virtual Machine is required"), not
# "guest-panicked", which means the guest OS reported its own panic.
_RUN_STATES: Final = {
    "running": "running",
    "paused": "paused",
    "prelaunch": "prelaunch",
    "crashed": "internal-error",
    "hung": "internal-error",
    "shutdown": "shutdown",
}


def _glob(pattern: str) -> re.Pattern[str]:
    """glib's g_pattern_match_simple: ``*`` and ``?`` only, no escapes or classes."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def _hmp_text(text: str) -> str:
    """HMP output as QEMU returns it over QMP: every line ends in CRLF."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    return text.replace("\n", "\r\n")


def _event_data(payload: object) -> dict[str, JsonValue] | None:
    """A bus payload as an event's ``data`` member."""
    if payload is None:
        return None
    if isinstance(payload, IOMMUFault):
        data: dict[str, JsonValue] = {
            "requester-id": payload.requester_id,
            "bdf": format_bdf(payload.requester_id),
            "iova": payload.iova,
            "perm": (payload.perm.name or "none").lower(),
            "reason": payload.reason,
        }
        if payload.event:
            data["iommu-event"] = payload.event
        return data
    if isinstance(payload, MachineHalt):
        return {"kind": payload.kind, "summary": payload.summary, "report": payload.report()}
    if isinstance(payload, dict):
        return {str(k): _jsonable(v) for k, v in payload.items()}
    return {"value": _jsonable(payload)}


def _jsonable(v: object, depth: int = 0) -> JsonValue:
    """A publisher's value as JSON: containers kept, bytes as hex, anything else as str."""
    if v is None or isinstance(v, str | int | float | bool):
        return v
    if depth > 32:
        return str(v)
    if isinstance(v, dict):
        return {str(k): _jsonable(x, depth + 1) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x, depth + 1) for x in v]
    if isinstance(v, bytes | bytearray):
        return bytes(v).hex()
    return str(v)


class QmpSession:
    """One QMP conversation over a machine, with no I/O of its own.

    Feed it the client's bytes in any chunking; it returns the bytes to send back (events
    first, then replies, each a CRLF-terminated line). While open it listens to the
    machine's halts and event bus; :meth:`close` (or leaving the ``with`` block) detaches it.

    Args:
        machine: the machine the commands act on.
        hmp: runs one human-monitor command line and returns its output text (lines
            separated by ``\\n``; HMP errors are part of the text). Raising ``SystemExit``
            means the command was ``quit``.
        max_message: cap on one buffered incomplete JSON message, in bytes.

    Attributes:
        negotiated: True once ``qmp_capabilities`` succeeded.
        quit: True once ``quit`` ran; the session then ignores further input.
    """

    def __init__(
        self, machine: Machine, hmp: HmpCallable, *, max_message: int = MAX_MESSAGE
    ) -> None:
        self.machine = machine
        self.hmp = hmp
        self.negotiated = False
        self.quit = False
        self._parser = JsonStreamParser(max_size=max_message)
        self._events: list[bytes] = []
        self._last = (machine.run_state, machine.reset_count)
        self._reset_cause: tuple[bool, str] | None = None
        self._bus = event_listeners(machine)
        self._bus.append(self._on_bus)
        machine.engine.halt_listeners.append(self._on_halt)
        self._open = True

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening to the machine (idempotent)."""
        if self._open:
            self._open = False
            _discard(self._bus, self._on_bus)
            _discard(self.machine.engine.halt_listeners, self._on_halt)

    def __enter__(self) -> QmpSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def version(self) -> dict[str, JsonValue]:
        """The ``query-version`` reply.

        Returns:
            ``{"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": "dmamon X.Y.Z"}``,
            also the greeting's ``version``.
        """
        major, minor, micro = QEMU_VERSION
        return {
            "qemu": {"major": major, "minor": minor, "micro": micro},
            "package": f"dmamon {__version__}",
        }

    def greeting(self) -> bytes:
        """The server greeting; no capabilities are offered (in particular no OOB).

        Returns:
            The CRLF-terminated line to send first on a new connection.
        """
        return _line({"QMP": {"version": self.version(), "capabilities": []}})

    # -- input -----------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Consume client bytes; return everything the server sends in response.

        Args:
            data: the next bytes from the client (partial, whole or several messages).

        Returns:
            Zero or more CRLF-terminated JSON lines (events precede the reply that caused
            them). Empty after ``quit``.
        """
        if self.quit:
            return b""
        out = bytearray()
        for msg in self._parser.feed(data):
            out += self._handle(msg)
            if self.quit:
                break
        return bytes(out)

    def _handle(self, msg: ParsedMessage) -> bytes:
        if msg.error is not None:
            return _line({"error": {"class": GENERIC_ERROR, "desc": msg.error}})
        req = msg.value
        if not isinstance(req, dict):
            return _line(
                {"error": {"class": GENERIC_ERROR, "desc": "QMP input must be a JSON object"}}
            )
        rsp: dict[str, JsonValue]
        try:
            ret = self._dispatch(req)
            rsp = {"return": {} if ret is None else ret}
        except QmpError as e:
            desc = e.desc
            if not self.negotiated and e.error_class == COMMAND_NOT_FOUND:
                # monitor/qmp.c monitor_qmp_dispatch: a more useful message in this mode
                desc = "Expecting capabilities negotiation with 'qmp_capabilities'"
            rsp = {"error": {"class": e.error_class, "desc": desc}}
        except Exception as e:  # a dmamon bug: answer it, never drop the client
            rsp = {
                "error": {
                    "class": GENERIC_ERROR,
                    "desc": f"internal error: {type(e).__name__}: {e}",
                }
            }
        if "id" in req:
            rsp["id"] = req["id"]
        events, self._events = self._events, []
        try:
            line = _line(rsp)
        except TypeError as e:  # a command returned something JSON cannot carry (a bug)
            rsp.pop("return", None)
            rsp["error"] = {"class": GENERIC_ERROR, "desc": f"internal error: {e}"}
            line = _line(rsp)
        return b"".join(events) + line

    def _dispatch(self, req: dict[str, JsonValue]) -> JsonValue:
        # qapi/qmp-dispatch.c qmp_dispatch_check_obj: members in QDict order. No OOB is
        # offered, so "exec-oob" is just another unexpected member.
        name: str | None = None
        for key in qdict_order(req):
            value = req[key]
            if key == "execute":
                if not isinstance(value, str):
                    raise QmpError("QMP input member 'execute' must be a string")
                name = value
            elif key == "arguments":
                if not isinstance(value, dict):
                    raise QmpError("QMP input member 'arguments' must be an object")
            elif key != "id":
                raise QmpError(f"QMP input member '{key}' is unexpected")
        if name is None:
            raise QmpError("QMP input lacks member 'execute'")
        cmd = _COMMANDS.get(name)
        if cmd is None or (not self.negotiated and name != "qmp_capabilities"):
            raise QmpError(f"The command {name} has not been found", COMMAND_NOT_FOUND)
        raw = req.get("arguments", {})
        assert isinstance(raw, dict)
        kwargs = _marshal(cmd.params, raw)
        fn: Callable[[dict[str, object]], JsonValue] = getattr(self, cmd.method)
        if not self.negotiated:
            return fn(kwargs)
        try:
            return fn(kwargs)
        finally:
            self.machine.after_command()
            self._sync_state()
            self._reset_cause = None

    # -- events ----------------------------------------------------------------------------

    def _emit(self, name: str, data: dict[str, JsonValue] | None = None) -> None:
        """Queue an event (dropped before negotiation, as QEMU does)."""
        if not self.negotiated or self.quit:
            return
        ns = self.machine.now_ns
        ev: dict[str, JsonValue] = {
            "event": name,
            "timestamp": {"seconds": ns // 1_000_000_000, "microseconds": ns // 1000 % 1_000_000},
        }
        if data is not None:
            ev["data"] = data
        self._events.append(_line(ev))

    def _sync_state(self) -> None:
        """Emit RESET/STOP/RESUME for what changed since the last look."""
        m = self.machine
        now = (m.run_state, m.reset_count)
        was_state, was_resets = self._last
        self._last = now
        guest, reason = self._reset_cause or (True, "guest-reset")
        for _ in range(max(0, now[1] - was_resets)):
            self._emit("RESET", {"guest": guest, "reason": reason})
        if was_state == "running" and now[0] != "running":
            self._emit("STOP")
        elif was_state != "running" and now[0] == "running":
            self._emit("RESUME")

    def _on_halt(self, h: MachineHalt) -> None:
        try:
            self._emit("DMAMON_MACHINE_HALT", _event_data(h))
            self._sync_state()
        except Exception:  # called from the engine's activation boundary: never raise
            pass

    def _on_bus(self, name: str, payload: object) -> None:
        # Called from inside device models: it must not raise into them.
        try:
            self._emit(str(name), _event_data(payload))
        except Exception:  # a payload that cannot be encoded is dropped, never fatal
            pass

    # -- commands --------------------------------------------------------------------------

    def _qmp_capabilities(self, a: dict[str, object]) -> JsonValue:
        if self.negotiated:
            raise QmpError(
                "Capabilities negotiation is already complete, command ignored", COMMAND_NOT_FOUND
            )
        enable = a.get("enable", [])
        assert isinstance(enable, list)
        if enable:
            # monitor/qmp-cmds-control.c qmp_caps_accept: we offer nothing
            raise QmpError(f"Capability {', '.join(dict.fromkeys(enable))} not available")
        self.negotiated = True
        self._last = (self.machine.run_state, self.machine.reset_count)
        return None

    def _query_version(self, a: dict[str, object]) -> JsonValue:
        return self.version()

    def _query_commands(self, a: dict[str, object]) -> JsonValue:
        return [{"name": n} for n in _COMMANDS]

    def _query_status(self, a: dict[str, object]) -> JsonValue:
        status = _RUN_STATES.get(self.machine.run_state, self.machine.run_state)
        # StatusInfo members in schema order: running, singlestep, status
        return {"running": status == "running", "singlestep": False, "status": status}

    def _stop(self, a: dict[str, object]) -> JsonValue:
        self.machine.stop()
        return None

    def _cont(self, a: dict[str, object]) -> JsonValue:
        # softmmu/cpus.c qmp_cont: runstate_needs_reset() refuses
        if self.machine.halted or self.machine.run_state == "shutdown":
            raise QmpError("Resetting the Virtual Machine is required")
        self.machine.cont()
        return None

    def _system_reset(self, a: dict[str, object]) -> JsonValue:
        self._reset_cause = (False, "host-qmp-system-reset")
        self.machine.system_reset()
        return None

    def _quit(self, a: dict[str, object]) -> JsonValue:
        self._emit("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})
        self.quit = True
        return None

    def _human_monitor_command(self, a: dict[str, object]) -> JsonValue:
        line = a["command-line"]
        assert isinstance(line, str)
        cpu = a.get("cpu-index")
        if cpu is not None and cpu != 0:
            # monitor/qmp-cmds.c qmp_human_monitor_command: dmamon models one CPU, index 0
            raise QmpError("Parameter 'cpu-index' expects a CPU number")
        words = line.split()
        first = words[0] if words else ""
        if first == "system_reset":
            self._reset_cause = (False, "host-qmp-system-reset")
        elif first == "loadvm":
            self._reset_cause = (False, "snapshot-load")
        try:
            text = self.hmp(line)
        except SystemExit:
            # HMP quit calls qmp_quit(): SHUTDOWN, then the monitor goes away
            self._emit("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})
            self.quit = True
            return ""
        except Exception as e:  # the shell's bug; HMP failures are text, never QMP errors
            return _hmp_text(f"internal error: {type(e).__name__}: {e}")
        return _hmp_text(text if isinstance(text, str) else str(text))

    def _vcpu_check(self, a: dict[str, object]) -> bool:
        vcpu = a.get("vcpu")
        if vcpu is None:
            return False
        assert isinstance(vcpu, int)
        if vcpu != 0:
            raise QmpError(f"invalid vCPU index {vcpu & 0xFFFFFFFF}")
        return True

    def _trace_matches(self, name: str, has_vcpu: bool) -> list[TraceEvent]:
        """trace/qmp.c check_events + the matching events (dmamon has no vCPU events)."""
        events = all_events()
        if "*" not in name:
            ev = next((e for e in events if e.name == name), None)
            if ev is None:
                raise QmpError(f'unknown event "{name}"')
            if has_vcpu:
                raise QmpError(f'event "{name}" is not vCPU-specific')
            return [ev]
        if has_vcpu:
            return []
        rx = _glob(name)
        return [e for e in events if rx.fullmatch(e.name)]

    def _trace_event_get_state(self, a: dict[str, object]) -> JsonValue:
        name = a["name"]
        assert isinstance(name, str)
        has_vcpu = self._vcpu_check(a)
        enabled = self.machine.engine.tracer.enabled
        # QAPI_LIST_PREPEND: the reply lists matches in reverse declaration order
        return [
            {"name": ev.name, "state": "enabled" if ev in enabled else "disabled", "vcpu": False}
            for ev in reversed(self._trace_matches(name, has_vcpu))
        ]

    def _trace_event_set_state(self, a: dict[str, object]) -> JsonValue:
        name = a["name"]
        assert isinstance(name, str)
        has_vcpu = self._vcpu_check(a)
        tracer = self.machine.engine.tracer
        for ev in self._trace_matches(name, has_vcpu):
            tracer.set_state(ev.name, bool(a["enable"]))
        return None

    def _pmemsave(self, a: dict[str, object]) -> JsonValue:
        addr, size, filename = a["val"], a["size"], a["filename"]
        assert isinstance(addr, int) and isinstance(size, int) and isinstance(filename, str)
        try:
            f = open(filename, "wb")  # noqa: SIM115 - closed below, errors mapped
        except OSError as e:
            raise QmpError(
                f"Could not open '{filename}': {os.strerror(e.errno or errno.EIO)}"
            ) from None
        except ValueError:
            raise QmpError(f"Could not open '{filename}': {os.strerror(errno.EINVAL)}") from None
        if size < 0:
            # QEMU 7.2 opens the file, then loops until it crashes; refuse instead
            f.close()
            raise QmpError("Parameter 'size' expects a non-negative value")
        addr &= _U64
        try:
            with f:
                while size:
                    n = min(size, 1 << 20)
                    _res, data = self.machine.memory.read(addr, n)
                    f.write(data)
                    addr = (addr + n) & _U64
                    size -= n
        except OSError:
            raise QmpError("An IO error has occurred") from None
        return None

    def _memory_read(self, a: dict[str, object]) -> JsonValue:
        addr, size = a["addr"], a["size"]
        assert isinstance(addr, int) and isinstance(size, int)
        if size > MAX_MEMORY_XFER:
            raise QmpError(f"Parameter 'size' expects a size of at most {MAX_MEMORY_XFER} bytes")
        res, data = self.machine.memory.read(addr, size)
        text = base64.b64encode(data).decode("ascii") if a.get("format") == "base64" else data.hex()
        return {"data": text, "result": res.qemu_name()}

    def _memory_write(self, a: dict[str, object]) -> JsonValue:
        addr, text = a["addr"], a["data"]
        assert isinstance(addr, int) and isinstance(text, str)
        try:
            if a.get("format") == "base64":
                data = base64.b64decode(text, validate=True)
            else:
                data = bytes.fromhex(text)
        except (ValueError, binascii.Error):
            kind = "base64" if a.get("format") == "base64" else "an even number of hex digits"
            raise QmpError(f"Parameter 'data' expects {kind}") from None
        if len(data) > MAX_MEMORY_XFER:
            raise QmpError(f"Parameter 'data' expects at most {MAX_MEMORY_XFER} bytes")
        res = self.machine.memory.write(addr, data)
        return {"result": res.qemu_name()}

    def _bank(self, a: dict[str, object]) -> tuple[str, RegisterBank, RegInfo]:
        dev_name, reg = a["device"], a["register"]
        assert isinstance(dev_name, str) and isinstance(reg, str)
        if dev_name not in self.machine.devices:
            raise QmpError(f"Device '{dev_name}' not found", DEVICE_NOT_FOUND)
        try:
            _dev, bank = self.machine.find_bank(dev_name, reg)
        except KeyError as e:
            raise QmpError(str(e.args[0]) if e.args else f"no register '{reg}'") from None
        info = type(bank).lookup(reg)
        assert info is not None
        return dev_name, bank, info

    def _reg_read(self, a: dict[str, object]) -> JsonValue:
        dev_name, bank, info = self._bank(a)
        engine = self.machine.engine
        if a.get("peek"):
            value = bank.peek(info.name)
        else:
            box: list[int] = []
            engine.run_activation(lambda: box.append(bank.read(info.offset, info.size)))
            value = box[0] if box else 0
        fields = type(bank).decode(info.name, value)
        return {
            "device": dev_name,
            "register": info.name,
            "offset": info.offset,
            "width": info.width,
            "value": value,
            "fields": [{"name": n, "value": v} for n, v in fields],
        }

    def _reg_write(self, a: dict[str, object]) -> JsonValue:
        _dev_name, bank, info = self._bank(a)
        value = a["value"]
        assert isinstance(value, int)
        width: int = info.width
        if value >> width:
            raise QmpError(
                f"Parameter 'value' expects a value that fits {info.name} ({width} bits)"
            )
        self.machine.engine.run_activation(lambda: bank.write(info.offset, value, info.size))
        return None


def _discard(lst: list[EventListener] | list[Callable[[MachineHalt], None]], item: object) -> None:
    try:
        lst.remove(item)  # type: ignore[arg-type]
    except ValueError:
        pass


# ============================================================================================
# Sockets
# ============================================================================================

_LOOPBACK: Final = {
    "127.0.0.1": socket.AF_INET,
    "localhost": socket.AF_INET,
    "::1": socket.AF_INET6,
}


def _parse_tcp(tcp: tuple[str, int] | str) -> tuple[str, int]:
    if isinstance(tcp, str):
        host, sep, port_text = tcp.removeprefix("tcp:").rpartition(":")
        if not sep:
            raise ConfigError(f"QMP TCP address must be HOST:PORT, not {tcp!r}")
        try:
            port = int(port_text, 10)
        except ValueError:
            raise ConfigError(f"QMP TCP port must be a number, not {port_text!r}") from None
    else:
        host, port = tcp
    host = host.strip("[]")
    if host not in _LOOPBACK:
        raise ConfigError(
            f"QMP listens on the loopback interface only (127.0.0.1, ::1 or localhost), "
            f"not {host!r}: a QMP client can read and write guest memory and files"
        )
    if not 0 <= port <= 65535:
        raise ConfigError(f"QMP TCP port {port} is out of range (0-65535)")
    return host, port


class QmpServer:
    """Listening sockets and the loop that serves QMP clients one after another.

    Sockets are bound when the object is created, so a TCP port 0 is known at once
    (:attr:`tcp_port`). :meth:`serve` runs on the calling thread; :meth:`shutdown` may be
    called from any thread and makes it return promptly.

    Args:
        machine: the machine.
        hmp: the human-monitor runner (see :class:`QmpSession`).
        unix_path: UNIX socket to create (mode 0600; a stale socket there is replaced).
        tcp: ``(host, port)`` or ``"host:port"``; the host must be a loopback address.
        max_message: cap on one incomplete JSON message.
        send_timeout: seconds a client may stall a reply before it is dropped.

    Raises:
        ConfigError: no address, a non-loopback host, or a socket that cannot be created.
    """

    def __init__(
        self,
        machine: Machine,
        hmp: HmpCallable,
        *,
        unix_path: str | os.PathLike[str] | None = None,
        tcp: tuple[str, int] | str | None = None,
        max_message: int = MAX_MESSAGE,
        send_timeout: float = 30.0,
    ) -> None:
        if unix_path is None and tcp is None:
            raise ConfigError("QMP needs a UNIX socket path or a loopback TCP address")
        self.machine = machine
        self.hmp = hmp
        self.max_message = max_message
        self.send_timeout = send_timeout
        self.unix_path = os.fspath(unix_path) if unix_path is not None else None
        self.tcp_port: int | None = None
        self.addresses: list[str] = []
        self._listeners: list[socket.socket] = []
        self._stop = False
        self._wake_r, self._wake_w = socket.socketpair()
        try:
            if self.unix_path is not None:
                self._listen_unix(self.unix_path)
            if tcp is not None:
                self._listen_tcp(*_parse_tcp(tcp))
        except BaseException:
            self.close()
            raise

    def _listen_unix(self, path: str) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(st.st_mode):
                raise ConfigError(
                    f"cannot create QMP socket {path}: a file that is not a socket is in the way"
                )
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)  # nobody listens: a stale socket from an earlier run
            else:
                raise ConfigError(
                    f"cannot create QMP socket {path}: another server is listening there"
                )
            finally:
                probe.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600: a client can reach guest memory
        try:
            s.bind(path)
        except OSError as e:
            s.close()
            raise ConfigError(f"cannot create QMP socket {path}: {e.strerror or e}") from None
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        s.listen(4)
        self._listeners.append(s)
        self.addresses.append(f"unix:{path}")
        self._unix_bound = True

    def _listen_tcp(self, host: str, port: int) -> None:
        family = _LOOPBACK[host]
        addr = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(4)
        except OSError as e:
            s.close()
            raise ConfigError(
                f"cannot listen for QMP on {addr}:{port}: {e.strerror or e}"
            ) from None
        self._listeners.append(s)
        self.tcp_port = s.getsockname()[1]
        self.addresses.append(
            f"tcp:[{addr}]:{self.tcp_port}"
            if family == socket.AF_INET6
            else f"tcp:{addr}:{self.tcp_port}"
        )

    # -- running ---------------------------------------------------------------------------

    def serve(self, *, once: bool = False) -> str:
        """Accept and serve clients, one at a time, until told to stop.

        Args:
            once: return after the first client disconnects.

        Returns:
            Why it returned: ``"quit"`` (a client ran ``quit``), ``"once"`` or
            ``"shutdown"``.
        """
        sel = selectors.DefaultSelector()
        try:
            for s in self._listeners:
                sel.register(s, selectors.EVENT_READ, "listen")
            sel.register(self._wake_r, selectors.EVENT_READ, "wake")
            while not self._stop:
                for key, _mask in sel.select():
                    if self._stop or key.data == "wake":
                        break
                    assert isinstance(key.fileobj, socket.socket)
                    try:
                        conn, _peer = key.fileobj.accept()
                    except OSError:
                        continue
                    why = self._serve_client(conn)
                    if why in ("quit", "shutdown"):
                        return why
                    if once:
                        return "once"
            return "shutdown"
        finally:
            sel.close()

    def _serve_client(self, conn: socket.socket) -> str:
        sel = selectors.DefaultSelector()
        session = QmpSession(self.machine, self.hmp, max_message=self.max_message)
        try:
            conn.settimeout(self.send_timeout)
            sel.register(conn, selectors.EVENT_READ, "client")
            sel.register(self._wake_r, selectors.EVENT_READ, "wake")
            conn.sendall(session.greeting())
            while not self._stop:
                for key, _mask in sel.select():
                    if key.data == "wake" or self._stop:
                        return "shutdown"
                    data = conn.recv(1 << 16)
                    if not data:
                        return "eof"
                    out = session.feed(data)
                    if out:
                        conn.sendall(out)
                    if session.quit:
                        return "quit"
            return "shutdown"
        except OSError:
            return "error"  # the client went away or stalled: serve the next one
        except Exception:  # a dmamon bug must not take the server down with this client
            return "error"
        finally:
            session.close()
            sel.close()
            conn.close()

    def shutdown(self) -> None:
        """Make :meth:`serve` return (thread-safe; the current client is disconnected)."""
        self._stop = True
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def close(self) -> None:
        """Close the sockets and remove the UNIX socket file."""
        for s in self._listeners:
            s.close()
        self._listeners = []
        if self.unix_path is not None and getattr(self, "_unix_bound", False):
            self._unix_bound = False
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> QmpServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve_qmp(
    machine: Machine,
    hmp: HmpCallable,
    *,
    unix_path: str | os.PathLike[str] | None = None,
    tcp: tuple[str, int] | str | None = None,
    once: bool = False,
    ready: Callable[[QmpServer], None] | None = None,
) -> str:
    """Serve QMP on a UNIX socket and/or loopback TCP until ``quit`` (or one client).

    Args:
        machine: the machine.
        hmp: runs a human-monitor command line, returns its text (``SystemExit`` = quit).
        unix_path: UNIX socket path (created 0600, removed on return).
        tcp: ``"127.0.0.1:4444"``, ``"[::1]:4444"``, ``"localhost:4444"`` or a tuple.
        once: return when the first client disconnects.
        ready: called with the bound server before serving (to print its addresses).

    Returns:
        ``"quit"``, ``"once"`` or ``"shutdown"``.

    Raises:
        ConfigError: a bad or non-loopback address, or a socket that cannot be created.
    """
    with QmpServer(machine, hmp, unix_path=unix_path, tcp=tcp) as server:
        if ready is not None:
            ready(server)
        return server.serve(once=once)
