"""Helpers the monitor tests share: a monitor over a fresh machine, and running lines on it
with the output captured (stdout and the log stream merged, as a user sees them)."""

from __future__ import annotations

import io

from dmamon.devices import Machine

from dmamon.commands import AREAS  # noqa: F401  (registers the commands)
from dmamon.monitor import Monitor


def make_monitor(devices: list[str] | None = None) -> tuple[Monitor, io.StringIO]:
    """A monitor over a new machine (``devices`` None: the default devices)."""
    buf = io.StringIO()
    return Monitor(Machine(devices=devices), buf, buf), buf


def run_lines(mon: Monitor, buf: io.StringIO, *lines: str) -> str:
    """Run ``lines`` and return what they printed (only theirs)."""
    buf.seek(0)
    buf.truncate()
    for line in lines:
        mon.execute(line)
    return buf.getvalue()
