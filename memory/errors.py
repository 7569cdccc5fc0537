"""Exceptions of the kernel.

Guest-caused failures are values (``MemTxResult``, ``DmaResult``), never exceptions.
Exceptions here are either configuration mistakes (``ConfigError``, raised at once when
something is built wrongly) or the internal signal that a device model reached a
modelled fatal state (``MachineHalt``), which the activation boundary catches and turns
into a machine run state (``hung``/``crashed``) — it never reaches a caller.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DispatchFrame", "MachineHalt", "describe_frame"]

# (device, region, offset, value or None for a read, size): one level of nested dispatch
DispatchFrame = tuple[str, str, int, "int | None", int]


class ConfigError(ValueError):
    """A machine, region, device or register was configured wrongly."""


class MachineHalt(Exception):
    """A device model hit a modelled fatal state (an endless loop, a stack overflow, a UAF).

    Args:
        kind: ``"hung"`` or ``"crashed"``.
        summary: one line naming what happened.
        details: further report lines (chain of dispatches, loop addresses ...).
    """

    def __init__(self, kind: str, summary: str, details: tuple[str, ...] = ()) -> None:
        super().__init__(summary)
        self.kind = kind
        self.summary = summary
        self.details = details

    def report(self) -> list[str]:
        """The full report, one line per item."""
        return [self.summary, *self.details]


def describe_frame(f: DispatchFrame) -> str:
    """``edu0 edu-mmio+0x98 write 0x1 (4 bytes)``."""
    device, region, offset, value, size = f
    op = "read" if value is None else f"write {value:#x}"
    return f"{device} {region}+{offset:#x} {op} ({size} bytes)"
