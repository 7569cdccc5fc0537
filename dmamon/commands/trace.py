"""Trace and log control as QEMU's HMP has it: ``trace-event``, ``log``, ``logfile``."""

from __future__ import annotations

from pathlib import Path

from dmamon.memory import LOG_ITEMS
from dmamon.monitor import Monitor, MonitorError, command, os_reason, split_words


@command(
    "trace-event",
    "name on|off [vcpu]",
    "changes status of a specific trace event (vcpu: vCPU to set, default is all)",
    "Trace",
    complete=("event", "subcommand:on,off"),
)
def trace_event(mon: Monitor, args: str) -> None:
    words = args.split()
    if not words:
        raise MonitorError("trace-event: string expected")
    if len(words) < 2:
        raise MonitorError("Expected 'on' or 'off'")
    if words[1] not in ("on", "off"):
        raise MonitorError("Expected 'on' or 'off'")
    if len(words) > 2:
        raise MonitorError(f'event "{words[0]}" is not vCPU-specific')
    try:
        mon.machine.tracer.set_state(words[0], words[1] == "on")
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
    "log", "item1[,...]", "activate logging of the specified items", "Trace", complete=("logitem",)
)
def log(mon: Monitor, args: str) -> None:
    text = args.strip()
    if not text:
        raise MonitorError("log: string expected")
    if text == "help":
        _log_help(mon)
        return
    items = text.split(",")
    tracer = mon.machine.tracer
    try:
        tracer.set_log_items(items)
    except KeyError as e:
        _log_help(mon)
        raise MonitorError(f"log: unknown item {e.args[0]!r}") from None


@command("logfile", "filename", "output logs to 'filename'", "Trace", complete=("file",))
def logfile(mon: Monitor, args: str) -> None:
    words = split_words(args)
    if len(words) != 1:
        raise MonitorError("logfile: string expected")
    path = Path(words[0])
    try:
        f = path.open("a", encoding="utf-8")
    except OSError as e:
        raise MonitorError(f"Could not open '{path}': {os_reason(e)}") from None
    if mon.logfile is not None:
        mon.logfile.close()
    mon.logfile = f
