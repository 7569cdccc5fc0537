"""Pure render functions: values in, QEMU-styled text out. No machine, no shell.

Each section renders one kind of output and stands alone; new renderers (``info mtree``,
register tables...) go in their own section.
"""

from __future__ import annotations

import re
from typing import Literal

from dmamon.dumpfmt import DumpFormat
from dmamon.hmpexpr import MASK64, HmpError

__all__ = [
    "bsd_checksum",
    "checksum_line",
    "dump_chunks",
    "memory_dump",
    "plural",
    "port_value",
    "print_value",
]


# --- x / xp / print / i / sum (QEMU 7.2 monitor/misc.c) -------------------------------------


def _char(c: int) -> str:
    """One character the way QEMU's monitor_printc() shows it: ``'A'``, ``'\\n'``, ``'\\xe8'``."""
    c &= 0xFFFFFFFF  # monitor_printc() takes a C int
    escapes = {0x27: "\\'", 0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r"}
    if c in escapes:
        return f"'{escapes[c]}'"
    return f"'{chr(c)}'" if 32 <= c <= 126 else f"'\\x{c:02x}'"


def _line_size(fmt: DumpFormat) -> int:
    # 8 bytes per line for byte items, else 16; decided by the size *before* format c forces
    # single bytes, so `xp /9cw` prints 16 characters a line.
    return 8 if fmt.size == 1 else 16


def dump_chunks(addr: int, fmt: DumpFormat) -> list[tuple[int, int]]:
    """The reads a memory dump makes: one per output line, as ``(address, length)``.

    QEMU reads each line with a single ``address_space_read``, so a device sees the widest
    access its region allows, and a failing line ends the dump.

    Args:
        addr: first address.
        fmt: the parsed ``/fmt``.

    Returns:
        One ``(address, length)`` per line; empty for a count of 0.
    """
    total, step = fmt.nbytes, _line_size(fmt)
    return [
        ((addr + off) & MASK64, min(step, total - off)) for off in range(0, max(total, 0), step)
    ]


def _item(value: int, fmt: DumpFormat, size: int) -> str:
    bits = size * 8
    match fmt.format:
        case "x":
            return f"0x{value:0{bits // 4}x}"
        case "o":
            digits = -(-bits // 3)
            return f"{'0' + format(value, 'o') if value else '0':>{digits}}"
        case "u" | "d":
            digits = -(-bits * 10 // 33)
            # Items are loaded zero-extended into a uint64_t and printed with PRId64, so only
            # 8-byte items ever print as negative.
            if fmt.format == "d" and size == 8 and value >> 63:
                value -= 1 << 64
            return f"{value:>{digits}}"
        case _:
            return _char(value)


def memory_dump(
    addr: int,
    data: bytes,
    fmt: DumpFormat,
    *,
    byteorder: Literal["little", "big"] = "little",
) -> list[str]:
    """Render ``xp``/``x`` output exactly as QEMU 7.2 ``memory_dump()`` prints it.

    ``0000000000001000: 0x00000010 0x00000000``: the address in 16 hex digits and a colon,
    then each item after one space. Widths: ``x`` is ``0x`` and 2 digits per byte; ``o`` and
    ``d``/``u`` are right-aligned in ``ceil(bits/3)`` and ``ceil(bits*10/33)`` columns; ``c``
    prints every byte as a quoted character.

    A dump that failed part-way is rendered from the bytes read before the failure: pass only
    those (whole lines, see :func:`dump_chunks`) and the line at which ``data`` runs out reads
    ``ADDRESS: Cannot access memory``, where QEMU stops.

    Args:
        addr: address of ``data[0]``.
        data: the bytes read, at most ``fmt.nbytes``.
        fmt: the parsed ``/fmt``; format ``i`` is refused.
        byteorder: the guest's byte order for multi-byte items (x86 is little-endian).

    Returns:
        The output lines, without newlines.

    Raises:
        HmpError: for format ``i`` (dmamon has no CPU to disassemble with).
        ValueError: ``data`` is longer than the format covers.
    """
    if fmt.format == "i":
        raise HmpError("format 'i' needs a CPU; dmamon has none")
    if len(data) > fmt.nbytes:
        raise ValueError(f"{len(data)} bytes given for a {fmt.nbytes}-byte dump")
    size = 1 if fmt.format == "c" else fmt.size
    lines: list[str] = []
    for line_addr, length in dump_chunks(addr, fmt):
        offset = (line_addr - addr) & MASK64
        chunk = data[offset : offset + length]
        if len(chunk) < length:
            lines.append(f"{line_addr:016x}: Cannot access memory")
            break
        items = (
            _item(int.from_bytes(chunk[i : i + size], byteorder), fmt, size)
            for i in range(0, length, size)
        )
        lines.append(f"{line_addr:016x}:" + "".join(" " + item for item in items))
    return lines


def print_value(value: int, fmt: DumpFormat | str) -> str:
    """Render HMP ``print`` output: ``0x12``, ``16``, ``18446744073709551615``, ``010``, ``'A'``.

    As QEMU 7.2 ``hmp_print``: ``x`` and ``o`` use C's ``%#`` forms, so zero prints as a bare
    ``0``; ``d`` is signed 64-bit; ``u`` unsigned; ``c`` one character; ``i`` prints like ``d``.

    Args:
        value: the expression's value (taken modulo 2**64).
        fmt: the parsed ``/fmt``, or just its format letter.

    Returns:
        The text, without a newline.
    """
    letter = fmt if isinstance(fmt, str) else fmt.format
    value &= MASK64
    match letter:
        case "x":
            return f"{value:#x}" if value else "0"
        case "o":
            return f"0{value:o}" if value else "0"
        case "u":
            return str(value)
        case "c":
            return _char(value)
        case _:
            return str(value - (1 << 64) if value >> 63 else value)


def port_value(size: int, port: int, value: int) -> str:
    """Render HMP ``i`` output: ``portl[0x0cf8] = 0x80000094``.

    As QEMU 7.2 ``hmp_ioport_read``: the suffix is ``w`` for 2 bytes, ``l`` for 4 and ``b``
    for anything else (QEMU then reads one byte), and the value is zero-padded to twice the
    *requested* size, so ``i /g`` prints ``portb[...] = 0x00000000000000ff``.

    Args:
        size: the ``/fmt`` size in bytes.
        port: the I/O port, printed with at least 4 hex digits.
        value: the value read.

    Returns:
        The text, without a newline.
    """
    suffix = {2: "w", 4: "l"}.get(size, "b")
    return f"port{suffix}[0x{port:04x}] = 0x{value:0{max(size, 1) * 2}x}"


def bsd_checksum(data: bytes) -> int:
    """The 16-bit BSD ``sum`` checksum that HMP ``sum`` computes.

    Args:
        data: the bytes, in address order.

    Returns:
        The checksum, 0 to 65535.
    """
    # Each byte rotates the sum right by one, then adds. A zero byte only rotates, and 16
    # rotations are the identity, so runs of zeros (unassigned holes, fresh RAM) are skipped.
    total = 0
    pos = 0
    for m in _NONZERO.finditer(data):
        i = m.start()
        total = _rotr(total, (i - pos + 1) % 16)
        total = (total + data[i]) & 0xFFFF
        pos = i + 1
    return _rotr(total, (len(data) - pos) % 16)


_NONZERO = re.compile(rb"[^\x00]")


def _rotr(value: int, n: int) -> int:
    """Rotate a 16-bit value right by ``n`` (0..15)."""
    return ((value >> n) | (value << (16 - n))) & 0xFFFF


def checksum_line(value: int) -> str:
    """Render HMP ``sum`` output: the checksum as five decimal digits, ``00000``.

    Args:
        value: the checksum (see :func:`bsd_checksum`).

    Returns:
        The text, without a newline.
    """
    return f"{value:05d}"


# --- counts --------------------------------------------------------------------------------


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 device``, ``2 devices``, ``1 entry``, ``0 entries``."""
    if count == 1:
        return f"{count} {singular}"
    if plural_form is None:
        if singular.endswith("y") and singular[-2:-1] not in "aeiou":
            plural_form = singular[:-1] + "ies"
        else:
            plural_form = singular + "s"
    return f"{count} {plural_form}"
