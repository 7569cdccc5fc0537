"""The device base class: name, properties, regions, timers, guard, sim heap, reset.

Device types register themselves by class keyword (``class Edu(PciDevice,
type_name="edu")``) in :data:`DEVICE_TYPES`; the machine builds them from QEMU-style
specs. Guest mistakes are logged (``guest_errors``/``unimp``) and the model carries on;
configuration mistakes raise :class:`~dmamon.memory.ConfigError` at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from dmamon.devices import trace_events as ev
from dmamon.devices.props import Prop
from dmamon.devices.regs import RegisterBank, validate_hooks
from dmamon.memory import BottomHalf, ConfigError, MachineHalt, MemReentrancyGuard, Timer

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = ["DEVICE_TYPES", "Device", "SimHeap", "SimObject"]

DEVICE_TYPES: dict[str, type[Device]] = {}


class SimObject:
    """A device-side object whose lifetime the sim heap tracks (a packet, a transfer)."""

    __slots__ = ("alive", "freed_at", "kind", "number", "payload")

    def __init__(self, kind: str, number: int, payload: object = None) -> None:
        self.kind = kind
        self.number = number
        self.payload = payload
        self.alive = True
        self.freed_at = ""

    @property
    def label(self) -> str:
        """``rx-packet#3``."""
        return f"{self.kind}#{self.number}"


class SimHeap:
    """Tracks objects a device frees and may touch later; a use after free stops the
    machine as ``crashed`` with ``SIM-UAF: OBJECT freed at SITE, used at SITE`` — the
    stand-in for the ASAN reports in the bug trackers."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.count = 0
        self.live: dict[int, SimObject] = {}

    def alloc(self, kind: str, site: str, payload: object = None) -> SimObject:
        """A new live object."""
        self.count += 1
        obj = SimObject(kind, self.count, payload)
        self.live[obj.number] = obj
        self.device.tracer.emit(ev.sim_heap_alloc, dev=self.device.name, obj=obj.label, site=site)
        return obj

    def free(self, obj: SimObject, site: str) -> None:
        """Free an object (a double free is a crash too)."""
        if not obj.alive:
            self.use(obj, site)
        obj.alive = False
        obj.freed_at = site
        self.live.pop(obj.number, None)
        self.device.tracer.emit(ev.sim_heap_free, dev=self.device.name, obj=obj.label, site=site)

    def use(self, obj: SimObject, site: str) -> None:
        """Touch an object.

        Raises:
            MachineHalt: the object was freed (caught at the activation boundary).
        """
        if not obj.alive:
            raise MachineHalt(
                "crashed",
                f"SIM-UAF: {self.device.name} {obj.label} freed at {obj.freed_at}, used at {site}",
            )

    def clear(self) -> None:
        """Forget everything (device reset)."""
        self.live.clear()


class Device:
    """Base of every device model.

    Args:
        machine: the machine the device is plugged into.
        name: unique name (the ``id=`` of the spec).
        props: parsed property values (every declared property present).
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    props: ClassVar[tuple[Prop, ...]] = ()
    register_banks: ClassVar[tuple[type[RegisterBank], ...]] = ()
    user_creatable: ClassVar[bool] = True

    def __init_subclass__(cls, type_name: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.register_banks:
            validate_hooks(cls, *cls.register_banks)
        if type_name is not None:
            if type_name in DEVICE_TYPES:
                raise ConfigError(f"device type {type_name!r} is registered twice")
            cls.type_name = type_name
            DEVICE_TYPES[type_name] = cls

    def __init__(self, machine: Machine, name: str, props: dict[str, int | bool | str]) -> None:
        self.machine = machine
        self.name = name
        self.prop_values = props
        self.qdev_id = name  # QEMU's id= ("" when the user gave none)
        self.engine = machine.engine
        self.tracer = machine.engine.tracer
        self.guard = MemReentrancyGuard()
        self.heap = SimHeap(self)
        self._timers: list[Timer] = []
        self._bhs: list[BottomHalf] = []

    @classmethod
    def prop(cls, name: str) -> Prop:
        """A declared property by name.

        Raises:
            ConfigError: no such property (``Property 'edu.x' not found``, QEMU's words).
        """
        for p in cls.props:
            if p.name == name:
                return p
        raise ConfigError(f"Property '{cls.type_name}.{name}' not found")

    # -- lifecycle -------------------------------------------------------------------------

    def realize(self) -> None:
        """Build regions and wire the device into the machine (called once)."""

    def unrealize(self) -> None:
        """Undo :meth:`realize` (device_del)."""
        for t in self._timers:
            t.cancel()
        for b in self._bhs:
            b.cancel()

    def reset(self) -> None:
        """Return to the power-on state."""
        self.guard.engaged_in_io = False
        self.heap.clear()
        for t in self._timers:
            t.cancel()
        for b in self._bhs:
            b.cancel()

    # -- helpers for models ----------------------------------------------------------------

    def new_timer(self, name: str, callback: Callable[[], None], guarded: bool = False) -> Timer:
        """A timer owned by this device; ``guarded`` ties it to the re-entrancy guard."""
        t = self.engine.clock.timer(
            callback, f"{self.name}.{name}", self.guard if guarded else None
        )
        self._timers.append(t)
        return t

    def new_bh(self, name: str, callback: Callable[[], None], guarded: bool = True) -> BottomHalf:
        """A bottom half owned by this device (guarded by default, as QEMU 8.1's
        ``qemu_bh_new_guarded`` is for device BHs)."""
        b = self.engine.clock.bh(callback, f"{self.name}.{name}", self.guard if guarded else None)
        self._bhs.append(b)
        return b

    def guest_error(self, text: str) -> None:
        """Log a guest mistake under ``guest_errors`` (QEMU ``LOG_GUEST_ERROR``)."""
        self.tracer.log("guest_errors", text)

    def unimp(self, text: str) -> None:
        """Log unimplemented functionality under ``unimp`` (QEMU ``LOG_UNIMP``)."""
        self.tracer.log("unimp", text)

    def banks(self) -> dict[str, RegisterBank]:
        """The device's register banks by name, for ``info registers`` and ``reg``."""
        return {}

    def qtree_props(self) -> list[tuple[str, str]]:
        """``info qtree`` property lines as (name, rendered value)."""
        out = []
        for p in self.props:
            v = self.prop_values[p.name]
            if p.kind == "uint":
                assert isinstance(v, int)
                out.append((p.name, f"{v} ({v:#x})"))
            elif p.kind == "bool":
                out.append((p.name, "true" if v else "false"))
            else:
                out.append((p.name, f'"{v}"'))
        return out

    def status_lines(self) -> list[str]:
        """Extra state for ``info device``; models add to it."""
        return []
