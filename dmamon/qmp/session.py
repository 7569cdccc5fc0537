"""One QMP conversation over a machine, with no I/O of its own (``feed(bytes) -> bytes``)."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from dmamon import __version__
from dmamon.memory import (
    MachineEvent,
    MachineHalted,
    NamedEvent,
    ResetEvent,
    RunStateChanged,
    ShutdownEvent,
)
from dmamon.qmp.base import (
    COMMAND_NOT_FOUND,
    GENERIC_ERROR,
    MAX_MESSAGE,
    QEMU_VERSION,
    HmpCallable,
    JsonValue,
    QmpError,
)
from dmamon.qmp.commands import COMMANDS
from dmamon.qmp.events import event_data, has_converter
from dmamon.qmp.ghash import qdict_order
from dmamon.qmp.json_lexer import JsonStreamParser, ParsedMessage
from dmamon.qmp.json_writer import line as _line
from dmamon.qmp.qapi import marshal

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = [
    "QmpSession",
]


class QmpSession:
    """One QMP conversation over a machine, with no I/O of its own.

    Feed it the client's bytes in any chunking; it returns the bytes to send back (events
    first, then replies, each a CRLF-terminated line). While open it listens to the
    machine's event bus (``machine.engine.events``); :meth:`close` (or leaving the
    ``with`` block) unsubscribes it. Run-state changes and resets become ``STOP``,
    ``RESUME`` and ``RESET`` when the command that caused them finishes (or at a halt);
    any other event whose class has a ``@payload_converter`` is sent as it happens.

    Args:
        machine: the machine the commands act on.
        hmp: runs one human-monitor command line and returns its output text (lines
            separated by ``\\n``; HMP errors are part of the text). Raising ``SystemExit``
            means the command was ``quit``.
        max_message: cap on one buffered incomplete JSON message, in bytes.

    Attributes:
        negotiated: True once ``qmp_capabilities`` succeeded.
        quit: True once ``quit`` ran; the session then ignores further input.
    """

    def __init__(
        self, machine: Machine, hmp: HmpCallable, *, max_message: int = MAX_MESSAGE
    ) -> None:
        self.machine = machine
        self.hmp = hmp
        self.negotiated = False
        self.quit = False
        self._parser = JsonStreamParser(max_size=max_message)
        self._events: list[bytes] = []
        # STOP/RESUME/RESET waiting for the end of the command that caused them
        self._pending: list[tuple[str, dict[str, JsonValue] | None]] = []
        self.reset_cause: tuple[bool, str] | None = None
        self._sub = machine.engine.events.subscribe(self._on_bus)
        self._open = True

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening to the machine (idempotent)."""
        if self._open:
            self._open = False
            self.machine.engine.events.unsubscribe(self._sub)

    def __enter__(self) -> QmpSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def version(self) -> dict[str, JsonValue]:
        """The ``query-version`` reply.

        Returns:
            ``{"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": "dmamon X.Y.Z"}``,
            also the greeting's ``version``.
        """
        major, minor, micro = QEMU_VERSION
        return {
            "qemu": {"major": major, "minor": minor, "micro": micro},
            "package": f"dmamon {__version__}",
        }

    def greeting(self) -> bytes:
        """The server greeting; no capabilities are offered (in particular no OOB).

        Returns:
            The CRLF-terminated line to send first on a new connection.
        """
        return _line({"QMP": {"version": self.version(), "capabilities": []}})

    # -- input -----------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Consume client bytes; return everything the server sends in response.

        Args:
            data: the next bytes from the client (partial, whole or several messages).

        Returns:
            Zero or more CRLF-terminated JSON lines (events precede the reply that caused
            them). Empty after ``quit``.
        """
        if self.quit:
            return b""
        out = bytearray()
        for msg in self._parser.feed(data):
            out += self._handle(msg)
            if self.quit:
                break
        return bytes(out)

    def _handle(self, msg: ParsedMessage) -> bytes:
        if msg.error is not None:
            return _line({"error": {"class": GENERIC_ERROR, "desc": msg.error}})
        req = msg.value
        if not isinstance(req, dict):
            return _line(
                {"error": {"class": GENERIC_ERROR, "desc": "QMP input must be a JSON object"}}
            )
        rsp: dict[str, JsonValue]
        try:
            ret = self._dispatch(req)
            rsp = {"return": {} if ret is None else ret}
        except QmpError as e:
            desc = e.desc
            if not self.negotiated and e.error_class == COMMAND_NOT_FOUND:
                # monitor/qmp.c monitor_qmp_dispatch: a more useful message in this mode
                desc = "Expecting capabilities negotiation with 'qmp_capabilities'"
            rsp = {"error": {"class": e.error_class, "desc": desc}}
        except Exception as e:  # a dmamon bug: answer it, never drop the client
            rsp = {
                "error": {
                    "class": GENERIC_ERROR,
                    "desc": f"internal error: {type(e).__name__}: {e}",
                }
            }
        if "id" in req:
            rsp["id"] = req["id"]
        events, self._events = self._events, []
        try:
            out = _line(rsp)
        except TypeError as e:  # a command returned something JSON cannot carry (a bug)
            rsp.pop("return", None)
            rsp["error"] = {"class": GENERIC_ERROR, "desc": f"internal error: {e}"}
            out = _line(rsp)
        return b"".join(events) + out

    def _dispatch(self, req: dict[str, JsonValue]) -> JsonValue:
        # qapi/qmp-dispatch.c qmp_dispatch_check_obj: members in QDict order. No OOB is
        # offered, so "exec-oob" is just another unexpected member.
        name: str | None = None
        for key in qdict_order(req):
            value = req[key]
            if key == "execute":
                if not isinstance(value, str):
                    raise QmpError("QMP input member 'execute' must be a string")
                name = value
            elif key == "arguments":
                if not isinstance(value, dict):
                    raise QmpError("QMP input member 'arguments' must be an object")
            elif key != "id":
                raise QmpError(f"QMP input member '{key}' is unexpected")
        if name is None:
            raise QmpError("QMP input lacks member 'execute'")
        cmd = COMMANDS.get(name)
        if cmd is None or (not self.negotiated and name != "qmp_capabilities"):
            raise QmpError(f"The command {name} has not been found", COMMAND_NOT_FOUND)
        raw = req.get("arguments", {})
        assert isinstance(raw, dict)
        kwargs = marshal(cmd.params, raw)
        if not self.negotiated:
            return cmd.fn(self, kwargs)
        try:
            return cmd.fn(self, kwargs)
        finally:
            self.machine.after_command()
            self._sync_state()
            self.reset_cause = None

    # -- events ----------------------------------------------------------------------------

    def emit(self, name: str, data: dict[str, JsonValue] | None = None) -> None:
        """Queue an event (dropped before negotiation, as QEMU does).

        Args:
            name: the event name.
            data: its ``data`` member, or None for an event without one.
        """
        if not self.negotiated or self.quit:
            return
        ns = self.machine.now_ns
        ev: dict[str, JsonValue] = {
            "event": name,
            "timestamp": {"seconds": ns // 1_000_000_000, "microseconds": ns // 1000 % 1_000_000},
        }
        if data is not None:
            ev["data"] = data
        self._events.append(_line(ev))

    def resync(self) -> None:
        """Take the machine's run state and resets so far as seen (no events for them)."""
        self._pending.clear()

    def _sync_state(self) -> None:
        """Emit the RESET/STOP/RESUME events collected since the last look."""
        pending, self._pending = self._pending, []
        for name, data in pending:
            self.emit(name, data)

    def _on_bus(self, event: MachineEvent) -> None:
        # Called from inside device models: it must not raise into them.
        try:
            self._route(event)
        except Exception:  # a payload that cannot be encoded is dropped, never fatal
            pass

    def _route(self, event: MachineEvent) -> None:
        if isinstance(event, RunStateChanged):
            was, now = event.old == "running", event.new == "running"
            # softmmu/runstate.c vm_shutdown stops without a STOP event
            if was and not now and event.new != "shutdown":
                self._pending.append(("STOP", None))
            elif now and not was:
                self._pending.append(("RESUME", None))
        elif isinstance(event, ResetEvent):
            guest, reason = self.reset_cause or (event.guest, event.reason)
            self._pending.append(("RESET", {"guest": guest, "reason": reason}))
        elif isinstance(event, ShutdownEvent):
            self.emit("SHUTDOWN", {"guest": event.guest, "reason": event.reason})
        elif isinstance(event, MachineHalted):
            self.emit(event.name, event_data(event))
            self._sync_state()
        elif isinstance(event, NamedEvent):
            self.emit(event.name, event_data(event.payload))
        elif has_converter(event):
            self.emit(event.name, event_data(event))
