"""QEMU 7.2's qtest line protocol over a :class:`~dmamon.devices.machine.Machine`.

One request a line, words split on single spaces, one reply line per request: ``OK``,
``OK VALUE``, ``FAIL TEXT`` or ``ERR TEXT``, preceded (or followed, for work the machine
does after the command) by asynchronous ``IRQ raise N`` / ``IRQ lower N`` lines once
``irq_intercept_in ioapic`` is on. Reply formats, the order of checks and the number syntax
(``strtoull`` base 0: decimal, ``0x`` hex, leading-0 octal, ``-1`` wraps) are those of
QEMU 7.2's ``softmmu/qtest.c``; memory commands use the CPU's view (``machine.memory``) and
ports ``machine.io_as``, and ignore transaction errors as QEMU does.

Where QEMU aborts on bad input (``g_assert``: a malformed or missing number, an empty line,
two spaces in a row, a port above 0xffff, ``read ADDR 0``, a short ``set_irq_in``), dmamon
answers one ``ERR`` line naming the command, the argument and the problem, and carries on.
Two more inputs QEMU accepts silently and misreads are refused with ``ERR``: ``write`` data
without the ``0x`` prefix (QEMU skips the first two characters regardless) and non-hex
digits in it. dmamon is the qtest accelerator, so ``clock_step``/``clock_set`` always work
(Debian's QEMU answers ``FAIL Unknown command``) and time moves only through them.

The same implementation serves three front ends: the stdio and UNIX-socket servers
(:func:`serve_stdio`, :func:`serve_unix`), ``.qtest`` scripts (:func:`run_qtest_file`,
which also understands libqtest's C spelling ``qtest_outl(s, 0xcf8, 0x80000804);``), and
the monitor's qtest-spelled commands (:func:`execute`).
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import io
import os
import sys
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from dmamon.devices.machine import Machine
from dmamon.memory import ConfigError

if TYPE_CHECKING:
    pass

__all__ = [
    "IOAPIC_PATH",
    "QTEST_COMMANDS",
    "QtestReply",
    "QtestSession",
    "execute",
    "is_qtest_script",
    "main",
    "parse_u64",
    "qtest_script_lines",
    "run_qtest_file",
    "serve_stdio",
    "serve_unix",
    "session_for",
    "translate_libqtest",
]

_U64 = (1 << 64) - 1
PORT_MAX = 0xFFFF
MAX_TRANSFER = 1 << 24  # bytes one read/b64read/write/b64write may move (QEMU: unbounded)
MAX_MEMSET = 1 << 28  # memset writes in chunks, so it may cover more
_MEMSET_CHUNK = 1 << 20
IOAPIC_PINS = 24  # IOAPIC_NUM_PINS (hw/intc/ioapic_internal.h)
# q35 parents the IOAPIC to its host bridge: ioapic_init_gsi(gsi_state, "q35") in pc_q35.c.
IOAPIC_PATH = "/machine/q35/ioapic"
_IOAPIC_ALIASES = ("/machine/ioapic",)  # the ISA-PC spelling; QEMU's q35 answers FAIL
_CSPACE = " \t\n\v\f\r"  # C isspace() in the "C" locale
_HEX = frozenset("0123456789abcdefABCDEF")
_OCT = frozenset("01234567")
_DEC = frozenset("0123456789")
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64 = frozenset(_B64_ALPHABET)
_B64_RANK = {c: i for i, c in enumerate(_B64_ALPHABET)}

# Usage lines; the words after the name name the arguments in ERR replies.
QTEST_COMMANDS: dict[str, str] = {
    "outb": "outb PORT VALUE",
    "outw": "outw PORT VALUE",
    "outl": "outl PORT VALUE",
    "inb": "inb PORT",
    "inw": "inw PORT",
    "inl": "inl PORT",
    "writeb": "writeb ADDR VALUE",
    "writew": "writew ADDR VALUE",
    "writel": "writel ADDR VALUE",
    "writeq": "writeq ADDR VALUE",
    "readb": "readb ADDR",
    "readw": "readw ADDR",
    "readl": "readl ADDR",
    "readq": "readq ADDR",
    "read": "read ADDR SIZE",
    "write": "write ADDR SIZE 0xDATA",
    "b64read": "b64read ADDR SIZE",
    "b64write": "b64write ADDR SIZE BASE64",
    "memset": "memset ADDR SIZE BYTE",
    "endianness": "endianness",
    "clock_step": "clock_step [NS]",
    "clock_set": "clock_set NS",
    "irq_intercept_in": "irq_intercept_in QOM-PATH",
    "irq_intercept_out": "irq_intercept_out QOM-PATH",
    "set_irq_in": "set_irq_in QOM-PATH NAME NUM LEVEL",
    "module_load": "module_load PREFIX NAME",
}
_ARGS = {
    name: [a for a in usage.split()[1:] if not a.startswith("[")]
    for name, usage in QTEST_COMMANDS.items()
}
_ARG_NAMES = {
    name: [a.strip("[]") for a in usage.split()[1:]] for name, usage in QTEST_COMMANDS.items()
}


class _BadInput(Exception):
    """A request dmamon refuses; carries its one-line reply. Never leaves this module."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class _BadNumber(Exception):
    """A word that is not a number of the wanted kind (formatted by the caller)."""

    def __init__(self, word: str, problem: str) -> None:
        super().__init__(word)
        self.word = word
        self.problem = problem


# -- numbers (qemu_strtou64 / qemu_strtoi64 / qemu_strtoi, util/cutils.c) -------------------


def _u64(w: str) -> int:
    if w.isascii() and w.isalnum():  # the common spellings: 4096, 0x1000, 010
        try:
            if w[0] != "0":
                v = int(w)
            elif len(w) > 2 and w[1] in "xX":
                v = int(w, 16)
            elif len(w) > 1:
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


# -- payloads --------------------------------------------------------------------------


def _hex_payload(cmd: str, data: str, size: int) -> bytes:
    """``write``'s DATA: hex bytes after ``0x``, zero-filled to SIZE, extra digits ignored
    (an odd last digit too, as QEMU's ``i * 2 + 4 <= data_len`` test drops it)."""
    if data[:2] not in ("0x", "0X"):
        raise _BadInput(f"ERR {cmd}: DATA must be hex digits after 0x, not '{data}'")
    usable = min(size, (len(data) - 2) // 2)
    digits = data[2 : 2 + 2 * usable]
    try:
        if digits and not (digits.isascii() and digits.isalnum()):
            raise ValueError
        raw = bytes.fromhex(digits)
    except ValueError:
        raise _BadInput(f"ERR {cmd}: DATA has a character that is not a hex digit") from None
    return raw + bytes(size - usable)


def _b64decode(text: str) -> bytes:
    """glib ``g_base64_decode``: characters outside the alphabet are skipped, ``=`` counts
    as a zero digit that suppresses output, a trailing partial quantum is dropped."""
    clean = "".join(c for c in text if c in _B64 or c == "=")
    whole = clean[: len(clean) // 4 * 4]
    try:
        if "=" not in whole[:-2]:
            return binascii.a2b_base64(whole.encode("ascii"), strict_mode=False)
    except binascii.Error:
        pass
    out = bytearray()
    for i in range(0, len(whole), 4):
        q = whole[i : i + 4]
        v = 0
        for c in q:
            v = (v << 6) | _B64_RANK.get(c, 0)
        out.append((v >> 16) & 0xFF)
        if q[2] != "=":
            out.append((v >> 8) & 0xFF)
        if q[3] != "=":
            out.append(v & 0xFF)
    return bytes(out)


def _vt(ns: int) -> str:
    """Virtual time as QEMU's qtest log prints elapsed time (``%.06f`` seconds)."""
    return f"{ns // 1_000_000_000}.{(ns // 1000) % 1_000_000:06d}"


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


# -- replies for the monitor -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QtestReply:
    """What one request produced, for front ends other than the wire.

    Attributes:
        command: the request's first word.
        reply: the ``OK``/``FAIL``/``ERR`` line.
        lines: every line sent, in order (``IRQ ...`` lines and the reply).
    """

    command: str
    reply: str
    lines: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether the reply is ``OK``."""
        return self.reply == "OK" or self.reply.startswith("OK ")

    @property
    def value(self) -> int | bytes | str | None:
        """The reply's value: an int for reads, port reads and the clock, bytes for
        ``read``/``b64read``, ``little`` for ``endianness``; None for plain ``OK`` and
        failures."""
        if not self.reply.startswith("OK "):
            return None
        text = self.reply[3:]
        if self.command == "read":
            return bytes.fromhex(text[2:])
        if self.command == "b64read":
            return binascii.a2b_base64(text.encode("ascii"))
        if self.command == "endianness":
            return text
        return int(text, 0)


# -- QOM paths ---------------------------------------------------------------------------


def _qom_objects(machine: Machine) -> dict[str, str]:
    """Canonical QOM path -> the object's key in dmamon (``ioapic`` or a device name)."""
    objs = {IOAPIC_PATH: "ioapic", "/machine/q35/mch": "mch"}
    for name in machine.devices:
        objs[f"/machine/peripheral/{name}"] = name
    return objs


def _resolve(machine: Machine, path: str) -> str | None:
    """QEMU ``object_resolve_path``: an absolute path must match exactly, a partial path
    must be the tail (whole components) of exactly one object's path."""
    if path in _IOAPIC_ALIASES:
        return "ioapic"
    objs = _qom_objects(machine)
    if path.startswith("/"):
        return objs.get(path)
    if not path:
        return None
    found = [key for full, key in objs.items() if full.endswith("/" + path)]
    return found[0] if len(found) == 1 else None


# -- the session -------------------------------------------------------------------------

Handler = Callable[[list[str]], str]


class QtestSession:
    """One qtest conversation with a machine (QEMU keeps one per ``-qtest`` chardev).

    It listens to the machine's IRQ lines; after :meth:`close` it no longer does.

    Args:
        machine: the machine the requests act on.
        log: where to write QEMU's qtest log (``[R +t] request`` / ``[S +t] reply``, with
            virtual time), or None.
    """

    def __init__(self, machine: Machine, log: IO[str] | None = None) -> None:
        self.machine = machine
        self.log = log
        self.irq_levels: dict[int, int] = {}
        self.intercept: str | None = None  # what irq_intercept_* attached to
        self._ioapic = False
        self._out: list[str] = []
        self._notes: list[str] | None = None  # log-only lines of the current request
        self._clock = machine.engine.clock
        self._table = self._build_table()
        self._fast_table = self._build_fast_table()
        machine.irq_listeners.append(self._on_irq)

    # -- life cycle ----------------------------------------------------------------------

    def open(self) -> None:
        """A client connected: IRQ levels start low again (qtest_event CHR_EVENT_OPENED)."""
        self.irq_levels.clear()
        if self.log is not None:
            self.log.write(f"[I {_vt(self.machine.now_ns)}] OPENED\n")

    def closed(self) -> None:
        """The client went away (logs ``CLOSED``); the machine and intercepts stay."""
        if self.log is not None:
            self.log.write(f"[I +{_vt(self.machine.now_ns)}] CLOSED\n")
            self.log.flush()

    def close(self) -> None:
        """Stop listening to the machine's IRQ lines."""
        with contextlib.suppress(ValueError):
            self.machine.irq_listeners.remove(self._on_irq)

    def _on_irq(self, gsi: int, level: int) -> None:
        # qtest_irq_handler: only changes are reported, levels kept per pin.
        if self._ioapic and self.irq_levels.get(gsi, 0) != level:
            self.irq_levels[gsi] = level
            self._out.append(f"IRQ {'raise' if level else 'lower'} {gsi}")

    # -- requests ------------------------------------------------------------------------

    def handle_line(self, line: str) -> list[str]:
        """Run one request line (without its newline).

        Returns:
            The lines to send: ``IRQ ...`` lines raised by the command, the reply, then
            any ``IRQ ...`` lines from work the machine did right after it.
        """
        out: list[str] = []
        self.feed_lines((line,), out)
        return out

    def execute(self, words: list[str]) -> QtestReply:
        """Run one request given as words (the monitor's qtest-spelled commands).

        Returns:
            The reply, with the IRQ lines around it.
        """
        out: list[str] = []
        self.feed_lines((" ".join(words),), out)
        reply = next((ln for ln in out if not ln.startswith("IRQ ")), "")
        return QtestReply(words[0] if words else "", reply, tuple(out))

    def feed_lines(self, lines: Sequence[str], out: list[str], trusted: bool = False) -> int:
        """Run request lines, appending everything to send to ``out`` (the servers' loop).

        Args:
            lines: requests without their newlines.
            out: where the lines to send go.
            trusted: the caller checked the text with :func:`_trusted`, so numbers may
                take the fast path.

        Returns:
            How many lines ran.
        """
        if self.log is not None:
            return self._feed_logged(lines, out)
        self._out = out
        get = (self._fast_table if trusted else self._table).get
        unknown = self._unknown
        append = out.append
        due = self._clock.has_due_work
        after = self.machine.after_command
        for line in lines:
            words = line.split(" ")
            try:
                append(get(words[0], unknown)(words))
            except (_BadInput, _BadNumber, IndexError) as e:
                append(self._refusal(words, e))
            except Exception as e:  # a model bug must not end the server (nor show a traceback)
                append(f"FAIL internal error: {type(e).__name__}: {e}")
            # What a qtest-accel QEMU's main loop does between commands: bottom halves and
            # timers already due (the virtual clock only moves by clock_step/clock_set).
            if due():
                after()
        return len(lines)

    def _feed_logged(self, lines: Sequence[str], out: list[str]) -> int:
        log = self.log
        assert log is not None
        self.log = None
        n = 0
        try:
            for line in lines:
                # qtest_process_command: "[R +t]" then " WORD" for each word.
                t = _vt(self.machine.now_ns)
                log.write(f"[R +{t}] {line}\n" if line else f"[R +{t}]\n")
                start = len(out)
                self._notes = []
                n += self.feed_lines((line,), out)
                t = _vt(self.machine.now_ns)
                for note in self._notes:
                    log.write(f"[S +{t}] {note}\n")
                for sent in out[start:]:
                    log.write(f"[S +{t}] {sent}\n")
        finally:
            self.log = log
            self._notes = None
        log.flush()
        return n

    def _note(self, text: str) -> None:
        """A line only the qtest log gets (qtest_log_send)."""
        if self._notes is not None:
            self._notes.append(text)

    def _unknown(self, words: list[str]) -> str:
        if len(words) == 1 and not words[0]:
            return "ERR empty line"
        return f"FAIL Unknown command '{words[0]}'"

    def _refusal(self, words: list[str], e: Exception) -> str:
        cmd = words[0]
        if isinstance(e, _BadInput):
            return e.reply
        names = _ARG_NAMES.get(cmd, [])
        if isinstance(e, _BadNumber):
            try:
                pos = words.index(e.word, 1)
                what = names[pos - 1] if pos - 1 < len(names) else f"argument {pos}"
            except ValueError:
                what = "argument"
            return f"ERR {cmd}: {what} {e.problem}: '{e.word}'"
        need = _ARGS.get(cmd, [])
        if len(words) - 1 >= len(need):  # an IndexError that is not a missing argument
            return f"FAIL internal error: {type(e).__name__}: {e}"
        missing = " ".join(need[len(words) - 1 :])
        return f"ERR {cmd}: missing {missing} (usage: {QTEST_COMMANDS[cmd]})"

    # -- the commands (qtest_process_command) --------------------------------------------

    def _build_table(self) -> dict[str, Handler]:
        m = self.machine
        mem = m.memory
        ports = m.io_as
        load = mem.load
        store = mem.store

        def port(w: list[str]) -> int:
            p = _u64(w[1])
            if p > PORT_MAX:
                raise _BadInput(f"ERR {w[0]}: PORT {w[1]} is above 0xffff")
            return p

        def out_(size: int) -> Handler:
            def h(w: list[str]) -> str:
                p = port(w)
                ports.store(p, size, _u64(w[2]))
                return "OK"

            return h

        def in_(size: int) -> Handler:
            def h(w: list[str]) -> str:
                return "OK 0x%04x" % ports.load(port(w), size)[1]  # noqa: UP031 - fastest

            return h

        def write_(size: int) -> Handler:
            def h(w: list[str]) -> str:
                store(_u64(w[1]), size, _u64(w[2]))
                return "OK"

            return h

        def read_(size: int) -> Handler:
            def h(w: list[str]) -> str:
                return "OK 0x%016x" % load(_u64(w[1]), size)[1]  # noqa: UP031 - fastest

            return h

        def length(w: list[str], limit: int) -> int:
            n = _u64(w[2])
            if n > limit:
                raise _BadInput(f"ERR {w[0]}: SIZE {w[2]} is above the limit {limit:#x}")
            return n

        def read(w: list[str]) -> str:
            addr = _u64(w[1])
            n = length(w, MAX_TRANSFER)
            if not n:  # QEMU: g_assert(len), "we'd send garbage to libqtest"
                raise _BadInput("ERR read: SIZE must not be 0")
            return "OK 0x" + mem.read(addr, n)[1].hex()

        def b64read(w: list[str]) -> str:
            addr = _u64(w[1])
            n = length(w, MAX_TRANSFER)
            data = mem.read(addr, n)[1] if n else b""
            return "OK " + binascii.b2a_base64(data, newline=False).decode("ascii")

        def write(w: list[str]) -> str:
            addr = _u64(w[1])
            n = length(w, MAX_TRANSFER)
            if len(w[3]) < 3:
                return "ERR invalid argument size"
            data = _hex_payload("write", w[3], n)
            if n:
                mem.write(addr, data)
            return "OK"

        def b64write(w: list[str]) -> str:
            addr = _u64(w[1])
            n = length(w, MAX_TRANSFER)
            if len(w[3]) < 3:
                return "ERR invalid argument size"
            data = _b64decode(w[3])
            if len(data) != n:
                self._note(f"b64write: data length mismatch (told {n}, found {len(data)})")
            # QEMU writes SIZE bytes from the decoded buffer even when it is shorter (its
            # tail is then whatever followed in memory); dmamon writes what was decoded.
            if data[:n]:
                mem.write(addr, data[:n])
            return "OK"

        def memset(w: list[str]) -> str:
            addr = _u64(w[1])
            n = length(w, MAX_MEMSET)
            pattern = bytes([_u64(w[3]) & 0xFF])
            for off in range(0, n, _MEMSET_CHUNK):
                mem.write((addr + off) & _U64, pattern * min(_MEMSET_CHUNK, n - off))
            return "OK"

        def endianness(w: list[str]) -> str:
            return "OK little"

        def clock_step(w: list[str]) -> str:
            if len(w) == 1 or (len(w) == 2 and not w[1]):
                m.step_to_next()
            else:
                ns = _i64(w[1])
                if ns > 0:
                    m.step(ns)
            return f"OK {m.now_ns}"

        def clock_set(w: list[str]) -> str:
            ns = _i64(w[1])
            if ns > m.now_ns:
                m.clock_set(ns)
            return f"OK {m.now_ns}"

        def intercept(w: list[str]) -> str:
            target = _resolve(m, w[1])
            if target is None:
                return "FAIL Unknown device"
            if self.intercept is not None:
                return "OK" if self.intercept == target else "FAIL IRQ intercept already enabled"
            self.intercept = target
            # Only the IOAPIC's inputs carry dmamon's interrupts; PCI functions export no
            # unnamed GPIOs, so intercepting one answers OK and reports nothing (as QEMU).
            self._ioapic = target == "ioapic" and w[0] == "irq_intercept_in"
            return "OK"

        def set_irq_in(w: list[str]) -> str:
            path, name, num_w, level_w = w[1], w[2], w[3], w[4]
            target = _resolve(m, path)
            if target is None:
                return "FAIL Unknown device"
            num = _i32(num_w)
            level = _i32(level_w)
            if target != "ioapic" or name != "unnamed-gpio-in" or not 0 <= num < IOAPIC_PINS:
                return f"FAIL set_irq_in: '{path}' has no input '{name}' number {num}"
            for cb in list(m.irq_listeners):
                cb(num, level)
            return "OK"

        def module_load(w: list[str]) -> str:
            w[2]  # noqa: B018 - both words are required, as QEMU asserts
            return "FAIL"  # dmamon has no loadable modules (module_load() returned 0)

        table: dict[str, Handler] = {
            "read": read,
            "write": write,
            "b64read": b64read,
            "b64write": b64write,
            "memset": memset,
            "endianness": endianness,
            "clock_step": clock_step,
            "clock_set": clock_set,
            "irq_intercept_in": intercept,
            "irq_intercept_out": intercept,
            "set_irq_in": set_irq_in,
            "module_load": module_load,
        }
        for suffix, size in (("b", 1), ("w", 2), ("l", 4)):
            table["out" + suffix] = out_(size)
            table["in" + suffix] = in_(size)
        for suffix, size in (("b", 1), ("w", 2), ("l", 4), ("q", 8)):
            table["write" + suffix] = write_(size)
            table["read" + suffix] = read_(size)
        return table

    def _build_fast_table(self) -> dict[str, Handler]:
        """The table for trusted chunks (see :func:`_trusted`): there ``int(word, 0)``
        accepts exactly what ``strtoull`` does, or raises and the checked handler runs."""
        slow = self._table
        fast = dict(slow)
        mem = self.machine.memory
        load = mem.load
        store = mem.store
        to_int = int
        top = _U64

        def write_(size: int, checked: Handler) -> Handler:
            def h(w: list[str]) -> str:
                try:
                    a = to_int(w[1], 0)
                    v = to_int(w[2], 0)
                except ValueError:  # octal, empty or not a number: the checked parser
                    return checked(w)
                if a > top or v > top:
                    return checked(w)
                store(a, size, v)
                return "OK"

            return h

        def read_(size: int, checked: Handler) -> Handler:
            def h(w: list[str]) -> str:
                try:
                    a = to_int(w[1], 0)
                except ValueError:
                    return checked(w)
                if a > top:
                    return checked(w)
                return "OK 0x%016x" % load(a, size)[1]  # noqa: UP031 - fastest

            return h

        for suffix, size in (("b", 1), ("w", 2), ("l", 4), ("q", 8)):
            fast["write" + suffix] = write_(size, slow["write" + suffix])
            fast["read" + suffix] = read_(size, slow["read" + suffix])
        return fast


# Weak both ways: the machine keeps its session alive through its IRQ listener, and a
# strong value here would keep the machine (its key) alive forever.
_SESSIONS: weakref.WeakKeyDictionary[Machine, weakref.ref[QtestSession]] = (
    weakref.WeakKeyDictionary()
)


def session_for(machine: Machine) -> QtestSession:
    """The machine's shared session (the monitor and ``.qtest`` scripts use it, so an
    ``irq_intercept_in`` done in one is seen by the other)."""
    ref = _SESSIONS.get(machine)
    s = ref() if ref is not None else None
    if s is None:
        s = QtestSession(machine)
        _SESSIONS[machine] = weakref.ref(s)
    return s


def execute(machine: Machine, words: list[str]) -> QtestReply:
    """Run one qtest request on the machine's shared session.

    Args:
        machine: the machine.
        words: the request split into words (``["readl", "0xfe000000"]``).

    Returns:
        The reply and the IRQ lines around it.
    """
    return session_for(machine).execute(words)


# -- scripts -----------------------------------------------------------------------------

_LIBQTEST_ARGS = {  # libqtest call -> (qtest command, order of the C arguments after s)
    "qtest_memset": ("memset", (0, 2, 1)),  # qtest_memset(s, addr, pattern, size)
    "qtest_clock_step_next": ("clock_step", ()),
    "qtest_clock_step": ("clock_step", (0,)),
    "qtest_clock_set": ("clock_set", (0,)),
    "qtest_irq_intercept_in": ("irq_intercept_in", (0,)),
    "qtest_irq_intercept_out": ("irq_intercept_out", (0,)),
    "qtest_set_irq_in": ("set_irq_in", (0, 1, 2, 3)),
}


def translate_libqtest(line: str) -> str | None:
    """libqtest's C spelling of a request as a qtest line.

    ``qtest_outl(s, 0xcf8, 0x80000804); /* comment */`` -> ``outl 0xcf8 0x80000804``.

    Returns:
        The qtest line; ``""`` for calls with no request (``qtest_quit``); None when
        the line is not a libqtest call.
    """
    text = line.split("/*", 1)[0].split("//", 1)[0].strip().rstrip(";").strip()
    if not text.startswith("qtest_") or not text.endswith(")") or "(" not in text:
        return None
    func, _, rest = text.partition("(")
    func = func.strip()
    args = [a.strip().strip('"') for a in rest[:-1].split(",")][1:]  # drop the QTestState
    args = [a.rstrip("uUlL") if a[:1].isdigit() else a for a in args]
    if func in ("qtest_quit", "qtest_init"):
        return ""
    if func in _LIBQTEST_ARGS:
        cmd, order = _LIBQTEST_ARGS[func]
        if len(args) != len(order):
            return None
        return " ".join([cmd, *(args[i] for i in order)])
    cmd = func[len("qtest_") :]
    if cmd in QTEST_COMMANDS and cmd not in ("read", "write", "b64read", "b64write"):
        return " ".join([cmd, *args])
    return None


def qtest_script_lines(text: str) -> Iterator[tuple[int, str]]:
    """The requests of a ``.qtest`` script with their line numbers.

    Blank lines and ``#`` comments are skipped, line ends (``\\r\\n`` too) dropped, and
    libqtest C calls translated; any other line is passed on as written, so a bad one
    gets its ``ERR``/``FAIL`` reply rather than stopping the script.
    """
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip(_CSPACE)
        if not line or line.startswith("#"):
            continue
        if line.startswith("qtest_"):
            c = translate_libqtest(line)
            if c == "":
                continue
            if c is not None:
                line = c
        yield number, line


def is_qtest_script(text: str) -> bool:
    """Whether a script's first request is a qtest command (or a libqtest C call)."""
    for _, line in qtest_script_lines(text):
        return line.split(" ", 1)[0] in QTEST_COMMANDS
    return False


def run_qtest_file(
    machine: Machine, path: str | os.PathLike[str]
) -> list[tuple[int, str, list[str]]]:
    """Replay a ``.qtest`` script on the machine's shared session.

    Args:
        machine: the machine.
        path: the script (qtest lines, ``#`` comments, libqtest C calls).

    Returns:
        ``(line number, request, lines sent)`` for every request, in order.

    Raises:
        ConfigError: the file cannot be read.
    """
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read {os.fspath(path)}: {e.strerror or e}") from None
    session = session_for(machine)
    results = []
    for number, request in qtest_script_lines(text):
        results.append((number, request, session.handle_line(request)))
    return results


# -- servers -----------------------------------------------------------------------------

_READ_SIZE = 1 << 16


def _serve_stream(
    session: QtestSession, read: Callable[[], bytes], write: Callable[[bytes], None]
) -> int:
    """Lines in, replies out, one write per chunk read (pipelined and lock-step clients
    both work: every complete line in a chunk is answered before the next read)."""
    pending = b""
    total = 0
    while True:
        data = read()
        if not data:
            break
        pending += data
        cut = pending.rfind(b"\n")
        if cut < 0:
            continue
        text = pending[:cut].decode("utf-8", "surrogateescape")
        pending = pending[cut + 1 :]
        out: list[str] = []
        total += session.feed_lines(text.split("\n"), out, _trusted(text))
        if out:
            out.append("")
            write("\n".join(out).encode("utf-8", "surrogateescape"))
    if pending:  # an unterminated last line (QEMU would never run it)
        out = []
        total += session.feed_lines((pending.decode("utf-8", "surrogateescape"),), out)
        if out:
            out.append("")
            write("\n".join(out).encode("utf-8", "surrogateescape"))
    return total


def _reader(stream: IO[Any]) -> Callable[[], bytes]:
    raw = getattr(stream, "buffer", stream)
    try:
        fd = raw.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is not None:
        return lambda: os.read(fd, _READ_SIZE)
    read = getattr(raw, "read1", None) or raw.read

    def chunk() -> bytes:
        data = read(_READ_SIZE)
        return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data

    return chunk


def _writer(stream: IO[Any]) -> Callable[[bytes], None]:
    with contextlib.suppress(OSError, ValueError):
        stream.flush()  # whatever was printed before goes first
    raw = getattr(stream, "buffer", None)
    if raw is None and isinstance(stream, io.TextIOBase):

        def write_text(data: bytes) -> None:
            stream.write(data.decode("utf-8", "surrogateescape"))
            stream.flush()

        return write_text
    target = stream if raw is None else raw

    def write(data: bytes) -> None:
        target.write(data)
        target.flush()

    return write


def serve_stdio(
    machine: Machine,
    stdin: IO[Any] | None = None,
    stdout: IO[Any] | None = None,
    log: IO[str] | None = None,
) -> int:
    """Serve qtest on a pair of streams until end of input (QEMU ``-qtest stdio``).

    Args:
        machine: the machine.
        stdin: requests (text or binary; default ``sys.stdin``).
        stdout: replies (default ``sys.stdout``).
        log: QEMU's qtest log, with virtual time, or None.

    Returns:
        How many request lines ran.
    """
    session = QtestSession(machine, log)
    session.open()
    try:
        return _serve_stream(session, _reader(stdin or sys.stdin), _writer(stdout or sys.stdout))
    except (BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        return 0
    finally:
        session.closed()
        session.close()


def serve_unix(
    machine: Machine,
    path: str,
    log: IO[str] | None = None,
    *,
    max_clients: int | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve qtest on a UNIX socket, one client after another (QEMU ``-qtest unix:PATH``).

    A client's end of file ends that client, not the server; the machine, the clock and
    the IRQ intercept carry over from one client to the next, as in QEMU.

    Args:
        machine: the machine.
        path: the socket file (the policy of :mod:`dmamon.servers`: owner-only, a stale
            socket replaced, a live server's refused).
        log: QEMU's qtest log, with virtual time, or None.
        max_clients: stop after this many clients (None: serve until interrupted).
        ready: called once the socket listens.

    Raises:
        ConfigError: the path cannot be used.
    """
    from dmamon.servers import listen_unix, remove_unix  # start-up time: only here

    sock = listen_unix(path, "qtest", backlog=1)
    session = QtestSession(machine, log)
    served = 0
    try:
        if ready is not None:
            ready()
        while max_clients is None or served < max_clients:
            conn, _ = sock.accept()
            served += 1
            with conn:
                session.open()
                try:
                    _serve_stream(session, functools.partial(conn.recv, _READ_SIZE), conn.sendall)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    session.closed()
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        sock.close()
        remove_unix(path)


# -- python -m dmamon.qtest ------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m dmamon.qtest``, spelled like QEMU's command line:
    ``[-M q35] [-m SIZE] [-S] [-nodefaults] [-device SPEC]... [-qtest stdio|unix:PATH]
    [-qtest-log FILE|none]`` (``-display``, ``-no-reboot`` and ``-accel`` are accepted
    and ignored).

    Returns:
        The exit status.
    """
    from dmamon.devices.machine import DEFAULT_RAM, parse_size

    args = sys.argv[1:] if argv is None else argv
    devices: list[str] = []
    defaults = True
    ram = DEFAULT_RAM
    paused = False
    chardev = "stdio"
    log_path: str | None = None
    machine_type = "q35"
    takes_value = {"-M", "-machine", "-m", "-device", "-qtest", "-qtest-log", "-display", "-accel"}
    i = 0
    try:
        while i < len(args):
            opt = args[i]
            if opt in takes_value:
                if i + 1 >= len(args):
                    raise ConfigError(f"option {opt} needs a value")
                val = args[i + 1]
                i += 2
                if opt in ("-M", "-machine"):
                    machine_type = val.split(",", 1)[0]
                elif opt == "-m":
                    ram = parse_size(val)
                elif opt == "-device":
                    devices.append(val)
                elif opt == "-qtest":
                    chardev = val
                elif opt == "-qtest-log":
                    log_path = None if val == "none" else val
                continue
            i += 1
            if opt == "-S":
                paused = True
            elif opt == "-nodefaults":
                defaults = False
            elif opt != "-no-reboot":
                raise ConfigError(f"unknown option {opt!r}")
        machine = Machine(
            ram_size=ram,
            devices=devices if (devices or not defaults) else None,
            machine_type=machine_type,
            paused=paused,
        )
        log = open(log_path, "w", encoding="utf-8") if log_path else None  # noqa: SIM115
        try:
            if chardev == "stdio":
                serve_stdio(machine, sys.stdin, sys.stdout, log)
            elif chardev.startswith("unix:"):
                serve_unix(machine, chardev[5:].split(",", 1)[0], log)
            else:
                raise ConfigError(f"unsupported qtest chardev {chardev!r} (stdio, unix:PATH)")
        finally:
            if log is not None:
                log.close()
    except (ConfigError, OSError) as e:
        print(f"dmamon.qtest: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
