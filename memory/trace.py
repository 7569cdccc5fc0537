"""Trace events, log items and the per-machine tracer.

Events are declared once per layer in a ``trace_events.py`` module, as QEMU declares
them in its ``trace-events`` files; whether they are enabled, and where records go, is
state of one machine's :class:`Tracer`, so two machines in one process never interfere.

A disabled event costs one set-membership check at the call site::

    if ev.memory_region_ops_read in tracer.enabled:
        tracer.emit(ev.memory_region_ops_read, ...)
"""

from __future__ import annotations

import re
import string
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TextIO

from dmamon.memory.errors import ConfigError
from dmamon.memory.glob import glob_match, is_glob

__all__ = [
    "LOG_ITEMS",
    "FileSink",
    "TraceEvent",
    "TraceRecord",
    "Tracer",
    "all_events",
]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_REGISTRY: dict[str, TraceEvent] = {}


class TraceEvent:
    """A declared trace event: a unique snake_case name and a ``str.format`` template.

    Args:
        name: unique name, QEMU's where QEMU has the event.
        fmt: template whose ``{field}`` names are the event's fields.

    Raises:
        ConfigError: the name is not snake_case or is already declared.
    """

    __slots__ = ("fields", "fmt", "name")

    def __init__(self, name: str, fmt: str) -> None:
        if not _NAME_RE.match(name):
            raise ConfigError(f"trace event name must be snake_case, not {name!r}")
        if name in _REGISTRY:
            raise ConfigError(f"trace event {name!r} is declared twice")
        self.name = name
        self.fmt = fmt
        self.fields = frozenset(
            f for _, f, _, _ in string.Formatter().parse(fmt) if f is not None and f != ""
        )
        _REGISTRY[name] = self

    def format(self, fields: dict[str, object]) -> str:
        """Render one record's text (``NAME args``, QEMU's log-backend layout).

        Raises:
            TypeError: the fields do not match the declaration (a bug at the call site).
        """
        if set(fields) != self.fields:
            raise TypeError(
                f"trace event {self.name!r} takes {sorted(self.fields)}, got {sorted(fields)}"
            )
        return f"{self.name} {self.fmt.format(**fields)}"

    def __repr__(self) -> str:
        return f"TraceEvent({self.name!r})"


def all_events() -> list[TraceEvent]:
    """Every declared event, in declaration order."""
    return list(_REGISTRY.values())


# QEMU 7.2's descriptions for the items dmamon produces (util/log.c, qemu_log_items).
LOG_ITEMS: dict[str, str] = {
    "unimp": "log unimplemented functionality",
    "guest_errors": "log when the guest OS does something invalid (eg accessing a\n"
    "non-existent register)",
}


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One line of trace or log output.

    Attributes:
        seq: monotonically increasing number within the tracer.
        time_ns: virtual time when it was recorded.
        kind: ``"trace"``, ``"log"`` (a log item such as guest_errors), ``"warning"``, or
            ``"console"`` (a line the model prints unconditionally).
        name: event name, log item, or ``"warning"``.
        text: the line as QEMU would print it.
        fields: the event's arguments by name (``dev``, ``addr``, ``size``, ``value``,
            ``result``, ...), as the call site passed them, for exporters that want
            values rather than text; empty for records made without fields (warnings,
            console lines); not part of equality. Only enabled events are recorded, so
            a disabled event still costs one set-membership check and builds nothing.
    """

    seq: int
    time_ns: int
    kind: str
    name: str
    text: str
    fields: Mapping[str, object] = field(default_factory=lambda: _EMPTY, compare=False)


Sink = Callable[[TraceRecord], None]
_EMPTY: Mapping[str, object] = MappingProxyType({})


class FileSink:
    """Writes each record's text as a line to an open text file (QEMU ``logfile``)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, rec: TraceRecord) -> None:
        self.stream.write(rec.text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Close the underlying file."""
        self.stream.close()


class Tracer:
    """One machine's trace and log state.

    Args:
        now: returns the current virtual time in ns.
        ring_size: how many records the in-memory ring keeps.
    """

    def __init__(self, now: Callable[[], int], ring_size: int = 10_000) -> None:
        self.now = now
        self.enabled: set[TraceEvent] = set()
        self.log_items: set[str] = set()
        self.ring: deque[TraceRecord] = deque(maxlen=ring_size)
        self.sinks: list[Sink] = []
        self.seq = 0
        self._warned: set[str] = set()

    # -- state ---------------------------------------------------------------------------

    def set_state(self, pattern: str, on: bool) -> list[TraceEvent]:
        """Enable or disable events by exact name or glob (QEMU: a glob iff it has ``*``).

        Returns:
            The events matched (empty for a glob that matches nothing).

        Raises:
            KeyError: an exact name that no event has (``unknown event "x"``).
        """
        if is_glob(pattern):  # QEMU: a name is a pattern iff it has '*' (then ? works too)
            matched = [e for e in all_events() if glob_match(pattern, e.name)]
        else:
            ev = _REGISTRY.get(pattern)
            if ev is None:
                raise KeyError(f'unknown event "{pattern}"')
            matched = [ev]
        for ev in matched:
            if on:
                self.enabled.add(ev)
            else:
                self.enabled.discard(ev)
        return matched

    def set_log_items(self, items: Iterable[str]) -> None:
        """Replace the log mask, as QEMU's ``log`` does; ``trace:PAT`` enables events.

        Raises:
            KeyError: an unknown item.
        """
        new: set[str] = set()
        for item in items:
            if item.startswith("trace:"):
                self.set_state(item[len("trace:") :], True)
            elif item == "none":
                continue
            elif item in LOG_ITEMS:
                new.add(item)
            else:
                raise KeyError(item)
        self.log_items = new

    # -- recording -----------------------------------------------------------------------

    def _record(
        self, kind: str, name: str, text: str, fields: Mapping[str, object] | None = None
    ) -> None:
        self.seq += 1
        rec = TraceRecord(
            self.seq, self.now(), kind, name, text, _EMPTY if fields is None else fields
        )
        self.ring.append(rec)
        for sink in self.sinks:
            sink(rec)

    def emit(self, ev: TraceEvent, **fields: object) -> None:
        """Record an event if it is enabled."""
        if ev in self.enabled:
            # ``fields`` is this call's own keyword dict: wrap it, no copy needed.
            self._record("trace", ev.name, ev.format(fields), MappingProxyType(fields))

    def log(self, item: str, text: str, fields: Mapping[str, object] | None = None) -> None:
        """Record a log line under ``item`` (e.g. ``guest_errors``) if the mask has it;
        ``fields`` (optional) are its values by name, kept in :attr:`TraceRecord.fields`."""
        if item in self.log_items:
            self._record(
                "log", item, text, None if fields is None else MappingProxyType(dict(fields))
            )

    def warn(self, text: str) -> None:
        """Record a warning; warnings are always shown (QEMU ``warn_report``)."""
        self._record("warning", "warning", f"warning: {text}")

    def console(self, text: str) -> None:
        """Record a line a model prints unconditionally (QEMU code that uses printf)."""
        self._record("console", "console", text)

    def warn_once(self, key: str, text: str) -> None:
        """Record a warning the first time ``key`` is seen (QEMU ``warn_report_once``)."""
        if key not in self._warned:
            self._warned.add(key)
            self.warn(text)

    def records_since(self, seq: int) -> list[TraceRecord]:
        """Records in the ring with a sequence number above ``seq``."""
        return [r for r in self.ring if r.seq > seq]

    def save_state(self) -> dict[str, Any]:
        """Which events are enabled and the log mask (not the ring or the sinks)."""
        names = sorted(e.name for e in self.enabled)
        fields = {"enabled": names, "log_items": sorted(self.log_items)}
        return {"name": "tracer", "version": 1, "fields": fields}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`save_state`'s output.

        Raises:
            ConfigError: another section's state or an event no longer declared.
        """
        if state.get("name") != "tracer" or state.get("version") != 1:
            raise ConfigError(f"state of {state.get('name')!r} cannot load into 'tracer'")
        f = state["fields"]
        unknown = [n for n in f["enabled"] if n not in _REGISTRY]
        if unknown:
            raise ConfigError(f"tracer: unknown events {', '.join(unknown)}")
        self.enabled.clear()  # in place: call sites may hold the set
        self.enabled.update(_REGISTRY[n] for n in f["enabled"])
        self.log_items = {i for i in f["log_items"] if i in LOG_ITEMS}

    def reset_warnings(self) -> None:
        """Forget which one-time warnings were given (on machine reset)."""
        self._warned.clear()
