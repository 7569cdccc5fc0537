"""Memory transaction results and attributes (QEMU ``include/exec/memattrs.h``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

__all__ = ["UNSPECIFIED", "MemTxAttrs", "MemTxResult", "format_bdf"]


class MemTxResult(IntFlag):
    """Result of a bus transaction; results of split accesses are OR-ed together.

    ``OK`` is 0 and therefore falsy: compare with ``== MemTxResult.OK`` or use
    :attr:`ok`, never ``if result:``.
    """

    OK = 0
    ERROR = 1 << 0  # "device returned an error"
    DECODE_ERROR = 1 << 1  # "nothing at that address"
    ACCESS_ERROR = 1 << 2  # "access denied"

    @property
    def ok(self) -> bool:
        """True when no error bit is set."""
        return self.value == 0

    def describe(self) -> str:
        """Plain words for messages: ``decode error``, ``access error|error``, ``ok``."""
        if self.value == 0:
            return "ok"
        words = []
        if self & MemTxResult.ERROR:
            words.append("device error")
        if self & MemTxResult.DECODE_ERROR:
            words.append("decode error")
        if self & MemTxResult.ACCESS_ERROR:
            words.append("access error")
        return ", ".join(words)

    def qemu_name(self) -> str:
        """QEMU's macro spelling, e.g. ``MEMTX_DECODE_ERROR`` (``|``-joined)."""
        if self.value == 0:
            return "MEMTX_OK"
        return "|".join(f"MEMTX_{m.name}" for m in MemTxResult if m.value and self & m)


def format_bdf(requester_id: int) -> str:
    """Format a 16-bit requester ID as ``bb:dd.f``."""
    return f"{requester_id >> 8:02x}:{(requester_id >> 3) & 0x1F:02x}.{requester_id & 7:x}"


@dataclass(frozen=True, slots=True)
class MemTxAttrs:
    """Attributes travelling with a transaction.

    Attributes:
        requester_id: PCI requester ID (bus << 8 | dev << 3 | fn) of a DMA master,
            or None for accesses not made by a device (monitor, qtest, CPU).
        debug: True for monitor/debugger accesses.
    """

    requester_id: int | None = None
    debug: bool = False

    @property
    def bdf(self) -> str:
        """The requester as ``bb:dd.f``, or ``-`` when there is none."""
        return "-" if self.requester_id is None else format_bdf(self.requester_id)


UNSPECIFIED = MemTxAttrs()
