"""The machine's event bus and the registry that turns bus payloads into event ``data``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from dmamon.memory import IOMMUFault, IommuFaulted, MachineHalt, MachineHalted, format_bdf
from dmamon.qmp.base import JsonValue

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = [
    "PayloadConverter",
    "event_data",
    "has_converter",
    "jsonable",
    "payload_converter",
    "publish_event",
]

#: Turns one kind of bus payload into an event's ``data`` member.
PayloadConverter = Callable[[Any], "dict[str, JsonValue]"]

#: Payload type -> converter; :func:`event_data` looks a payload's classes up in MRO order.
_CONVERTERS: dict[type, PayloadConverter] = {}

T = TypeVar("T")


def payload_converter(
    kind: type[T],
) -> Callable[[Callable[[T], dict[str, JsonValue]]], Callable[[T], dict[str, JsonValue]]]:
    """Register the converter for bus payloads of type ``kind`` (and its subclasses).

    A device family that publishes its own payload type adds one function here instead of
    a branch in the session::

        @payload_converter(MyEvent)
        def _my_event(ev: MyEvent) -> dict[str, JsonValue]:
            return {"queue": ev.queue}
    """

    def register(fn: Callable[[T], dict[str, JsonValue]]) -> Callable[[T], dict[str, JsonValue]]:
        _CONVERTERS[kind] = fn
        return fn

    return register


def publish_event(machine: Machine, name: str, payload: object = None) -> None:
    """Publish a named event on the machine's bus, ``machine.engine.events``.

    Args:
        machine: the machine.
        name: event name, upper case as QEMU's (``DMAMON_IOMMU_FAULT``).
        payload: a dict of JSON values, an IOMMUFault, a MachineHalt or None.
    """
    machine.engine.events.publish(name, payload)


def has_converter(event: object) -> bool:
    """Whether a QMP session forwards this bus event (its class has a converter)."""
    return any(cls in _CONVERTERS for cls in type(event).__mro__)


def event_data(payload: object) -> dict[str, JsonValue] | None:
    """A bus payload as an event's ``data`` member.

    None stays None (an event without ``data``); a registered payload type goes through
    its converter; any other dict is made JSON-safe member by member, and anything else
    becomes ``{"value": ...}``.
    """
    if payload is None:
        return None
    for cls in type(payload).__mro__:
        conv = _CONVERTERS.get(cls)
        if conv is not None:
            return conv(payload)
    return {"value": jsonable(payload)}


@payload_converter(IOMMUFault)
def _iommu_fault(fault: IOMMUFault) -> dict[str, JsonValue]:
    data: dict[str, JsonValue] = {
        "requester-id": fault.requester_id,
        "bdf": format_bdf(fault.requester_id),
        "iova": fault.iova,
        "perm": (fault.perm.name or "none").lower(),
        "reason": fault.reason,
    }
    if fault.event:
        data["iommu-event"] = fault.event
    return data


@payload_converter(IommuFaulted)
def _iommu_faulted(ev: IommuFaulted) -> dict[str, JsonValue]:
    return _iommu_fault(ev.fault)


@payload_converter(MachineHalt)
def _machine_halt(h: MachineHalt) -> dict[str, JsonValue]:
    return {"kind": h.kind, "summary": h.summary, "report": h.report()}


@payload_converter(MachineHalted)
def _machine_halted(ev: MachineHalted) -> dict[str, JsonValue]:
    return _machine_halt(ev.halt)


@payload_converter(dict)
def _plain_dict(d: dict[object, object]) -> dict[str, JsonValue]:
    return {str(k): jsonable(v) for k, v in d.items()}


def jsonable(v: object, depth: int = 0) -> JsonValue:
    """A publisher's value as JSON: containers kept, bytes as hex, anything else as str."""
    if v is None or isinstance(v, str | int | float | bool):
        return v
    if depth > 32:
        return str(v)
    if isinstance(v, dict):
        return {str(k): jsonable(x, depth + 1) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x, depth + 1) for x in v]
    if isinstance(v, bytes | bytearray):
        return bytes(v).hex()
    return str(v)
