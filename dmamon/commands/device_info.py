"""``info device DEV``: any device's ``info()`` records, as text or ``--json`` (one walk,
:mod:`dmamon.records`), without naming a device type."""

from __future__ import annotations

from dmamon.argspec import arg
from dmamon.monitor import Monitor, MonitorError, info_command
from dmamon.records import record_data, record_lines

__all__ = ["info_device"]


@info_command(
    "device",
    "dev",
    "show a device's state as its model describes it (info() records)",
    args=(arg("dev", "device"),),
)
def info_device(mon: Monitor, *, dev: str) -> None:
    """``info device DEV``: the records the device's ``info()`` returns."""
    device = mon.machine.devices[dev]
    info = getattr(device, "info", None)
    if not callable(info):
        kind = type(device).__name__
        raise MonitorError(
            f"info device: '{dev}' ({kind}) does not describe itself yet (no info())"
        )
    records = info()
    mon.data = {"device": dev, "info": record_data(records)}
    mon.out(f"{dev}: {type(records).__name__}")
    for line in record_lines(records, "  "):
        mon.out(line)
