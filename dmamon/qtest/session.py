"""One qtest conversation with a machine (:class:`QtestSession`), the machine's shared
session (:func:`session_for`) and the monitor's entry point (:func:`execute`)."""

from __future__ import annotations

import binascii
import contextlib
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from dmamon.devices.machine import Machine
from dmamon.qtest.base import _ARG_NAMES, _ARGS, IOAPIC_PATH, QTEST_COMMANDS, _BadInput, _BadNumber
from dmamon.qtest.cnum import _trusted  # noqa: F401 - documented in feed_lines
from dmamon.qtest.handlers import FAST_HANDLERS, HANDLERS
from dmamon.qtest.payload import _vt

__all__ = ["QtestReply", "QtestSession", "execute", "session_for"]

_IOAPIC_ALIASES = ("/machine/ioapic",)  # the ISA-PC spelling; QEMU's q35 answers FAIL


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
        self.ioapic = False  # irq_intercept_in attached to the IOAPIC: report IRQs
        self._out: list[str] = []
        self._notes: list[str] | None = None  # log-only lines of the current request
        self._clock = machine.clock
        # What the handlers reach for on every request, looked up once.
        self.mem = machine.memory
        self.ports = machine.io_as
        self.load = machine.memory.load
        self.store = machine.memory.store
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
        if self.ioapic and self.irq_levels.get(gsi, 0) != level:
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
        get = (FAST_HANDLERS if trusted else HANDLERS).get
        unknown = _unknown
        append = out.append
        due = self._clock.has_due_work
        after = self.machine.after_command
        for line in lines:
            words = line.split(" ")
            try:
                append(get(words[0], unknown)(self, words))
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

    def resolve(self, path: str) -> str | None:
        """A QOM path as qtest names it, to ``ioapic``/``mch``/a device name, or None."""
        return _resolve(self.machine, path)

    def note(self, text: str) -> None:
        """A line only the qtest log gets (qtest_log_send)."""
        if self._notes is not None:
            self._notes.append(text)

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


def _unknown(s: QtestSession, words: list[str]) -> str:
    if len(words) == 1 and not words[0]:
        return "ERR empty line"
    return f"FAIL Unknown command '{words[0]}'"


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
