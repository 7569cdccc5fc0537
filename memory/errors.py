"""Exceptions of the kernel.

Guest-caused failures are values (``MemTxResult``, ``DmaResult``), never exceptions.
Exceptions here are either configuration mistakes (``ConfigError``, raised at once when
something is built wrongly) or the internal signal that a device model reached a
modelled fatal state (``MachineHalt``), which the activation boundary catches and turns
into a machine run state (``hung``/``crashed``) — it never reaches a caller.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["ConfigError", "DispatchFrame", "MachineHalt", "describe_frame", "fold_frame_lines"]

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
        """The report as printed: the summary, then the details with each run of
        identical ``#N`` frames folded into one line (``details`` keeps every frame)."""
        return [self.summary, *fold_frame_lines(self.details)]


def describe_frame(f: DispatchFrame) -> str:
    """``edu0 edu-mmio+0x98 write 0x1 (4 bytes)``."""
    device, region, offset, value, size = f
    op = "read" if value is None else f"write {value:#x}"
    return f"{device} {region}+{offset:#x} {op} ({size} bytes)"


_FRAME = re.compile(r"^(\s*)#(\d+) (.*)$")


def fold_frame_lines(lines: Sequence[str]) -> list[str]:
    """Fold each run of identical ``#N`` frame lines of a crash report into one line.

    ``  #0 edu0 edu-mmio+0x98 write 0x3 (8 bytes)`` repeated 65 times becomes
    ``  #0..#64 (65×) edu0 edu-mmio+0x98 write 0x3 (8 bytes)``; other lines pass unchanged.
    """
    out: list[str] = []
    run: list[re.Match[str]] = []
    for line in [*lines, None]:
        m = _FRAME.match(line) if line is not None else None
        if run and (m is None or m.group(3) != run[0].group(3)):
            first, last = run[0], run[-1]
            if len(run) == 1:
                out.append(first.group(0))
            else:
                out.append(
                    f"{first.group(1)}#{first.group(2)}..#{last.group(2)} ({len(run)}×) "
                    f"{first.group(3)}"
                )
            run = []
        if m is not None:
            run.append(m)
        elif line is not None:
            out.append(line)
    return out
