"""The machine: the composition root that wires memory, buses, clock, tracer and devices.

The default board is q35-like: RAM below 4 GiB (above it when larger than QEMU's q35
split), a PCI host bridge at 00:00.0 with configuration mechanism #1 on ports
0xcf8/0xcfc, the ICH9 reset control at 0xcf9 and the MSI window at 0xfee00000. Devices
come from QEMU-style specs and take PCI slots in the order QEMU gives them for the same
``-device`` list, so a QEMU qtest reproducer addresses the same functions here. Without
firmware, BARs start unassigned, as in QEMU with ``-S``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dmamon.devices import trace_events as ev
from dmamon.devices.base import DEVICE_TYPES, Device
from dmamon.devices.pci.device import HostBridge, PciBus, PciDevice, PciHost, devfn
from dmamon.devices.pci.ich9 import Ich9Ahci, Ich9Lpc, Ich9Smbus
from dmamon.devices.props import DeviceSpec, parse_device_spec
from dmamon.memory import (
    AddressSpace,
    ConfigError,
    DmaTracker,
    Engine,
    EventBus,
    Fixes,
    MachineHalt,
    MemoryRegion,
    MmioOps,
    ResetEvent,
    RunStateChanged,
    ShutdownEvent,
    Tracer,
    VirtualClock,
    transaction,
)

if TYPE_CHECKING:
    from dmamon.devices.regs import RegisterBank

__all__ = ["DEFAULT_DEVICES", "MACHINE_TYPES", "Machine", "parse_size"]

MiB = 1 << 20
GiB = 1 << 30
DEFAULT_RAM = 128 * MiB
DEFAULT_DEVICES = ("edu,id=edu0",)
MACHINE_TYPES = {"q35": "Standard PC (Q35 + ICH9, 2009), dmamon's model"}
MSI_WINDOW = 0xFEE00000
RUN_STATES = ("running", "paused", "prelaunch", "crashed", "hung", "shutdown")


def parse_size(text: str) -> int:
    """QEMU's ``-m`` sizes: a plain number is MiB; K/M/G/T suffixes (binary).

    Raises:
        ConfigError: not a size, or zero.
    """
    t = text.strip().upper()
    mult = MiB
    for suffix, m in (("K", 1 << 10), ("M", MiB), ("G", GiB), ("T", 1 << 40)):
        if t.endswith((suffix, suffix + "B")):
            t = t[: t.index(suffix)]
            mult = m
            break
    try:
        value = float(t) if "." in t else int(t, 0)
    except ValueError:
        raise ConfigError(f"invalid RAM size {text!r}") from None
    size = int(value * mult)
    if size <= 0:
        raise ConfigError(f"invalid RAM size {text!r}")
    return size


class Machine:
    """A simulated machine, usable from plain Python.

    Args:
        ram_size: guest RAM in bytes (default 128 MiB).
        devices: QEMU-style device specs (``"edu,id=edu0"``); None gives the defaults.
        machine_type: board name (only ``q35``).
        paused: start paused (QEMU ``-S``: run state ``prelaunch``).

    Raises:
        ConfigError: unknown machine type, bad RAM size, or a bad device spec.
    """

    def __init__(
        self,
        ram_size: int = DEFAULT_RAM,
        devices: list[str] | tuple[str, ...] | None = None,
        machine_type: str = "q35",
        paused: bool = False,
    ) -> None:
        if machine_type not in MACHINE_TYPES:
            raise ConfigError(
                f"unsupported machine type {machine_type!r} (supported: {', '.join(MACHINE_TYPES)})"
            )
        if ram_size <= 0 or ram_size > 1 << 46:
            raise ConfigError(f"RAM size {ram_size:#x} is out of range (max 64 TiB)")
        self.machine_type = machine_type
        self.ram_size = ram_size
        self.engine = Engine()
        self.engine.halt_listeners.append(self._on_halt)
        self.run_state = "prelaunch" if paused else "running"
        self.devices: dict[str, Device] = {}
        self.irq_listeners: list[Callable[[int, int], None]] = []
        self.gsi_levels: dict[int, int] = {}
        # rising edges per GSI, as QEMU's ioapic_stat_update_irq counts them (info irq)
        self.irq_counts: dict[int, int] = {}
        self.msi_log: list[tuple[int, int]] = []
        self.reset_count = 0
        self.builtin: list[PciDevice] = []
        self._build_board()
        for spec in DEFAULT_DEVICES if devices is None else devices:
            self.device_add(spec)

    # -- convenience -----------------------------------------------------------------------

    @property
    def clock(self) -> VirtualClock:
        """The virtual clock (``machine.clock.now_ns``, timers, bottom halves)."""
        return self.engine.clock

    @property
    def tracer(self) -> Tracer:
        """The machine's tracer (trace events, log items, sinks, the ring)."""
        return self.engine.tracer

    @property
    def fixes(self) -> Fixes:
        """The fix-switch states (``machine.fixes[switch]``, ``.set(name, on)``)."""
        return self.engine.fixes

    @property
    def events(self) -> EventBus:
        """The machine's event bus (subscribe to halts, resets, DMA reports...)."""
        return self.engine.events

    @property
    def dma(self) -> DmaTracker:
        """The DMA mapping tracker (live mappings and the checker's reports)."""
        return self.engine.dma

    @property
    def halt(self) -> MachineHalt | None:
        """The crash or hang that stopped the machine (None while it is not halted)."""
        return self.engine.halt

    @property
    def now_ns(self) -> int:
        """Virtual time in ns."""
        return self.engine.clock.now_ns

    # -- board -----------------------------------------------------------------------------

    def _build_board(self) -> None:
        e = self.engine
        self.system = MemoryRegion.container("system")
        self.pc_ram = MemoryRegion.ram_region("pc.ram", self.ram_size)
        with transaction():
            self._map_ram()
            self.pci_memory = MemoryRegion.container("pci")
            self.system.add_subregion(0, self.pci_memory, priority=-1)
            self.apic_msi = MemoryRegion.io_region(
                "apic-msi",
                MiB,
                MmioOps(read=lambda o, s: 0, write=self._msi_write),
            )
            self.system.add_subregion(MSI_WINDOW, self.apic_msi, priority=4096)
            # QEMU softmmu/ioport.c: the "io" region itself answers ports nothing else
            # decodes with unassigned_io_ops: reads all ones, writes vanish, nothing logged.
            self.io = MemoryRegion.io_region(
                "io",
                1 << 16,
                MmioOps(read=lambda o, s: 0xFFFF_FFFF_FFFF_FFFF, valid_max=0),
            )
            self.pci_bus = PciBus(0, self.pci_memory, self.io, self.system)
            self.pci_host = PciHost(self.pci_bus)
            self.io.add_subregion(0xCF8, self.pci_host.conf_idx)
            self.io.add_subregion(0xCFC, self.pci_host.conf_data)
            self.reset_control = MemoryRegion.io_region(
                "lpc-reset-control",
                1,
                MmioOps(read=lambda o, s: self._rst_cnt, write=self._rst_write, valid_max=1),
            )
            self._rst_cnt = 0
            self.io.add_subregion(0xCF9, self.reset_control, priority=1, may_overlap=True)
        self.memory = AddressSpace("memory", self.system, e)
        self.io_as = AddressSpace("I/O", self.io, e)
        self._reset_bh = e.clock.bh(self._do_guest_reset, "ich9-reset")
        self._add_builtin_functions()

    def _map_ram(self) -> None:
        # q35: RAM below 4G up to 0xb0000000, or 2 GiB when RAM is that large (pc_q35.c)
        lowmem = 0x80000000 if self.ram_size >= 0xB0000000 else 0xB0000000
        below = min(self.ram_size, lowmem)
        self.system.add_subregion(
            0, MemoryRegion.alias_region("ram-below-4g", self.pc_ram, 0, below)
        )
        if self.ram_size > below:
            above = MemoryRegion.alias_region(
                "ram-above-4g", self.pc_ram, below, self.ram_size - below
            )
            self.system.add_subregion(1 << 32, above)

    def _add_builtin_functions(self) -> None:
        """The host bridge at 00:00.0 and q35's ICH9 functions at 00:1f.x."""
        mch = HostBridge(self, "mch", {})
        mch.qdev_id = ""
        mch.plug(self.pci_bus, devfn(0, 0))
        mch.realize()
        self.host_bridge = mch
        # q35's built-in ICH9 functions (pc_q35.c), present even with -nodefaults
        for cls, name, fn in (
            (Ich9Lpc, "ich9-lpc", 0),
            (Ich9Ahci, "ich9-ahci", 2),
            (Ich9Smbus, "ich9-smbus", 3),
        ):
            fdev = cls(self, name, {})
            fdev.qdev_id = ""
            fdev.plug(self.pci_bus, devfn(31, fn))
            fdev.realize()
            self.builtin.append(fdev)

    def _msi_write(self, off: int, val: int, size: int) -> None:
        self.msi_log.append((MSI_WINDOW + off, val))
        self.engine.tracer.emit(ev.apic_deliver_msi, addr=MSI_WINDOW + off, data=val)

    def _rst_write(self, off: int, val: int, size: int) -> None:
        # ICH9 RST_CNT: bit 2 (RST_CPU) requests a reset (hw/isa/lpc_ich9.c)
        self._rst_cnt = val & 0x0A
        if val & 0x4:
            self._reset_bh.schedule()

    def _do_guest_reset(self) -> None:
        self.system_reset(guest=True, reason="guest-reset")

    # -- devices ---------------------------------------------------------------------------

    def device_add(self, spec: str | DeviceSpec) -> Device:
        """Create, realize and plug a device from a QEMU-style spec.

        Raises:
            ConfigError: unknown type or property, bad value, duplicate id, no free slot.
        """
        if isinstance(spec, str):
            spec = parse_device_spec(spec)
        cls = DEVICE_TYPES.get(spec.type_name)
        if cls is None or not cls.user_creatable:
            known = ", ".join(sorted(n for n, c in DEVICE_TYPES.items() if c.user_creatable))
            raise ConfigError(
                f"'{spec.type_name}' is not a valid device model name (known: {known})"
            )
        props: dict[str, int | bool | str] = {p.name: p.default for p in cls.props}
        slot: int | None = None
        func = 0
        bus = self.pci_bus
        # amd-iommu is a sysbus device in QEMU: its PCI function takes no addr= or bus=
        placeable = issubclass(cls, PciDevice) and not getattr(cls, "fixed_placement", False)
        for key, value in spec.props:
            if key == "addr" and placeable:
                slot, func = _parse_pci_addr(value)
                continue
            if key == "bus" and placeable:
                bus = self._find_bus(value)
                continue
            props[key] = cls.prop(key).parse(value)
        name = spec.id or self._auto_name(spec.type_name)
        if name in self.devices or name == "mch":
            raise ConfigError(f"Duplicate device ID '{name}'")
        dev = cls(self, name, props)
        dev.qdev_id = spec.id or ""
        if isinstance(dev, PciDevice):
            if slot is None:
                # a secondary bus starts at slot 0; the root bus's slot 0 is the host bridge
                slot = bus.free_slot(1 if bus is self.pci_bus else 0)
            dfn = devfn(slot, func)
            if dfn in bus.devices:
                raise ConfigError(
                    f"PCI: slot {slot} function {func} not available for {spec.type_name}, "
                    f"in use by {bus.devices[dfn].type_name}"
                )
            dev.plug(bus, dfn)
        dev.realize()
        self.devices[name] = dev
        return dev

    def _find_bus(self, name: str) -> PciBus:
        """A PCI bus by QEMU's name: ``pcie.0``, or a bridge's id for its secondary bus.

        Raises:
            ConfigError: ``Bus 'x' not found`` (QEMU's words).
        """
        if name == "pcie.0":
            return self.pci_bus
        dev = self.devices.get(name)
        sub = getattr(dev, "secondary_bus", None)
        if not isinstance(sub, PciBus):
            raise ConfigError(f"Bus '{name}' not found")
        return sub

    def _auto_name(self, type_name: str) -> str:
        """The internal name of a device added without ``id=``: QEMU's QOM leaf
        ``device[N]`` (first free N, as ``/machine/peripheral-anon`` numbers them). A
        QEMU id cannot hold ``[``, so it never takes or blocks a name a user may give."""
        n = 0
        while f"device[{n}]" in self.devices:
            n += 1
        return f"device[{n}]"

    def device_del(self, name: str) -> None:
        """Unplug a device.

        Args:
            name: the device's id or internal name, or its QOM path as QEMU accepts it
                (``/machine/peripheral-anon/device[0]``).

        Raises:
            KeyError: no such device.
        """
        for prefix in ("/machine/peripheral/", "/machine/peripheral-anon/"):
            if name.startswith(prefix) and name[len(prefix) :] in self.devices:
                name = name[len(prefix) :]
        dev = self.devices.pop(name)
        if isinstance(dev, PciDevice):
            dev.unplug()
        else:
            dev.unrealize()

    def device(self, name: str) -> Device:
        """A device by name.

        Raises:
            KeyError: ``Device 'x' not found``.
        """
        try:
            return self.devices[name]
        except KeyError:
            raise KeyError(f"Device '{name}' not found") from None

    def pci_devices(self) -> list[PciDevice]:
        """Every PCI function (host bridge included), ordered by bus and devfn."""
        out: list[PciDevice] = []

        def walk(bus: PciBus) -> None:
            for dfn in sorted(bus.devices):
                d = bus.devices[dfn]
                out.append(d)
                sub = getattr(d, "secondary_bus", None)
                if isinstance(sub, PciBus):
                    walk(sub)

        walk(self.pci_bus)
        return out

    def address_spaces(self) -> list[AddressSpace]:
        """Every address space, in a fixed order (``info mtree``)."""
        spaces = [self.memory, self.io_as]
        for d in self.pci_devices():
            if d.bus_master_as is not None:
                spaces.append(d.bus_master_as)
        return spaces

    def find_bank(self, device: str, register: str | None = None) -> tuple[Device, RegisterBank]:
        """The bank holding ``register`` (or the device's first bank).

        Raises:
            KeyError: no such device, no banks, or no such register.
        """
        dev = self.device(device)
        banks = dev.banks()
        if not banks:
            raise KeyError(f"device '{device}' has no registers")
        if register is None:
            return dev, next(iter(banks.values()))
        for bank in banks.values():
            if type(bank).lookup(register) is not None:
                return dev, bank
        raise KeyError(f"device '{device}' has no register '{register}'")

    def mmio_base(self, device: str) -> int | None:
        """Where BAR0 of a PCI device decodes now, or None when unmapped."""
        dev = self.device(device)
        if isinstance(dev, PciDevice) and 0 in dev.bars and dev.bars[0].addr >= 0:
            return dev.bars[0].addr
        return None

    # -- interrupts ------------------------------------------------------------------------

    def gsi_of(self, dev: PciDevice) -> int:
        """The GSI a function's INTx reaches (ICH9 default routing: PIRQE..H for slots
        below 25, GSI 16 + PIRQ; behind a bridge the pin is swizzled by slot)."""
        pin = max(dev.interrupt_pin, 1) - 1
        d: PciDevice = dev
        bus = dev.bus
        while bus.parent is not None:
            pin = (pin + d.slot) % 4
            d = bus.parent
            bus = d.bus
        return 16 + (d.slot + pin) % 4 + 4

    def route_intx(self, dev: PciDevice, level: int) -> None:
        """A function's INTx changed level."""
        gsi = self.gsi_of(dev)
        if level and not self.gsi_levels.get(gsi):
            self.irq_counts[gsi] = self.irq_counts.get(gsi, 0) + 1
        self.gsi_levels[gsi] = level
        self.engine.tracer.emit(
            ev.pci_irq,
            dev=dev.name,
            pin="ABCD"[max(dev.interrupt_pin, 1) - 1],
            level=level,
            gsi=gsi,
        )
        for cb in list(self.irq_listeners):
            cb(gsi, level)

    # -- run state -------------------------------------------------------------------------

    #: Before __init__ sets the first state there is nothing to announce.
    _run_state = ""

    @property
    def run_state(self) -> str:
        """One of ``RUN_STATES``; every change is published on ``engine.events`` as a
        :class:`RunStateChanged` (QMP turns it into ``STOP``/``RESUME``)."""
        return self._run_state

    @run_state.setter
    def run_state(self, new: str) -> None:
        old = self._run_state
        self._run_state = new
        if old and old != new:
            self.engine.events.emit(RunStateChanged(old, new))

    @property
    def halted(self) -> bool:
        """True while crashed or hung (cleared by system_reset)."""
        return self.run_state in ("crashed", "hung")

    def _on_halt(self, h: MachineHalt) -> None:
        self.run_state = h.kind
        tr = self.engine.tracer
        tr.warn(f"machine {h.kind}: {h.summary}")
        for line in h.report()[1:]:  # identical frames folded, as `info status` shows them
            tr.warn(line.strip())

    def stop(self) -> None:
        """Pause (QEMU ``stop``)."""
        if self.run_state == "running":
            self.run_state = "paused"

    def cont(self) -> None:
        """Resume (QEMU ``cont``); a halted machine needs system_reset first."""
        if self.run_state in ("paused", "prelaunch"):
            self.run_state = "running"

    def system_reset(self, *, guest: bool = False, reason: str = "host-qmp-system-reset") -> None:
        """Reset every device. A crashed or hung machine comes back running; a paused one
        comes back in ``prelaunch``, as QEMU's does (``cont`` resumes it).

        Publishes a :class:`ResetEvent` (``guest``, ``reason`` as QEMU's ``RESET`` event:
        the monitor's reset is ``host-qmp-system-reset``, the guest's ``guest-reset``),
        then the run-state change, if any.
        """
        self.engine.reset()
        for d in self.pci_devices():
            d.reset()
        for other in self.devices.values():
            if not isinstance(other, PciDevice):
                other.reset()
        self.gsi_levels.clear()
        self.reset_count += 1
        self._rst_cnt = 0
        self.engine.events.emit(ResetEvent(guest, reason))
        if self.run_state in ("crashed", "hung", "shutdown"):
            self.run_state = "running"
        elif self.run_state == "paused":
            # QEMU main_loop_should_exit: a reset outside RUNNING sets RUN_STATE_PRELAUNCH
            self.run_state = "prelaunch"

    def shutdown(self, *, guest: bool = False, reason: str = "host-qmp-quit") -> None:
        """Shut down (QEMU's ``quit`` or a guest power-off): publishes a
        :class:`ShutdownEvent`, then the run state becomes ``shutdown``."""
        self.engine.events.emit(ShutdownEvent(guest, reason))
        self.run_state = "shutdown"

    def step(self, delta_ns: int) -> int:
        """Advance virtual time by ``delta_ns`` (nothing moves while halted)."""
        return self.engine.step(delta_ns)

    def step_to_next(self) -> int:
        """Advance to the next timer deadline."""
        return self.engine.step_to_next()

    def clock_set(self, target_ns: int) -> int:
        """Advance virtual time to ``target_ns`` (never backwards)."""
        return self.engine.step(target_ns - self.engine.clock.now_ns)

    def after_command(self) -> int:
        """What a running machine does between monitor commands: run pending bottom
        halves and due timers (bounded). Paused machines do nothing."""
        if self.run_state != "running":
            return 0
        return self.engine.run_pending()

    def status(self) -> str:
        """QEMU ``info status`` wording (``running``, ``paused``, ``paused (prelaunch)``)."""
        if self.run_state == "prelaunch":
            return "paused (prelaunch)"
        return self.run_state


def _parse_pci_addr(text: str) -> tuple[int, int]:
    """QEMU's ``addr=SLOT[.FN]`` (hex)."""
    try:
        if "." in text:
            s, f = text.split(".", 1)
            slot, func = int(s, 16), int(f, 16)
        else:
            slot, func = int(text, 16), 0
    except ValueError:
        raise ConfigError(f"Property 'addr' expects SLOT[.FN], not {text!r}") from None
    if not (0 <= slot < 32 and 0 <= func < 8):
        raise ConfigError(f"Property 'addr': {text!r} is out of range")
    return slot, func
