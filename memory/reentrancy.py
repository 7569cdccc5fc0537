"""The per-device re-entrancy guard (QEMU ``MemReentrancyGuard``, 8.1 and 7.2.x stable).

QEMU commit a2e1753b8054 ("memory: prevent dma-reentracy issues") added a flag
``engaged_in_io`` per device: dispatch into an I/O region whose owning device is already
in the middle of an I/O access is refused with ``MEMTX_ACCESS_ERROR``. Commit
9c86c97f12c0 ("async: Add an optional reentrancy guard to the BH API") applies the same
flag to bottom halves. dmamon keeps the mechanism in the kernel and lets the fix
switches turn it off, so the bug can be shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmamon.memory.fixes import declare_fix

__all__ = ["BH_GUARD", "REENTRANCY_GUARD", "MemReentrancyGuard"]

REENTRANCY_GUARD = declare_fix(
    "reentrancy-guard",
    True,
    "block MMIO dispatch into a device that is already engaged in I/O",
    "QEMU a2e1753b8054 (8.1, 7.2.x): memory: prevent dma-reentracy issues; CVE-2023-0330",
    "kernel",
)
BH_GUARD = declare_fix(
    "bh-guard",
    True,
    "mark the device engaged while its guarded bottom halves and timers run",
    "QEMU 9c86c97f12c0 (8.1): async: Add an optional reentrancy guard to the BH API; CVE-2024-3446",
    "kernel",
)


@dataclass(slots=True)
class MemReentrancyGuard:
    """The flag a device carries while it is engaged in I/O."""

    engaged_in_io: bool = False
