"""Access modes of register bits (Renode's ``FieldMode``, QEMU's ``RegisterAccessInfo``)."""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["ACCESS_NAMES", "RC", "RO", "RSVD", "RW", "W1C", "W1S", "WO", "Access"]


class Access(enum.Enum):
    """How guest reads and writes treat a register or field."""

    RO = "ro"
    """Read-only: writes are ignored."""
    WO = "wo"
    """Write-only: reads return 0; writes are stored (the device can peek them)."""
    RW = "rw"
    """Read-write."""
    W1C = "w1c"
    """Write 1 to clear: bits written as 1 are cleared, bits written as 0 are kept."""
    W1S = "w1s"
    """Write 1 to set: bits written as 1 are set, bits written as 0 are kept."""
    RC = "rc"
    """Read to clear: a read returns the value and then clears the bits read; writes ignored."""
    RSVD = "rsvd"
    """Reserved: reads return 0 and writes are ignored."""


RO: Final = Access.RO
WO: Final = Access.WO
RW: Final = Access.RW
W1C: Final = Access.W1C
W1S: Final = Access.W1S
RC: Final = Access.RC
RSVD: Final = Access.RSVD

ACCESS_NAMES: Final = ", ".join(a.name for a in Access)
