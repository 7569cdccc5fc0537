"""The machine's event bus: typed, synchronous, deterministic machine events.

One :class:`EventBus` per machine, owned by the engine (``engine.events``). Publishers
(the kernel, device models, the machine) call :meth:`EventBus.emit` with a
:class:`MachineEvent`; every subscriber whose kinds match is called right away, in the
order it subscribed, before ``emit`` returns. Nothing is queued and nothing runs in the
background, so a script sees events in the same order on every run.

Subscribing, for a front end such as QMP or a trace exporter::

    sub = engine.events.subscribe(on_event)                     # every event
    sub = engine.events.subscribe(on_fault, IommuFaulted)      # one kind
    ...
    engine.events.unsubscribe(sub)

Each event has a QEMU-style upper-case ``name`` (the QMP event name where QMP has one)
and typed fields. A layer that has no class for its event yet publishes a
:class:`NamedEvent` with :meth:`EventBus.publish` (``publish("DMAMON_X", {...})``).

A subscriber must not raise: a publisher is often a device model in the middle of an
access. If one does, the bus hands the exception to ``on_error`` (the engine records a
warning line) and carries on with the next subscriber.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from dmamon.memory.errors import MachineHalt
    from dmamon.memory.iommu import IOMMUFault
    from dmamon.memory.txn import MemTxResult

__all__ = [
    "DmaFailed",
    "EventBus",
    "IommuFaulted",
    "MachineEvent",
    "MachineHalted",
    "NamedEvent",
    "ReentrancyBlocked",
    "ResetEvent",
    "RunStateChanged",
    "ShutdownEvent",
    "Subscription",
]


class MachineEvent:
    """Base of every machine event; subclasses are frozen dataclasses with a ``NAME``."""

    __slots__ = ()
    NAME: ClassVar[str] = "DMAMON_EVENT"

    @property
    def name(self) -> str:
        """The event's upper-case name (QMP's, where QMP has the event)."""
        return self.NAME


@dataclass(frozen=True)
class RunStateChanged(MachineEvent):
    """The run state moved (``running``, ``paused``, ``prelaunch``, ``crashed``, ...).

    QMP turns a change away from ``running`` into ``STOP`` and back into ``RESUME``.
    """

    NAME: ClassVar[str] = "DMAMON_RUN_STATE"
    old: str
    new: str


@dataclass(frozen=True)
class ResetEvent(MachineEvent):
    """A system reset (QMP ``RESET``)."""

    NAME: ClassVar[str] = "RESET"
    guest: bool
    reason: str


@dataclass(frozen=True)
class ShutdownEvent(MachineEvent):
    """The machine is shutting down (QMP ``SHUTDOWN``)."""

    NAME: ClassVar[str] = "SHUTDOWN"
    guest: bool
    reason: str


@dataclass(frozen=True)
class MachineHalted(MachineEvent):
    """A modelled device crash or hang stopped the machine."""

    NAME: ClassVar[str] = "DMAMON_MACHINE_HALT"
    halt: MachineHalt


@dataclass(frozen=True)
class ReentrancyBlocked(MachineEvent):
    """The re-entrancy guard refused an access into a device already in I/O."""

    NAME: ClassVar[str] = "DMAMON_REENTRANCY_BLOCKED"
    device: str
    region: str
    offset: int
    is_write: bool


@dataclass(frozen=True)
class IommuFaulted(MachineEvent):
    """An IOMMU refused a translation."""

    NAME: ClassVar[str] = "DMAMON_IOMMU_FAULT"
    fault: IOMMUFault


@dataclass(frozen=True)
class DmaFailed(MachineEvent):
    """A device's DMA read or write did not fully succeed (hole, refused translation,
    bus mastering off)."""

    NAME: ClassVar[str] = "DMAMON_DMA_FAILED"
    device: str
    requester_id: int
    addr: int
    length: int
    is_write: bool
    result: MemTxResult
    fail_addr: int | None


@dataclass(frozen=True)
class NamedEvent(MachineEvent):
    """An event by name with a free payload (for publishers with no class of their own)."""

    event_name: str
    payload: object = None

    @property
    def name(self) -> str:
        """The name given at publication."""
        return self.event_name


EventCallback = Callable[[MachineEvent], None]


@dataclass(eq=False, slots=True)
class Subscription:
    """A handle returned by :meth:`EventBus.subscribe`; pass it to ``unsubscribe``."""

    callback: EventCallback
    kinds: tuple[type[MachineEvent], ...] = ()
    active: bool = field(default=True)

    def wants(self, event: MachineEvent) -> bool:
        """Whether this subscription receives ``event``."""
        return not self.kinds or isinstance(event, self.kinds)


def _reraise(exc: Exception, sub: Subscription, event: MachineEvent) -> None:
    raise exc


class EventBus:
    """Synchronous publish/subscribe of :class:`MachineEvent` for one machine.

    Args:
        on_error: called with (exception, subscription, event) when a subscriber raises;
            the default re-raises.
    """

    def __init__(
        self,
        on_error: Callable[[Exception, Subscription, MachineEvent], None] = _reraise,
    ) -> None:
        self._subs: list[Subscription] = []
        self.on_error = on_error

    def subscribe(self, callback: EventCallback, *kinds: type[MachineEvent]) -> Subscription:
        """Call ``callback(event)`` for every later event of one of ``kinds`` (all when
        none are given), after the subscribers already there."""
        sub = Subscription(callback, kinds)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription | EventCallback) -> bool:
        """Stop a subscription (or every subscription of a callback).

        Returns:
            Whether anything was removed; removing twice is harmless.
        """
        keep = []
        removed = False
        for s in self._subs:
            if s is sub or s.callback == sub:
                s.active = False
                removed = True
            else:
                keep.append(s)
        self._subs = keep
        return removed

    @property
    def has_subscribers(self) -> bool:
        """Whether anyone listens (publishers may skip building an event otherwise)."""
        return bool(self._subs)

    def subscribers(self) -> list[Subscription]:
        """The active subscriptions in delivery order."""
        return list(self._subs)

    def emit(self, event: MachineEvent) -> None:
        """Deliver ``event`` to every matching subscriber, in subscription order.

        A subscriber added during delivery gets the next event, not this one; one
        removed during delivery gets nothing more.
        """
        for sub in tuple(self._subs):
            if sub.active and sub.wants(event):
                try:
                    sub.callback(event)
                except Exception as exc:  # noqa: BLE001 - handed to on_error
                    self.on_error(exc, sub, event)

    def publish(self, name: str, payload: object = None) -> None:
        """Emit a :class:`NamedEvent` (``publish("DMAMON_IOMMU_FAULT", fault)``)."""
        self.emit(NamedEvent(name, payload))
