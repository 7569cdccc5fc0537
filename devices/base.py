"""The device base class: name, properties, regions, timers, guard, sim heap, reset.

Device types register themselves by class keyword (``class Edu(PciDevice,
type_name="edu")``) in :data:`DEVICE_TYPES`; the machine builds them from QEMU-style
specs. Guest mistakes are logged (``guest_errors``/``unimp``) and the model carries on;
configuration mistakes raise :class:`~dmamon.memory.ConfigError` at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from dmamon.devices import trace_events as ev
from dmamon.devices.props import DeviceProps, Prop, build_props, props_of
from dmamon.devices.regs import RegisterBank, validate_hooks
from dmamon.memory import (
    BottomHalf,
    ConfigError,
    MachineHalt,
    MemoryRegion,
    MemReentrancyGuard,
    MmioOps,
    Timer,
)
from dmamon.memory.vmstate import (
    StateError,
    StateField,
    VMStateDescription,
    load_state,
    save_state,
)

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = ["DEVICE_TYPES", "Device", "DeviceInfo", "SimHeap", "SimObject"]

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


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What every device tells ``info device``: its identity.

    Attributes:
        name: the machine's name for it (its ``id=``, or an internal name when anonymous).
        type_name: the device type (``edu``).
        qdev_id: QEMU's ``id`` ("" when added without one).
    """

    name: str
    type_name: str
    qdev_id: str


class Device:
    """Base of every device model.

    Properties: a device type declares them as a frozen dataclass named ``Props``
    (a `DeviceProps` subclass with `prop` fields); ``props`` (the `Prop` tuple the
    ``-device`` parser and ``info qtree`` use) is derived from it, and the parsed values
    are ``self.properties`` with their real types. ``prop_values`` keeps the raw dict.

    Args:
        machine: the machine the device is plugged into.
        name: unique name (the ``id=`` of the spec).
        props: parsed property values (every declared property present).
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Props: ClassVar[type[DeviceProps]] = DeviceProps
    props: ClassVar[tuple[Prop, ...]] = ()
    register_banks: ClassVar[tuple[type[RegisterBank], ...]] = ()
    user_creatable: ClassVar[bool] = True

    def __init_subclass__(cls, type_name: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "Props" in cls.__dict__:
            cls.props = props_of(cls.Props)
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
        self.properties: DeviceProps = build_props(type(self).Props, props)
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

    def io_region(
        self,
        name: str,
        size: int,
        read: Callable[[int, int], int],
        write: Callable[[int, int, int], None] | None = None,
        valid: tuple[int, int] = (1, 4),
        impl: tuple[int, int] = (1, 4),
    ) -> MemoryRegion:
        """An MMIO/PIO region owned by this device (QEMU ``memory_region_init_io``).

        Args:
            name: the region's name (``edu-mmio``).
            size: its size in bytes.
            read: ``read(offset, size) -> value``.
            write: ``write(offset, value, size)``; None ignores writes.
            valid: the access sizes the region accepts (``.valid.min/max_access_size``).
            impl: the sizes ``read``/``write`` handle (``.impl``); others are split.
        """
        ops = MmioOps(
            read=read, valid_min=valid[0], valid_max=valid[1], impl_min=impl[0], impl_max=impl[1]
        )
        if write is not None:
            ops = dataclasses.replace(ops, write=write)
        return MemoryRegion.io_region(name, size, ops, owner=self)

    def banks(self) -> dict[str, RegisterBank]:
        """The device's register banks by name, for ``info registers`` and ``reg``."""
        return {}

    def info(self) -> object:
        """Typed records (frozen dataclasses) for ``info device``; models extend it."""
        return DeviceInfo(self.name, self.type_name, self.qdev_id)

    # -- save and restore (dmamon.memory.vmstate) ------------------------------------------

    # Attributes a device type adds to its saved state (subclasses extend the tuple).
    state_fields: ClassVar[tuple[str, ...]] = ()
    state_version: ClassVar[int] = 1

    @classmethod
    def vmstate(cls) -> VMStateDescription:
        """The type's state: its banks' stored values, sim heap, guard, ``state_fields``."""
        names = ("_saved_banks", "_saved_heap", "_saved_guard", *cls.state_fields)
        return VMStateDescription(
            cls.type_name,
            cls.state_version,
            tuple(StateField(n) for n in names),
            pre_save="_pre_save",
            post_load="_post_load",
        )

    def save_state(self) -> dict[str, Any]:
        """This device's state (deep copies; timers are the clock's state)."""
        return save_state(self, self.vmstate())

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`save_state` saved.

        Raises:
            StateError: the state belongs to another type or version.
        """
        load_state(self, self.vmstate(), state)

    def _pre_save(self) -> None:
        self._saved_banks = {n: b.snapshot() for n, b in self.banks().items()}
        self._saved_heap = (self.heap.count, self.heap.live)
        self._saved_guard = self.guard.engaged_in_io

    def _post_load(self) -> None:
        banks = self.banks()
        for n, values in self._saved_banks.items():
            if n not in banks:
                raise StateError(f"{self.type_name}: saved state has no bank {n!r} here")
            banks[n].restore(values)
        self.heap.count, self.heap.live = self._saved_heap
        self.guard.engaged_in_io = self._saved_guard
        self.post_load()

    def post_load(self) -> None:
        """Recompute derived state after a load (mappings, IRQ lines); models extend it."""

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
