"""The qtest commands (``qtest_process_command`` in QEMU's ``softmmu/qtest.c``).

Each handler is a module-level function ``(session, words) -> reply line``; the tables
:data:`HANDLERS` (every number checked as ``strtoull`` would) and :data:`FAST_HANDLERS`
(``int()`` for chunks :func:`~dmamon.qtest.cnum._trusted` vouched for) are built once,
at import. A refusal raises ``_BadInput``/``_BadNumber``/``IndexError``; the session turns
it into the ``ERR`` line.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING

from dmamon.qtest.base import (
    _MEMSET_CHUNK,
    _U64,
    IOAPIC_PINS,
    MAX_MEMSET,
    MAX_TRANSFER,
    PORT_MAX,
    _BadInput,
)
from dmamon.qtest.cnum import _i32, _i64, _u64
from dmamon.qtest.payload import _b64decode, _hex_payload

if TYPE_CHECKING:
    from dmamon.qtest.session import QtestSession

__all__ = [
    "FAST_HANDLERS",
    "HANDLERS",
    "Handler",
    "b64read",
    "b64write",
    "clock_set",
    "clock_step",
    "endianness",
    "intercept",
    "memset",
    "module_load",
    "read",
    "set_irq_in",
    "write",
]

Handler = Callable[["QtestSession", list[str]], str]


def _port(w: list[str]) -> int:
    p = _u64(w[1])
    if p > PORT_MAX:
        raise _BadInput(f"ERR {w[0]}: PORT {w[1]} is above 0xffff")
    return p


def _out(size: int) -> Handler:
    def h(s: QtestSession, w: list[str]) -> str:
        p = _port(w)
        s.ports.store(p, size, _u64(w[2]))
        return "OK"

    return h


def _in(size: int) -> Handler:
    def h(s: QtestSession, w: list[str]) -> str:
        return "OK 0x%04x" % s.ports.load(_port(w), size)[1]  # noqa: UP031 - fastest

    return h


def _write(size: int) -> Handler:
    def h(s: QtestSession, w: list[str]) -> str:
        s.store(_u64(w[1]), size, _u64(w[2]))
        return "OK"

    return h


def _read(size: int) -> Handler:
    def h(s: QtestSession, w: list[str]) -> str:
        return "OK 0x%016x" % s.load(_u64(w[1]), size)[1]  # noqa: UP031 - fastest

    return h


def _length(w: list[str], limit: int) -> int:
    n = _u64(w[2])
    if n > limit:
        raise _BadInput(f"ERR {w[0]}: SIZE {w[2]} is above the limit {limit:#x}")
    return n


def read(s: QtestSession, w: list[str]) -> str:
    """``read ADDR SIZE``: hex bytes."""
    addr = _u64(w[1])
    n = _length(w, MAX_TRANSFER)
    if not n:  # QEMU: g_assert(len), "we'd send garbage to libqtest"
        raise _BadInput("ERR read: SIZE must not be 0")
    return "OK 0x" + s.mem.read(addr, n)[1].hex()


def b64read(s: QtestSession, w: list[str]) -> str:
    """``b64read ADDR SIZE``: base64 bytes."""
    addr = _u64(w[1])
    n = _length(w, MAX_TRANSFER)
    data = s.mem.read(addr, n)[1] if n else b""
    return "OK " + binascii.b2a_base64(data, newline=False).decode("ascii")


def write(s: QtestSession, w: list[str]) -> str:
    """``write ADDR SIZE 0xDATA``."""
    addr = _u64(w[1])
    n = _length(w, MAX_TRANSFER)
    if len(w[3]) < 3:
        return "ERR invalid argument size"
    data = _hex_payload("write", w[3], n)
    if n:
        s.mem.write(addr, data)
    return "OK"


def b64write(s: QtestSession, w: list[str]) -> str:
    """``b64write ADDR SIZE BASE64``."""
    addr = _u64(w[1])
    n = _length(w, MAX_TRANSFER)
    if len(w[3]) < 3:
        return "ERR invalid argument size"
    data = _b64decode(w[3])
    if len(data) != n:
        s.note(f"b64write: data length mismatch (told {n}, found {len(data)})")
    # QEMU writes SIZE bytes from the decoded buffer even when it is shorter (its tail is
    # then whatever followed in memory); dmamon writes what was decoded.
    if data[:n]:
        s.mem.write(addr, data[:n])
    return "OK"


def memset(s: QtestSession, w: list[str]) -> str:
    """``memset ADDR SIZE BYTE``, written in chunks."""
    addr = _u64(w[1])
    n = _length(w, MAX_MEMSET)
    pattern = bytes([_u64(w[3]) & 0xFF])
    for off in range(0, n, _MEMSET_CHUNK):
        s.mem.write((addr + off) & _U64, pattern * min(_MEMSET_CHUNK, n - off))
    return "OK"


def endianness(s: QtestSession, w: list[str]) -> str:
    """``endianness``: the target's, little."""
    return "OK little"


def clock_step(s: QtestSession, w: list[str]) -> str:
    """``clock_step [NS]``: to the next timer, or NS nanoseconds on."""
    m = s.machine
    if len(w) == 1 or (len(w) == 2 and not w[1]):
        m.step_to_next()
    else:
        ns = _i64(w[1])
        if ns > 0:
            m.step(ns)
    return f"OK {m.now_ns}"


def clock_set(s: QtestSession, w: list[str]) -> str:
    """``clock_set NS``: never backwards."""
    m = s.machine
    ns = _i64(w[1])
    if ns > m.now_ns:
        m.clock_set(ns)
    return f"OK {m.now_ns}"


def intercept(s: QtestSession, w: list[str]) -> str:
    """``irq_intercept_in``/``irq_intercept_out QOM-PATH``: once per session."""
    target = s.resolve(w[1])
    if target is None:
        return "FAIL Unknown device"
    if s.intercept is not None:
        return "OK" if s.intercept == target else "FAIL IRQ intercept already enabled"
    s.intercept = target
    # Only the IOAPIC's inputs carry dmamon's interrupts; PCI functions export no unnamed
    # GPIOs, so intercepting one answers OK and reports nothing (as QEMU).
    s.ioapic = target == "ioapic" and w[0] == "irq_intercept_in"
    return "OK"


def set_irq_in(s: QtestSession, w: list[str]) -> str:
    """``set_irq_in QOM-PATH NAME NUM LEVEL``: drive an IOAPIC input."""
    path, name, num_w, level_w = w[1], w[2], w[3], w[4]
    target = s.resolve(path)
    if target is None:
        return "FAIL Unknown device"
    num = _i32(num_w)
    level = _i32(level_w)
    if target != "ioapic" or name != "unnamed-gpio-in" or not 0 <= num < IOAPIC_PINS:
        return f"FAIL set_irq_in: '{path}' has no input '{name}' number {num}"
    for cb in list(s.machine.irq_listeners):
        cb(num, level)
    return "OK"


def module_load(s: QtestSession, w: list[str]) -> str:
    """``module_load PREFIX NAME``: dmamon has no loadable modules."""
    w[2]  # noqa: B018 - both words are required, as QEMU asserts
    return "FAIL"  # module_load() returned 0


def _fast_write(size: int, checked: Handler) -> Handler:
    def h(s: QtestSession, w: list[str]) -> str:
        try:
            a = int(w[1], 0)
            v = int(w[2], 0)
        except ValueError:  # octal, empty or not a number: the checked parser
            return checked(s, w)
        if a > _U64 or v > _U64:
            return checked(s, w)
        s.store(a, size, v)
        return "OK"

    return h


def _fast_read(size: int, checked: Handler) -> Handler:
    def h(s: QtestSession, w: list[str]) -> str:
        try:
            a = int(w[1], 0)
        except ValueError:
            return checked(s, w)
        if a > _U64:
            return checked(s, w)
        return "OK 0x%016x" % s.load(a, size)[1]  # noqa: UP031 - fastest

    return h


def _tables() -> tuple[dict[str, Handler], dict[str, Handler]]:
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
        table["out" + suffix] = _out(size)
        table["in" + suffix] = _in(size)
    for suffix, size in (("b", 1), ("w", 2), ("l", 4), ("q", 8)):
        table["write" + suffix] = _write(size)
        table["read" + suffix] = _read(size)
    fast = dict(table)
    for suffix, size in (("b", 1), ("w", 2), ("l", 4), ("q", 8)):
        fast["write" + suffix] = _fast_write(size, table["write" + suffix])
        fast["read" + suffix] = _fast_read(size, table["read" + suffix])
    return table, fast


#: Command word -> handler, every number parsed as ``strtoull`` would.
#: The same for chunks whose numbers ``int(word, 0)`` parses exactly (the hot path).
HANDLERS, FAST_HANDLERS = _tables()
