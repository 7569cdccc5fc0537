"""QMP commands, each registered with :func:`qmp_command` into :data:`COMMANDS`.

A command is a function ``(session, args) -> reply`` whose ``args`` were checked against its
:class:`~dmamon.qmp.qapi.Param` list in QEMU's order; it raises :class:`QmpError` to fail.
Machine operations go through :mod:`dmamon.ops`, the code HMP and qtest share.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from dmamon import ops
from dmamon.memory import TraceEvent, all_events
from dmamon.qmp.base import (
    _U64,
    COMMAND_NOT_FOUND,
    DEVICE_NOT_FOUND,
    MAX_MEMORY_XFER,
    JsonValue,
    QmpError,
)
from dmamon.qmp.qapi import Param

if TYPE_CHECKING:
    from dmamon.devices import Device
    from dmamon.devices.regs import RegInfo, RegisterBank
    from dmamon.qmp.session import QmpSession

__all__ = [
    "COMMANDS",
    "Args",
    "CommandFn",
    "QmpCommand",
    "qmp_command",
]

Args = dict[str, object]
CommandFn = Callable[["QmpSession", Args], JsonValue]


@dataclass(frozen=True, slots=True)
class QmpCommand:
    """One registered command: its name, its arguments in schema order, its function."""

    name: str
    params: tuple[Param, ...]
    fn: CommandFn


#: Every command the server accepts, in registration order (``query-commands`` lists them).
COMMANDS: dict[str, QmpCommand] = {}


def qmp_command(name: str, *params: Param) -> Callable[[CommandFn], CommandFn]:
    """Register the decorated function as the QMP command ``name``.

    Args:
        name: the command name as clients ``execute`` it.
        params: its arguments, in QAPI schema order (which error QEMU reports first).
    """

    def register(fn: CommandFn) -> CommandFn:
        if name in COMMANDS:
            raise ValueError(f"QMP command {name} registered twice")
        COMMANDS[name] = QmpCommand(name, params, fn)
        return fn

    return register


_FORMAT = Param("format", "enum", True, ("hex", "base64"))

# dmamon run state -> QEMU RunState (qapi/run-state.json). A modelled crash or hang is a
# failure of the emulation that stops the guest until a reset: QEMU's "internal-error"
# (which also refuses ``cont`` with "Resetting the Virtual Machine is required"), not
# "guest-panicked", which means the guest OS reported its own panic.
_RUN_STATES: Final = {
    "running": "running",
    "paused": "paused",
    "prelaunch": "prelaunch",
    "crashed": "internal-error",
    "hung": "internal-error",
    "shutdown": "shutdown",
}


def _hmp_text(text: str) -> str:
    """HMP output as QEMU returns it over QMP: every line ends in CRLF."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    return text.replace("\n", "\r\n")


# -- session and run state -------------------------------------------------------------------


@qmp_command("qmp_capabilities", Param("enable", "caps", True))
def _qmp_capabilities(s: QmpSession, a: Args) -> JsonValue:
    if s.negotiated:
        raise QmpError(
            "Capabilities negotiation is already complete, command ignored", COMMAND_NOT_FOUND
        )
    enable = a.get("enable", [])
    assert isinstance(enable, list)
    if enable:
        # monitor/qmp-cmds-control.c qmp_caps_accept: we offer nothing
        raise QmpError(f"Capability {', '.join(dict.fromkeys(enable))} not available")
    s.negotiated = True
    s.resync()
    return None


@qmp_command("query-version")
def _query_version(s: QmpSession, a: Args) -> JsonValue:
    return s.version()


@qmp_command("query-commands")
def _query_commands(s: QmpSession, a: Args) -> JsonValue:
    return [{"name": n} for n in COMMANDS]


@qmp_command("query-status")
def _query_status(s: QmpSession, a: Args) -> JsonValue:
    status = _RUN_STATES.get(s.machine.run_state, s.machine.run_state)
    # StatusInfo members in schema order: running, singlestep, status
    return {"running": status == "running", "singlestep": False, "status": status}


@qmp_command("stop")
def _stop(s: QmpSession, a: Args) -> JsonValue:
    s.machine.stop()
    return None


@qmp_command("cont")
def _cont(s: QmpSession, a: Args) -> JsonValue:
    # softmmu/cpus.c qmp_cont: runstate_needs_reset() refuses
    if s.machine.halted or s.machine.run_state == "shutdown":
        raise QmpError("Resetting the Virtual Machine is required")
    s.machine.cont()
    return None


@qmp_command("system_reset")
def _system_reset(s: QmpSession, a: Args) -> JsonValue:
    s.reset_cause = (False, "host-qmp-system-reset")
    s.machine.system_reset()
    return None


@qmp_command("quit")
def _quit(s: QmpSession, a: Args) -> JsonValue:
    s.machine.shutdown(reason="host-qmp-quit")  # SHUTDOWN comes back over the bus
    s.quit = True
    return None


@qmp_command("human-monitor-command", Param("command-line", "str"), Param("cpu-index", "int", True))
def _human_monitor_command(s: QmpSession, a: Args) -> JsonValue:
    line = a["command-line"]
    assert isinstance(line, str)
    cpu = a.get("cpu-index")
    if cpu is not None and cpu != 0:
        # monitor/qmp-cmds.c qmp_human_monitor_command: dmamon models one CPU, index 0
        raise QmpError("Parameter 'cpu-index' expects a CPU number")
    words = line.split()
    first = words[0] if words else ""
    if first == "system_reset":
        s.reset_cause = (False, "host-qmp-system-reset")
    elif first == "loadvm":
        s.reset_cause = (False, "snapshot-load")
    try:
        text = s.hmp(line)
    except SystemExit:
        # HMP quit calls qmp_quit(): SHUTDOWN, then the monitor goes away
        s.machine.shutdown(reason="host-qmp-quit")
        s.quit = True
        return ""
    except Exception as e:  # the shell's bug; HMP failures are text, never QMP errors
        return _hmp_text(f"internal error: {type(e).__name__}: {e}")
    return _hmp_text(text if isinstance(text, str) else str(text))


# -- trace events -----------------------------------------------------------------------------


def _vcpu_check(a: Args) -> bool:
    vcpu = a.get("vcpu")
    if vcpu is None:
        return False
    assert isinstance(vcpu, int)
    if vcpu != 0:
        raise QmpError(f"invalid vCPU index {vcpu & 0xFFFFFFFF}")
    return True


def _trace_matches(name: str, has_vcpu: bool) -> list[TraceEvent]:
    """trace/qmp.c check_events + the matching events (dmamon has no vCPU events)."""
    if "*" not in name:
        ev = next((e for e in all_events() if e.name == name), None)
        if ev is None:
            raise QmpError(f'unknown event "{name}"')
        if has_vcpu:
            raise QmpError(f'event "{name}" is not vCPU-specific')
        return [ev]
    if has_vcpu:
        return []
    return ops.match_trace_events(name)


@qmp_command("trace-event-get-state", Param("name", "str"), Param("vcpu", "int", True))
def _trace_event_get_state(s: QmpSession, a: Args) -> JsonValue:
    name = a["name"]
    assert isinstance(name, str)
    matches = _trace_matches(name, _vcpu_check(a))
    # QAPI_LIST_PREPEND: the reply lists matches in reverse declaration order
    return [
        {"name": ev.name, "state": "enabled" if on else "disabled", "vcpu": False}
        for ev, on in reversed(ops.trace_event_states(s.machine, matches))
    ]


@qmp_command(
    "trace-event-set-state",
    Param("name", "str"),
    Param("enable", "bool"),
    Param("ignore-unavailable", "bool", True),
    Param("vcpu", "int", True),
)
def _trace_event_set_state(s: QmpSession, a: Args) -> JsonValue:
    name = a["name"]
    assert isinstance(name, str)
    matches = _trace_matches(name, _vcpu_check(a))
    ops.set_trace_events(s.machine, matches, bool(a["enable"]))
    return None


# -- memory -----------------------------------------------------------------------------------


@qmp_command("pmemsave", Param("val", "int"), Param("size", "int"), Param("filename", "str"))
def _pmemsave(s: QmpSession, a: Args) -> JsonValue:
    addr, size, filename = a["val"], a["size"], a["filename"]
    assert isinstance(addr, int) and isinstance(size, int) and isinstance(filename, str)
    try:
        f = open(filename, "wb")  # noqa: SIM115 - closed below, errors mapped
    except OSError as e:
        raise QmpError(
            f"Could not open '{filename}': {os.strerror(e.errno or errno.EIO)}"
        ) from None
    except ValueError:
        raise QmpError(f"Could not open '{filename}': {os.strerror(errno.EINVAL)}") from None
    if size < 0:
        # QEMU 7.2 opens the file, then loops until it crashes; refuse instead
        f.close()
        raise QmpError("Parameter 'size' expects a non-negative value")
    try:
        with f:
            ops.save_memory(s.machine, addr & _U64, size, f)
    except OSError:
        raise QmpError("An IO error has occurred") from None
    return None


@qmp_command("x-dmamon-memory-read", Param("addr", "uint64"), Param("size", "uint64"), _FORMAT)
def _memory_read(s: QmpSession, a: Args) -> JsonValue:
    addr, size = a["addr"], a["size"]
    assert isinstance(addr, int) and isinstance(size, int)
    if size > MAX_MEMORY_XFER:
        raise QmpError(f"Parameter 'size' expects a size of at most {MAX_MEMORY_XFER} bytes")
    res, data = ops.memory_read(s.machine, addr, size)
    text = base64.b64encode(data).decode("ascii") if a.get("format") == "base64" else data.hex()
    return {"data": text, "result": res.qemu_name()}


@qmp_command("x-dmamon-memory-write", Param("addr", "uint64"), Param("data", "str"), _FORMAT)
def _memory_write(s: QmpSession, a: Args) -> JsonValue:
    addr, text = a["addr"], a["data"]
    assert isinstance(addr, int) and isinstance(text, str)
    try:
        if a.get("format") == "base64":
            data = base64.b64decode(text, validate=True)
        else:
            data = bytes.fromhex(text)
    except (ValueError, binascii.Error):
        kind = "base64" if a.get("format") == "base64" else "an even number of hex digits"
        raise QmpError(f"Parameter 'data' expects {kind}") from None
    if len(data) > MAX_MEMORY_XFER:
        raise QmpError(f"Parameter 'data' expects at most {MAX_MEMORY_XFER} bytes")
    return {"result": ops.memory_write(s.machine, addr, data).qemu_name()}


# -- registers --------------------------------------------------------------------------------


def _register(s: QmpSession, a: Args) -> tuple[Device, RegisterBank, RegInfo]:
    dev_name, reg = a["device"], a["register"]
    assert isinstance(dev_name, str) and isinstance(reg, str)
    if dev_name not in s.machine.devices:
        raise QmpError(f"Device '{dev_name}' not found", DEVICE_NOT_FOUND)
    try:
        return ops.find_register(s.machine, dev_name, reg)
    except KeyError as e:
        raise QmpError(str(e.args[0]) if e.args else f"no register '{reg}'") from None


@qmp_command(
    "x-dmamon-reg-read",
    Param("device", "str"),
    Param("register", "str"),
    Param("peek", "bool", True),
)
def _reg_read(s: QmpSession, a: Args) -> JsonValue:
    dev, bank, info = _register(s, a)
    value = ops.reg_read(s.machine, dev, bank, info, peek=bool(a.get("peek")))
    fields = type(bank).decode(info.name, value)
    return {
        "device": a["device"],
        "register": info.name,
        "offset": info.offset,
        "width": info.width,
        "value": value,
        "fields": [{"name": n, "value": v} for n, v in fields],
    }


@qmp_command(
    "x-dmamon-reg-write",
    Param("device", "str"),
    Param("register", "str"),
    Param("value", "uint64"),
)
def _reg_write(s: QmpSession, a: Args) -> JsonValue:
    dev, bank, info = _register(s, a)
    value = a["value"]
    assert isinstance(value, int)
    if value >> info.width:
        raise QmpError(
            f"Parameter 'value' expects a value that fits {info.name} ({info.width} bits)"
        )
    ops.reg_write(s.machine, dev, bank, info, value)
    return None
