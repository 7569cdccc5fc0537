"""Trace and log control as QEMU's HMP has it: ``trace-event``, ``log``, ``logfile``."""

from __future__ import annotations

from pathlib import Path

from dmamon.argspec import HMP_COUNT_ERRORS, arg
from dmamon.memory import LOG_ITEMS
from dmamon.monitor import Monitor, MonitorError, command, os_reason


@command(
    "trace-event",
    "name on|off [vcpu]",
    "changes status of a specific trace event (vcpu: vCPU to set, default is all)",
    "Trace",
    args=(
        arg("name", complete="event"),
        arg("state", "onoff", error="Expected 'on' or 'off'"),
        arg("vcpu", optional=True),
    ),
    usage=HMP_COUNT_ERRORS,
)
def trace_event(mon: Monitor, *, name: str, state: bool, vcpu: str | None) -> None:
    if vcpu is not None:
        raise MonitorError(f'event "{name}" is not vCPU-specific')
    try:
        mon.machine.tracer.set_state(name, state)
    except KeyError as e:
        raise MonitorError(str(e.args[0])) from None


def _log_help(mon: Monitor) -> None:
    mon.out("Log items (comma separated):")
    for name, desc in LOG_ITEMS.items():
        mon.out(f"{name:<15} {desc}")
    mon.out(f"{'trace:PATTERN':<15} enable trace events")
    mon.out("")
    mon.out('Use "log trace:help" to get a list of trace events.')
    mon.out("")


@command(
    "log",
    "item1[,...]",
    "activate logging of the specified items",
    "Trace",
    args=(arg("items", complete="logitem"),),
    usage=HMP_COUNT_ERRORS,
)
def log(mon: Monitor, *, items: str) -> None:
    text = items
    if text == "help":
        _log_help(mon)
        return
    tracer = mon.machine.tracer
    try:
        tracer.set_log_items(text.split(","))
    except KeyError as e:
        _log_help(mon)
        raise MonitorError(f"log: unknown item {e.args[0]!r}") from None


@command(
    "logfile",
    "filename",
    "output logs to 'filename'",
    "Trace",
    args=(arg("filename", "file"),),
    usage=HMP_COUNT_ERRORS,
)
def logfile(mon: Monitor, *, filename: str) -> None:
    path = Path(filename)
    try:
        f = path.open("a", encoding="utf-8")
    except OSError as e:
        raise MonitorError(f"Could not open '{path}': {os_reason(e)}") from None
    if mon.logfile is not None:
        mon.logfile.close()
    mon.logfile = f
