"""AHCI Physical Region Descriptor Tables (PRDT): the scatter-gather list of a command.

A command table holds the PRDT at offset 0x80; the command header's PRDTL counts its
16-byte entries: DBA (64-bit data base address, bit 0 reserved), a reserved dword, and DW3
with the byte count minus one in bits 21:0 and the interrupt-on-completion bit I in bit 31.
:func:`prdt_entries` reads the table in one DMA (as QEMU's ``ahci_populate_sglist`` maps
it) and :func:`prdt_segments` cuts the part of the transfer a command needs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dmamon.devices.common.budget import Tick
from dmamon.devices.common.reader import Reader, Segment, read_exact

__all__ = [
    "MAX_PRDTL",
    "PRDT_ENTRY_SIZE",
    "PRDT_OFFSET",
    "PRD_DBC_MASK",
    "PRD_I",
    "PrdEntry",
    "prdt_entries",
    "prdt_segments",
]

PRDT_OFFSET = 0x80  # the PRDT's offset in a command table
PRDT_ENTRY_SIZE = 16
PRD_DBC_MASK = 0x3F_FFFF  # DW3 bits 21:0: byte count - 1
PRD_I = 1 << 31  # DW3: interrupt on completion
MAX_PRDTL = 0xFFFF  # PRDTL is a 16-bit field
_PRD = struct.Struct("<QII")


@dataclass(frozen=True, slots=True)
class PrdEntry:
    """One PRDT entry.

    Attributes:
        addr: Data base address (bit 0, reserved, is cleared; QEMU passes it through).
        byte_count: Bytes (DBC + 1, up to 4 MiB).
        interrupt: The I bit.
    """

    addr: int
    byte_count: int
    interrupt: bool


def prdt_entries(
    read: Reader, tick: Tick, table: int, prdtl: int, *, what: str = "PRDT walk"
) -> list[PrdEntry]:
    """Read and decode ``prdtl`` entries at bus address ``table``.

    Args:
        read: DMA-capable reader.
        tick: Step budget; one unit per entry.
        table: Bus address of entry 0 (the command table address + ``PRDT_OFFSET``).
        prdtl: Entry count from the command header (at most ``MAX_PRDTL``).
        what: Label for the watchdog message and for a failed read.

    Raises:
        ValueError: ``prdtl`` is outside 0..MAX_PRDTL.
        WalkFault: the table read failed.
        MachineHalt: the step budget ran out.
    """
    if not 0 <= prdtl <= MAX_PRDTL:
        raise ValueError(f"PRDTL must be 0..{MAX_PRDTL}, got {prdtl}")
    if not prdtl:
        return []
    raw = read_exact(read, table, prdtl * PRDT_ENTRY_SIZE, what)
    out = []
    for dba, _, dw3 in _PRD.iter_unpack(raw):
        tick(1, what)
        out.append(PrdEntry(dba & ~1, (dw3 & PRD_DBC_MASK) + 1, bool(dw3 & PRD_I)))
    return out


def prdt_segments(
    entries: list[PrdEntry], offset: int = 0, limit: int | None = None
) -> list[Segment]:
    """The segments of ``entries`` from byte ``offset`` on, at most ``limit`` bytes in all.

    Args:
        entries: From :func:`prdt_entries`.
        offset: Bytes of the PRDT already transferred (a continued command).
        limit: Bytes wanted; None takes everything after ``offset``.
    """
    out: list[Segment] = []
    want = limit
    for e in entries:
        if offset >= e.byte_count:
            offset -= e.byte_count
            continue
        size = e.byte_count - offset
        if want is not None:
            if want <= 0:
                break
            size = min(size, want)
            want -= size
        out.append(Segment(e.addr + offset, size))
        offset = 0
    return out
