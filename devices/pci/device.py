"""Conventional PCI: config space, BARs, bus mastering, INTx/MSI and config mechanism #1.

Behaviour follows QEMU 7.2's ``hw/pci/pci.c`` and ``pci_host.c``: per-byte write and
write-1-to-clear masks decide what the guest may change; BARs are sized by writing all
ones and placed by writing an address, and are mapped only while COMMAND.MEMORY (or .IO)
is set; COMMAND.MASTER enables the device's bus-master alias, so clearing it takes the
device's DMA away (its accesses then hit nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from dmamon.devices.base import Device
from dmamon.devices.pci import trace_events as ev
from dmamon.memory import (
    AddressSpace,
    ConfigError,
    DmaPort,
    MemoryRegion,
    MmioOps,
    format_bdf,
    transaction,
)

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine
    from dmamon.devices.pci.info import PciInfo
    from dmamon.memory import TraceEvent

__all__ = ["Bar", "HostBridge", "PciBus", "PciDevice", "PciHost", "devfn"]

# Config space offsets (include/hw/pci/pci_regs.h)
VENDOR_ID = 0x00
DEVICE_ID = 0x02
COMMAND = 0x04
STATUS = 0x06
REVISION_ID = 0x08
CLASS_PROG = 0x09
CLASS_DEVICE = 0x0A
HEADER_TYPE = 0x0E
BASE_ADDRESS_0 = 0x10
SUBSYSTEM_VENDOR_ID = 0x2C
SUBSYSTEM_ID = 0x2E
ROM_ADDRESS = 0x30
CAPABILITY_LIST = 0x34
INTERRUPT_LINE = 0x3C
INTERRUPT_PIN = 0x3D

COMMAND_IO = 0x1
COMMAND_MEMORY = 0x2
COMMAND_MASTER = 0x4
COMMAND_INTX_DISABLE = 0x400
STATUS_INTERRUPT = 0x8
STATUS_CAP_LIST = 0x10

CAP_ID_MSI = 0x05
BAR_UNMAPPED = -1
CONFIG_SPACE_SIZE = 0x100


def devfn(slot: int, func: int) -> int:
    """PCI_DEVFN."""
    return (slot << 3) | func


@dataclass
class Bar:
    """One base address register."""

    index: int
    region: MemoryRegion
    is_io: bool
    is_64: bool
    prefetch: bool
    addr: int = BAR_UNMAPPED

    @property
    def size(self) -> int:
        """Size in bytes (a power of two)."""
        return self.region.size

    def type_bits(self) -> int:
        """The read-only low bits of the BAR."""
        if self.is_io:
            return 0x1
        return (0x4 if self.is_64 else 0) | (0x8 if self.prefetch else 0)


class PciBus:
    """A PCI bus: its devices by devfn, its memory and I/O windows.

    Args:
        number: bus number.
        memory: the region BARs are mapped into.
        io: the region I/O BARs are mapped into.
        dma_root: what bus masters see (system memory, or an IOMMU window).
    """

    def __init__(
        self, number: int, memory: MemoryRegion, io: MemoryRegion, dma_root: MemoryRegion
    ) -> None:
        self.number = number
        self.memory = memory
        self.io = io
        self.dma_root = dma_root
        self.devices: dict[int, PciDevice] = {}
        # QEMU pci_setup_iommu: devfn -> the region a device's bus master alias targets.
        self.iommu_fn: Callable[[PciBus, int], MemoryRegion] | None = None
        self.parent: PciDevice | None = None  # the bridge above a secondary bus

    def free_slot(self, start: int = 1) -> int:
        """The first slot (function 0) not in use, QEMU's ``addr`` auto-assignment."""
        for slot in range(start, 32):
            if devfn(slot, 0) not in self.devices:
                return slot
        raise ConfigError(f"PCI bus {self.number}: no free slot")

    def dma_target(self, dfn: int) -> MemoryRegion:
        """The region a device on this bus reaches when it masters the bus."""
        if self.iommu_fn is not None:
            return self.iommu_fn(self, dfn)
        return self.dma_root


class PciDevice(Device):
    """A conventional PCI function with a type-0 header."""

    vendor_id: ClassVar[int] = 0x1234
    device_id: ClassVar[int] = 0x0000
    revision: ClassVar[int] = 0
    class_id: ClassVar[int] = 0x00FF  # base class << 8 | subclass
    prog_if: ClassVar[int] = 0
    subsystem_vendor_id: ClassVar[int] = 0x1AF4  # QEMU's default (Red Hat / Qumranet)
    subsystem_id: ClassVar[int] = 0x1100
    interrupt_pin: ClassVar[int] = 0  # 1 = INTA
    header_type: ClassVar[int] = 0
    state_fields: ClassVar[tuple[str, ...]] = (
        "config",
        "w1cmask",
        "irq_level",
        "_intx_masked",
        "msi_count",
        "intx_count",
    )

    def __init__(self, machine: Machine, name: str, props: dict[str, int | bool | str]) -> None:
        super().__init__(machine, name, props)
        self.bus: PciBus = machine.pci_bus
        self.devfn = 0
        self.config = bytearray(CONFIG_SPACE_SIZE)
        self.wmask = bytearray(CONFIG_SPACE_SIZE)
        self.w1cmask = bytearray(CONFIG_SPACE_SIZE)
        self.bars: dict[int, Bar] = {}
        self.irq_level = 0
        self._intx_masked = False
        self.msi_cap = 0
        self.msi_count = 0
        self.intx_count = 0
        self._init_header()
        self.bus_master_container = MemoryRegion.container("bus master container")
        self.bus_master_alias: MemoryRegion | None = None
        self.bus_master_as: AddressSpace | None = None
        self.dma: DmaPort | None = None

    # -- header ----------------------------------------------------------------------------

    def _init_header(self) -> None:
        c = self.config
        c[VENDOR_ID : VENDOR_ID + 2] = self.vendor_id.to_bytes(2, "little")
        c[DEVICE_ID : DEVICE_ID + 2] = self.device_id.to_bytes(2, "little")
        c[REVISION_ID] = self.revision
        c[CLASS_PROG] = self.prog_if
        c[CLASS_DEVICE : CLASS_DEVICE + 2] = self.class_id.to_bytes(2, "little")
        c[HEADER_TYPE] = self.header_type
        if self.header_type & 0x7F == 0:
            c[SUBSYSTEM_VENDOR_ID : SUBSYSTEM_VENDOR_ID + 2] = self.subsystem_vendor_id.to_bytes(
                2, "little"
            )
            c[SUBSYSTEM_ID : SUBSYSTEM_ID + 2] = self.subsystem_id.to_bytes(2, "little")
        c[INTERRUPT_PIN] = self.interrupt_pin
        # pci_init_wmask / pci_init_w1cmask
        w = self.wmask
        w[0x0C] = 0xFF  # cache line size
        w[INTERRUPT_LINE] = 0xFF
        # QEMU pci_init_wmask: IO, MEMORY, MASTER, INTX_DISABLE and SERR (not PARITY)
        cmd_w = COMMAND_IO | COMMAND_MEMORY | COMMAND_MASTER | COMMAND_INTX_DISABLE | 0x100
        w[COMMAND : COMMAND + 2] = cmd_w.to_bytes(2, "little")
        self.w1cmask[STATUS : STATUS + 2] = (0xF900).to_bytes(2, "little")
        for i in range(0x40, CONFIG_SPACE_SIZE):
            w[i] = 0xFF

    def _cfg_word(self, off: int) -> int:
        return int.from_bytes(self.config[off : off + 2], "little")

    @property
    def command(self) -> int:
        """The COMMAND register."""
        return self._cfg_word(COMMAND)

    @property
    def bus_master_enabled(self) -> bool:
        """COMMAND.MASTER."""
        return bool(self.command & COMMAND_MASTER)

    @property
    def requester_id(self) -> int:
        """bus << 8 | devfn."""
        return (self.bus.number << 8) | self.devfn

    @property
    def bdf(self) -> str:
        """``00:01.0``."""
        return format_bdf(self.requester_id)

    @property
    def slot(self) -> int:
        """PCI slot (device number)."""
        return self.devfn >> 3

    @property
    def func(self) -> int:
        """PCI function number."""
        return self.devfn & 7

    def register_bar(
        self,
        index: int,
        region: MemoryRegion,
        is_io: bool = False,
        is_64: bool = False,
        prefetch: bool = False,
    ) -> Bar:
        """Declare a BAR (QEMU ``pci_register_bar``).

        Raises:
            ConfigError: size not a power of two, or index taken.
        """
        size = region.size
        if size & (size - 1) or (not is_io and size < 16) or (is_io and size < 4):
            raise ConfigError(f"{self.name}: BAR{index} size {size:#x} is not a power of two")
        if index in self.bars:
            raise ConfigError(f"{self.name}: BAR{index} registered twice")
        bar = Bar(index, region, is_io, is_64, prefetch)
        self.bars[index] = bar
        off = BASE_ADDRESS_0 + 4 * index
        self.config[off : off + 4] = bar.type_bits().to_bytes(4, "little")
        wm = (~(size - 1)) & 0xFFFFFFFF
        wm &= ~0x3 if is_io else ~0xF
        self.wmask[off : off + 4] = (wm & 0xFFFFFFFF).to_bytes(4, "little")
        if is_64:
            self.wmask[off + 4 : off + 8] = (((~(size - 1)) >> 32) & 0xFFFFFFFF).to_bytes(
                4, "little"
            )
        return bar

    def add_capability(self, cap_id: int, size: int) -> int:
        """Append a capability to the list (QEMU ``pci_add_capability`` with offset 0).

        Returns:
            Its config-space offset.
        """
        pos = 0x40
        last = CAPABILITY_LIST
        while self.config[last]:
            pos_prev = self.config[last]
            last = pos_prev + 1
            pos = max(pos, pos_prev + 0x10)  # simple allocator: caps are small
        pos = (pos + 3) & ~3
        self.config[last] = pos
        self.config[pos] = cap_id
        self.config[pos + 1] = 0
        for i in range(pos, pos + size):
            self.wmask[i] = 0
        st = self._cfg_word(STATUS) | STATUS_CAP_LIST
        self.config[STATUS : STATUS + 2] = st.to_bytes(2, "little")
        return pos

    def init_msi(self, vectors: int = 1, is_64: bool = True) -> None:
        """Add an MSI capability (QEMU ``msi_init``, no per-vector masking)."""
        size = 0x0E if is_64 else 0x0A
        pos = self.add_capability(CAP_ID_MSI, size)
        mmc = (vectors - 1).bit_length()
        flags = (mmc << 1) | (0x80 if is_64 else 0)
        self.config[pos + 2 : pos + 4] = flags.to_bytes(2, "little")
        # writable: enable (bit 0) and multiple message enable (bits 6:4), address, data
        self.wmask[pos + 2] = 0x01 | 0x70
        self.wmask[pos + 4 : pos + 8] = (0xFFFFFFFC).to_bytes(4, "little")
        if is_64:
            self.wmask[pos + 8 : pos + 12] = b"\xff\xff\xff\xff"
            self.wmask[pos + 12 : pos + 14] = b"\xff\xff"
        else:
            self.wmask[pos + 8 : pos + 10] = b"\xff\xff"
        self.msi_cap = pos

    # -- realize ---------------------------------------------------------------------------

    def plug(self, bus: PciBus, dfn: int) -> None:
        """Place the function on a bus and build its bus-master address space."""
        self.bus = bus
        self.devfn = dfn
        bus.devices[dfn] = self
        target = bus.dma_target(dfn)
        self.bus_master_alias = MemoryRegion.alias_region("bus master", target, 0, target.size)
        self.bus_master_alias.set_enabled(False)
        self.bus_master_container.add_subregion(0, self.bus_master_alias)
        self.bus_master_as = AddressSpace(self.type_name, self.bus_master_container, self.engine)
        self.dma = DmaPort(self.engine, self.bus_master_as, self.requester_id, self.name)

    def retarget_dma(self) -> None:
        """Point the bus-master alias at what the bus now says (IOMMU switched in or out)."""
        if self.bus_master_alias is None:
            return
        target = self.bus.dma_target(self.devfn)
        if self.bus_master_alias.alias is target:
            return
        with transaction():
            enabled = self.bus_master_alias.enabled
            self.bus_master_container.del_subregion(self.bus_master_alias)
            alias = MemoryRegion.alias_region("bus master", target, 0, target.size)
            alias.set_enabled(enabled)
            self.bus_master_container.add_subregion(0, alias)
            self.bus_master_alias = alias

    def unplug(self) -> None:
        """Remove the function from its bus."""
        with transaction():
            for bar in self.bars.values():
                self._unmap_bar(bar)
        self.bus.devices.pop(self.devfn, None)
        self.unrealize()

    def reset(self) -> None:
        """PCI reset: COMMAND cleared, BARs unmapped and zeroed, INTx low."""
        super().reset()
        with transaction():
            self.config[COMMAND : COMMAND + 2] = b"\0\0"
            st = self._cfg_word(STATUS) & STATUS_CAP_LIST
            self.config[STATUS : STATUS + 2] = st.to_bytes(2, "little")
            self.config[INTERRUPT_LINE] = 0
            for bar in self.bars.values():
                off = BASE_ADDRESS_0 + 4 * bar.index
                self.config[off : off + 4] = bar.type_bits().to_bytes(4, "little")
                if bar.is_64:
                    self.config[off + 4 : off + 8] = b"\0\0\0\0"
            if self.msi_cap:
                p = self.msi_cap
                self.config[p + 2] &= ~0x71
                self.config[p + 4 : p + 14] = bytes(10)
            self.update_mappings()
        self.irq_level = 0
        self._intx_masked = False

    def info(self) -> object:
        """Typed records for ``info device``: by default :meth:`pci_info`."""
        return self.pci_info()

    def pci_info(self) -> PciInfo:
        """PCI identity, COMMAND/STATUS and BARs (types with more to say wrap it)."""
        from dmamon.devices.pci.info import pci_info  # records load on first use

        return pci_info(self)

    def post_load(self) -> None:
        """Re-decode BARs and bus mastering from the loaded config space."""
        super().post_load()
        self.update_mappings()

    # -- config access ---------------------------------------------------------------------

    def _trace_cfg(self, event: TraceEvent, addr: int, val: int) -> None:
        """QEMU's ``pci_cfg_read``/``pci_cfg_write`` trace line for this function."""
        self.tracer.emit(
            event,
            dev=self.type_name,
            bus=self.bus.number,
            slot=self.slot,
            func=self.func,
            offs=addr,
            val=val,
        )

    def config_read(self, addr: int, length: int) -> int:
        """Read ``length`` bytes of config space (QEMU ``pci_default_read_config``)."""
        val = int.from_bytes(self.config[addr : addr + length], "little")
        self._trace_cfg(ev.pci_cfg_read, addr, val)
        return val

    def config_write(self, addr: int, val: int, length: int) -> None:
        """Write config space through the masks, then update BARs and bus mastering."""
        self._trace_cfg(ev.pci_cfg_write, addr, val)
        for i in range(length):
            a = addr + i
            b = (val >> (8 * i)) & 0xFF
            wm = self.wmask[a]
            w1c = self.w1cmask[a]
            self.config[a] = (self.config[a] & ~wm) | (b & wm)
            self.config[a] &= ~(b & w1c) & 0xFF
        end = addr + length
        if (
            addr < BASE_ADDRESS_0 + 24
            and end > BASE_ADDRESS_0
            or (addr < COMMAND + 2 and end > COMMAND)
        ):
            self.update_mappings()
        masked = bool(self.command & COMMAND_INTX_DISABLE)
        if masked != self._intx_masked:
            self._intx_masked = masked
            # QEMU pci_update_irq_disabled: masking drops a raised line, unmasking
            # delivers a pending one.
            if self.irq_level:
                self.machine.route_intx(self, 0 if masked else 1)

    def _bar_address(self, bar: Bar) -> int:
        """QEMU ``pci_bar_address``: where the BAR decodes now, or BAR_UNMAPPED."""
        cmd = self.command
        off = BASE_ADDRESS_0 + 4 * bar.index
        if bar.is_io:
            if not cmd & COMMAND_IO:
                return BAR_UNMAPPED
            new = int.from_bytes(self.config[off : off + 4], "little") & ~(bar.size - 1)
            last = new + bar.size - 1
            if last <= new or new == 0 or last > 0xFFFF:
                return BAR_UNMAPPED
            return new
        if not cmd & COMMAND_MEMORY:
            return BAR_UNMAPPED
        width = 8 if bar.is_64 else 4
        new = int.from_bytes(self.config[off : off + width], "little") & ~(bar.size - 1)
        last = new + bar.size - 1
        if last <= new or new == 0 or last >= (1 << 64) - 1:
            return BAR_UNMAPPED
        if not bar.is_64 and last >= 0xFFFFFFFF:
            return BAR_UNMAPPED
        return new

    def _unmap_bar(self, bar: Bar) -> None:
        if bar.addr != BAR_UNMAPPED:
            self.tracer.emit(
                ev.pci_update_mappings_del,
                dev=self.type_name,
                bus=self.bus.number,
                slot=self.slot,
                func=self.func,
                bar=bar.index,
                addr=bar.addr,
                size=bar.size,
            )
            parent = bar.region.parent
            if parent is not None:
                parent.del_subregion(bar.region)
            bar.addr = BAR_UNMAPPED

    def update_mappings(self) -> None:
        """Re-decode every BAR and the bus-master enable (QEMU ``pci_update_mappings``)."""
        with transaction():
            for bar in self.bars.values():
                new = self._bar_address(bar)
                if new == bar.addr:
                    continue
                self._unmap_bar(bar)
                if new != BAR_UNMAPPED:
                    space = self.bus.io if bar.is_io else self.bus.memory
                    # QEMU maps BARs with priority 1 and allows overlap: guest's choice.
                    space.add_subregion(new, bar.region, priority=1, may_overlap=True)
                    bar.addr = new
                    self.tracer.emit(
                        ev.pci_update_mappings_add,
                        dev=self.type_name,
                        bus=self.bus.number,
                        slot=self.slot,
                        func=self.func,
                        bar=bar.index,
                        addr=new,
                        size=bar.size,
                    )
            if self.bus_master_alias is not None:
                self.bus_master_alias.set_enabled(self.bus_master_enabled)

    # -- interrupts ------------------------------------------------------------------------

    @property
    def msi_enabled(self) -> bool:
        """MSI capability present and enabled by the guest."""
        return bool(self.msi_cap and self.config[self.msi_cap + 2] & 1)

    def set_irq(self, level: int) -> None:
        """Drive INTx (QEMU ``pci_set_irq``); INTX_DISABLE masks it."""
        level = 1 if level else 0
        if level == self.irq_level:
            return
        self.irq_level = level
        st = self._cfg_word(STATUS)
        st = st | STATUS_INTERRUPT if level else st & ~STATUS_INTERRUPT
        self.config[STATUS : STATUS + 2] = st.to_bytes(2, "little")
        if self.command & COMMAND_INTX_DISABLE:
            return
        if level:
            self.intx_count += 1
        self.machine.route_intx(self, level)

    def msi_notify(self, vector: int = 0) -> None:
        """Send an MSI: a DMA write of the message data to the message address."""
        p = self.msi_cap
        is_64 = bool(self.config[p + 2] & 0x80)
        addr = int.from_bytes(self.config[p + 4 : p + (12 if is_64 else 8)], "little")
        data_off = p + (12 if is_64 else 8)
        data = int.from_bytes(self.config[data_off : data_off + 2], "little") | vector
        self.msi_count += 1
        self.tracer.emit(ev.msi_notify, dev=self.name, vector=vector, addr=addr, data=data)
        assert self.dma is not None
        self.dma.store(addr, 4, data)


class PciHost:
    """Configuration mechanism #1: CONFIG_ADDRESS at 0xcf8, CONFIG_DATA at 0xcfc
    (QEMU ``pci_host.c``; q35's ``pci-conf-idx``/``pci-conf-data`` regions)."""

    def __init__(self, root_bus: PciBus) -> None:
        self.root_bus = root_bus
        self.config_reg = 0
        self.conf_idx = MemoryRegion.io_region(
            "pci-conf-idx", 4, MmioOps(read=self._idx_read, write=self._idx_write, valid_max=0)
        )
        self.conf_data = MemoryRegion.io_region(
            "pci-conf-data", 4, MmioOps(read=self._data_read, write=self._data_write, valid_max=0)
        )

    def _idx_read(self, off: int, size: int) -> int:
        return self.config_reg >> (8 * off)

    def _idx_write(self, off: int, val: int, size: int) -> None:
        if off != 0 or size != 4:  # QEMU: only whole 32-bit writes latch the address
            return
        self.config_reg = val

    def find(self, bus_num: int, dfn: int) -> PciDevice | None:
        """The function at bus/devfn (secondary buses are reached through bridges)."""
        return self._find(self.root_bus, bus_num, dfn)

    def _find(self, bus: PciBus, bus_num: int, dfn: int) -> PciDevice | None:
        if bus.number == bus_num:
            return bus.devices.get(dfn)
        for d in bus.devices.values():
            sub = getattr(d, "secondary_bus", None)
            if isinstance(sub, PciBus):
                found = self._find(sub, bus_num, dfn)
                if found is not None:
                    return found
        return None

    def config_access(self, addr: int) -> tuple[PciDevice | None, int]:
        """Decode a CONFIG_ADDRESS-style value into (function, register offset)."""
        dev = self.find((addr >> 16) & 0xFF, (addr >> 8) & 0xFF)
        return dev, addr & (CONFIG_SPACE_SIZE - 1)

    def _data_read(self, off: int, size: int) -> int:
        if not self.config_reg & (1 << 31):
            return 0xFFFFFFFF
        dev, reg = self.config_access(self.config_reg | (off & 3))
        if dev is None or reg + size > CONFIG_SPACE_SIZE:
            return 0xFFFFFFFF
        return dev.config_read(reg, size)

    def _data_write(self, off: int, val: int, size: int) -> None:
        if not self.config_reg & (1 << 31):
            return
        dev, reg = self.config_access(self.config_reg | (off & 3))
        if dev is None or reg + size > CONFIG_SPACE_SIZE:
            return
        dev.config_write(reg, val, size)


class HostBridge(PciDevice, type_name="mch"):
    """The q35 host bridge at 00:00.0 (identity only)."""

    description = "Q35 host bridge (identity only)"
    vendor_id = 0x8086
    device_id = 0x29C0
    revision = 0
    class_id = 0x0600
    user_creatable = False
