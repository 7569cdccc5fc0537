"""QEMU 7.2's ``amd-iommu``: an AMD-Vi IOMMU register-compatible with ``hw/i386/amd_iommu.c``.

The PCI function (1022:devfn, class 0806) takes the next free slot like any ``-device``;
its registers live at 0xfed80000 in system memory, not behind a BAR, and its capability
at 0x40 carries that base. Writing the command tail runs the commands at once
(``amdvi_cmdbuf_run``). While Control.IommuEn is set, every PCI function's bus-master
space is retargeted to a per-devfn ``amdvi_root`` (the ``amd_iommu`` IOMMU window plus the
MSI window ``amd_iommu_ir``); otherwise DMA goes straight to system memory. Functions
behind a conventional bridge reach it with the bridge's requester ID.

Translations are cached in an IOTLB keyed as QEMU keys it (DeviceID and 4 KiB page,
successful translations only, reset when 1024 entries are full), so a page-table change
without the right invalidation keeps using the stale entry. QEMU's quirks are kept; the fix
switches in :mod:`~dmamon.devices.amdvi.registers` turn on what newer QEMU or the
hardware does (``info fixes``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmamon.devices import trace_events as dev_ev
from dmamon.devices.amdvi import trace_events as ev
from dmamon.devices.amdvi.drain import InflightInvalidations
from dmamon.devices.amdvi.formats import (
    COMMAND_SIZE,
    DTE_SIZE,
    EVENT_SIZE,
    U64,
    CommandCode,
    DecodedCommand,
    DecodedEvent,
    Dte,
    EventCode,
    decode_command,
    decode_event,
    decode_invalidation_range,
    encode_event,
)
from dmamon.devices.amdvi.registers import (
    AMDVI_BASE_ADDR,
    AMDVI_MMIO_SIZE,
    BASE_MASK,
    CMDBUF_HEAD_WRAP,
    CTRL_CMD_BUF_EN,
    CTRL_COM_WAIT_INT_EN,
    CTRL_EVENT_INT_EN,
    CTRL_EVENT_LOG_EN,
    CTRL_GA_EN,
    CTRL_IOMMU_EN,
    EVENT_LOG,
    EXT_FEATURES,
    HEAD_MASK,
    INVAL_DRAIN,
    PAGE_WALK,
    ST_CMDBUF_RUN,
    ST_COMP_INT,
    ST_EVENT_INT,
    ST_EVT_OVF,
    ST_EVT_RUN,
    STATUS_W1C,
    AmdviRegs,
    mmio_reg_name,
)
from dmamon.devices.amdvi.walk import (
    IotlbView,
    WalkExplanation,
    WalkOutcome,
    explain_walk,
    run_walk,
)
from dmamon.devices.pci import STATUS, PciBus, PciDevice
from dmamon.devices.props import Prop
from dmamon.devices.regs import RegisterBank, before_write, on_write
from dmamon.memory import (
    ConfigError,
    DmaMapping,
    IOMMUFault,
    IOMMUPerm,
    IOMMUTLBEntry,
    MachineHalt,
    MemoryRegion,
    MemTxAttrs,
    MemTxResult,
    MmioOps,
    format_bdf,
    transaction,
)

if TYPE_CHECKING:
    from dmamon.devices.amdvi.driver import AmdIommuDriver
    from dmamon.devices.machine import Machine

__all__ = [
    "AmdIommu",
    "CommandRecord",
    "DeviceView",
    "DomainView",
    "EventRecord",
    "RegisterView",
    "find_iommu",
]

_OK = MemTxResult.OK
MSI_FIRST = 0xFEE00000  # AMDVI_INT_ADDR_FIRST
MSI_LAST = 0xFEEFFFFF
IOAPIC_SB_DEVID = 0xA0  # AMDVI_IOAPIC_SB_DEVID, 00:14.0
IOTLB_MAX = 1024  # AMDVI_IOTLB_MAX_SIZE
DEVID_SHIFT = 36  # AMDVI_DEVID_SHIFT
STATUS_SIG_TARGET_ABORT = 0x0800
HISTORY = 256
_PERMS = (IOMMUPerm.NONE, IOMMUPerm.RO, IOMMUPerm.WO, IOMMUPerm.RW)
_ALLOWS = (
    (),
    (IOMMUPerm.RO,),
    (IOMMUPerm.WO,),
    (IOMMUPerm.RO, IOMMUPerm.WO, IOMMUPerm.RW),
)
_HIT = ev.amdvi_iotlb_hit
_RESULT = ev.amdvi_translation_result
# Capability block QEMU 7.2 builds (read back from qemu-system-x86_64 7.2.22 -device amd-iommu):
# the secure-device capability at 0x40 whose header QEMU overwrites with AMDVI_CAPAB_FEATURES,
# an empty MSI capability at 0x58, HyperTransport at 0x5c, and msi_init's at 0x60 (the list
# is prepended, so 0x34 -> 0x60 -> 0x5c -> 0x58 -> 0x40).
CAP_SEC = 0x40
CAPAB_FEATURES = 0x1F03000F
CAPAB_RANGE = 0xFF000000
CAPAB_MISC = 0x00182840
MSI_CAP = 0x60


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event the IOMMU raised, and what became of it.

    Attributes:
        seq: number since reset (1, 2, ...).
        time_ns: virtual time.
        event: the entry as encoded.
        outcome: ``written at 0x...``, or why it was not written.
    """

    seq: int
    time_ns: int
    event: DecodedEvent
    outcome: str


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """A command the IOMMU executed (``cmd#seq``).

    Attributes:
        seq: number since reset (1, 2, ...).
        time_ns: virtual time.
        addr: where it was fetched from.
        command: the decoded command.
        outcome: what it did.
    """

    seq: int
    time_ns: int
    addr: int
    command: DecodedCommand
    outcome: str


@dataclass(frozen=True, slots=True)
class DeviceView:
    """One requester ID as ``info iommu`` lists it.

    Attributes:
        devid: the requester ID the IOMMU sees.
        functions: names of the PCI functions that reach it as ``devid`` (a bridge and
            everything behind it share one).
        dte: its device table entry (None: not readable, or no device table yet).
        translated: whether its DMA is translated now (IOMMU on, DTE valid).
    """

    devid: int
    functions: tuple[str, ...]
    dte: Dte | None
    translated: bool


@dataclass(frozen=True, slots=True)
class DomainView:
    """One DomainID in use by valid device table entries.

    Attributes:
        domain_id: the DomainID.
        devids: requester IDs whose DTE names it.
        roots: page-table roots those DTEs point at (one, normally).
        iotlb_entries: IOTLB entries tagged with it.
    """

    domain_id: int
    devids: tuple[int, ...]
    roots: tuple[int, ...]
    iotlb_entries: int


@dataclass(frozen=True, slots=True)
class RegisterView:
    """One register for ``info iommu``.

    Attributes:
        name: register name in the bank.
        offset: MMIO offset.
        value: stored value.
        fields: ``(field, value)`` pairs.
        doc: what the register is.
    """

    name: str
    offset: int
    value: int
    fields: tuple[tuple[str, int], ...]
    doc: str


class _IotlbEntry:
    __slots__ = ("allows", "devid", "domid", "entry", "mask", "perm", "translated")

    def __init__(
        self, domid: int, devid: int, perm: int, translated: int, mask: int, entry: IOMMUTLBEntry
    ) -> None:
        self.domid = domid
        self.devid = devid
        self.perm = perm
        self.translated = translated
        self.mask = mask
        self.entry = entry
        self.allows = _ALLOWS[perm]


class _DevfnSpace:
    """QEMU's ``AMDVIAddressSpace``: one per requester ID, the IOMMU translator of its window."""

    __slots__ = ("devfn", "devid", "iommu", "ir", "key", "region", "root")

    def __init__(self, iommu: AmdIommu, bus_num: int, devfn: int) -> None:
        self.iommu = iommu
        self.devfn = devfn
        self.devid = (bus_num << 8) | devfn
        self.key = self.devid << DEVID_SHIFT
        self.root = MemoryRegion.container("amdvi_root")
        self.region = MemoryRegion.iommu_region("amd_iommu", 1 << 64, self, owner=iommu)
        self.ir = MemoryRegion.io_region("amd_iommu_ir", MSI_LAST - MSI_FIRST + 1, iommu.ir_ops)
        with transaction():
            self.root.add_subregion(0, self.region, priority=1)
            self.root.add_subregion(MSI_FIRST, self.ir, priority=64)

    def translate(self, iova: int, perm: IOMMUPerm, attrs: MemTxAttrs) -> IOMMUTLBEntry:
        """Translate one access (the IOTLB hit path is kept short on purpose)."""
        iommu = self.iommu
        e = iommu.iotlb.get(self.key | (iova >> 12))
        if e is not None and perm in e.allows and iommu.enabled:
            enabled = iommu.tracer.enabled
            if _HIT not in enabled and _RESULT not in enabled:
                return e.entry
        return iommu.translate_access(self, iova, perm)


def find_iommu(machine: Machine) -> AmdIommu | None:
    """The machine's AMD IOMMU, or None."""
    for d in machine.devices.values():
        if isinstance(d, AmdIommu):
            return d
    return None


class AmdIommu(PciDevice, type_name="amd-iommu"):
    """AMD IOMMU (AMD-Vi) DMA remapping device, as QEMU 7.2 emulates it."""

    description = "AMD IOMMU (AMD-Vi) DMA Remapping device"
    vendor_id = 0x1022
    device_id = 0x0000  # amdvi_init sets it to the function's own devfn (QEMU 7.2 quirk)
    class_id = 0x0806
    register_banks = (AmdviRegs,)
    props = (
        Prop("intremap", "str", "auto", "interrupt remapping (accepted; not modelled)"),
        Prop("device-iotlb", "bool", False, "device IOTLB (accepted; not modelled)"),
        Prop("pt", "bool", True, "pass-through (accepted; not modelled)"),
    )
    page_walk_fix = PAGE_WALK
    fixed_placement = True  # a sysbus device in QEMU: no addr= or bus= (next free slot)

    def __init__(self, machine: Machine, name: str, props: dict[str, int | bool | str]) -> None:
        if find_iommu(machine) is not None:
            raise ConfigError("QEMU does not support multiple vIOMMUs for x86 yet.")
        super().__init__(machine, name, props)
        self.fixes = machine.engine.fixes
        self.sysmem = machine.memory
        self.regs = AmdviRegs(self)
        self.mmio = MemoryRegion.io_region(
            "amdvi-mmio",
            AMDVI_MMIO_SIZE,
            MmioOps(
                read=self._mmio_read,
                write=self._mmio_write,
                valid_min=1,
                valid_max=8,
                impl_min=1,
                impl_max=8,
            ),
            owner=self,
        )
        self.ir_ops = MmioOps(
            read_with_attrs=self._ir_read,
            write_with_attrs=self._ir_write,
            valid_min=4,
            valid_max=4,
            impl_min=4,
            impl_max=4,
        )
        self._build_config()
        self.iotlb: dict[int, _IotlbEntry] = {}
        self._spaces: dict[int, _DevfnSpace] = {}
        self._bus: PciBus | None = None
        self._wr_ctx: tuple[int, int] | None = None
        self.driver: AmdIommuDriver | None = None  # the guest-driver helper that set it up
        self._resume_bh = self.new_bh("cmdbuf-resume", self._resume_commands)
        self.events: deque[EventRecord] = deque(maxlen=HISTORY)
        self.commands: deque[CommandRecord] = deque(maxlen=HISTORY)
        self.inflight = InflightInvalidations(machine.engine.dma)
        self._init_state()

    # -- PCI identity ----------------------------------------------------------------------

    def _build_config(self) -> None:
        c, w = self.config, self.wmask

        def put(off: int, value: int, size: int = 4) -> None:
            c[off : off + size] = value.to_bytes(size, "little")

        c[0x34] = MSI_CAP
        put(CAP_SEC, CAPAB_FEATURES)
        put(CAP_SEC + 0x04, AMDVI_BASE_ADDR & 0xFFFFC000)  # AMDVI_CAPAB_BAR_LOW
        put(CAP_SEC + 0x08, AMDVI_BASE_ADDR >> 32)  # AMDVI_CAPAB_BAR_HIGH
        put(CAP_SEC + 0x0C, CAPAB_RANGE)
        put(CAP_SEC + 0x10, CAPAB_MISC)
        put(0x58, 0x4005)  # PCI_CAP_ID_MSI, next 0x40, never initialised
        put(0x5C, 0x5808)  # PCI_CAP_ID_HT, next 0x58
        put(MSI_CAP, 0x00805C05)  # msi_init(1 vector, 64-bit, no masking), next 0x5c
        for i in range(CAP_SEC, MSI_CAP + 0x0E):
            w[i] = 0
        w[MSI_CAP + 2] = 0x01  # enable (one vector: msi_write_config keeps MME at 0)
        w[MSI_CAP + 4 : MSI_CAP + 8] = (0xFFFFFFFC).to_bytes(4, "little")
        w[MSI_CAP + 8 : MSI_CAP + 12] = b"\xff\xff\xff\xff"
        w[MSI_CAP + 12 : MSI_CAP + 14] = b"\xff\xff"
        st = self._cfg_word(STATUS) | 0x10
        put(STATUS, st, 2)
        self.msi_cap = MSI_CAP

    def plug(self, bus: PciBus, dfn: int) -> None:
        super().plug(bus, dfn)
        self._set_device_id()

    def _set_device_id(self) -> None:
        # amdvi_init: pci_config_set_device_id(config, s->devid), devid being "addr" (devfn)
        self.config[2:4] = self.devfn.to_bytes(2, "little")

    # -- lifecycle -------------------------------------------------------------------------

    def _init_state(self) -> None:
        """amdvi_init: IOTLB, internal copies and MMIO back to their reset values."""
        self.iotlb.clear()
        self.enabled = False
        self.evtlog_enabled = False
        self.evtlog_intr = False
        self.completion_wait_intr = False
        self.cmdbuf_enabled = False
        self.ga_enabled = False
        self.devtab = 0
        self.devtab_len = 0
        self.cmdbuf = 0
        self.cmdbuf_len = 0
        self.cmdbuf_head = 0
        self.cmdbuf_tail = 0
        self.evtlog = 0
        self.evtlog_len = 0
        self.evtlog_head = 0
        self.evtlog_tail = 0
        self.excl_limit = 0
        self.ppr_log = 0
        self.pprlog_len = 0
        self.pprlog_head = 0
        self.pprlog_tail = 0
        self.regs.reset()
        self.regs.poke("ext_features", EXT_FEATURES)
        self.event_seq = 0
        self.command_seq = 0
        self.events.clear()
        self.commands.clear()
        self.stalled = False
        self.stalled_since_ns = 0
        self.inflight.clear()

    def realize(self) -> None:
        m = self.machine
        m.system.add_subregion(AMDVI_BASE_ADDR, self.mmio)
        bus = m.pci_bus
        bus.iommu_fn = self._iommu_fn
        self._bus = bus
        self.engine.dma.release_hooks.append(self._on_release)
        self._retarget_all()

    def unrealize(self) -> None:
        if self.mmio.parent is not None:
            self.mmio.parent.del_subregion(self.mmio)
        if self._bus is not None and self._bus.iommu_fn == self._iommu_fn:
            self._bus.iommu_fn = None
        hooks = self.engine.dma.release_hooks
        if self._on_release in hooks:
            hooks.remove(self._on_release)
        self.enabled = False
        self._retarget_all()
        super().unrealize()

    def reset(self) -> None:
        super().reset()
        self._init_state()
        self._set_device_id()
        self._retarget_all()

    def banks(self) -> dict[str, RegisterBank]:
        return {"regs": self.regs}

    # -- per-device address spaces ---------------------------------------------------------

    def _iommu_fn(self, bus: PciBus, dfn: int) -> MemoryRegion:
        """PciBus.iommu_fn (QEMU amdvi_host_dma_iommu): the window a function's DMA uses."""
        if not self.enabled:
            return bus.dma_root
        return self._space(bus.number, dfn).root

    def _space(self, bus_num: int, dfn: int) -> _DevfnSpace:
        key = (bus_num << 8) | dfn
        sp = self._spaces.get(key)
        if sp is None:
            sp = _DevfnSpace(self, bus_num, dfn)
            self._spaces[key] = sp
        return sp

    def _retarget_all(self) -> None:
        devices = self.machine.pci_devices()
        with transaction():
            for d in devices:
                d.retarget_dma()
        self.tracer.emit(
            ev.amdvi_dma_switch, state="on" if self.enabled else "off", count=len(devices)
        )

    def devid_of(self, dev: PciDevice) -> int:
        """The requester ID this IOMMU sees for a function: behind conventional bridges, the
        topmost bridge's (QEMU pci_device_iommu_address_space aliasing)."""
        d = dev
        while d.bus.parent is not None:
            d = d.bus.parent
        return (d.bus.number << 8) | d.devfn

    def functions_behind(self, devid: int) -> list[PciDevice]:
        """Every PCI function whose DMA reaches the IOMMU as ``devid``."""
        return [d for d in self.machine.pci_devices() if self.devid_of(d) == devid]

    # -- MMIO (amdvi_mmio_read / amdvi_mmio_write) -----------------------------------------

    def _trace_mmio(self, off: int, size: int) -> None:
        # QEMU 7.2's amdvi_mmio_trace() prints amdvi_mmio_read for reads and writes alike.
        if ev.amdvi_mmio_read in self.tracer.enabled:
            self.tracer.emit(
                ev.amdvi_mmio_read, reg=mmio_reg_name(off), addr=off, size=size, offset=off & ~7
            )

    def _mmio_read(self, off: int, size: int) -> int:
        self._trace_mmio(off, size)
        if size == 1:
            return U64  # amdvi_mmio_read handles 2, 4 and 8 bytes; val stays -1
        return self.regs.read(off, size)

    def _mmio_write(self, off: int, val: int, size: int) -> None:
        self._trace_mmio(off, size)
        reg = off & ~7
        handler = _WRITE_HANDLERS.get(reg)
        if handler is None:
            return
        self._wr_ctx = (off, size)
        try:
            if size != 1:
                self.regs.write(off, val, size)
            elif handler:
                # amdvi_mmio_reg_write ignores 1-byte writes, but the register's handler runs.
                getattr(self, handler)(0, 0)
        finally:
            self._wr_ctx = None

    def _write_shape(self, reg: int) -> tuple[int, int]:
        return self._wr_ctx if self._wr_ctx is not None else (reg, 8)

    @on_write("control")
    def _control_written(self, old: int, new: int) -> None:
        """amdvi_handle_control_write."""
        control = self.regs.peek("control")
        was = self.enabled
        self.enabled = bool(control & CTRL_IOMMU_EN)
        self.evtlog_enabled = self.enabled and bool(control & CTRL_EVENT_LOG_EN)
        self.evtlog_intr = bool(control & CTRL_EVENT_INT_EN)
        self.completion_wait_intr = bool(control & CTRL_COM_WAIT_INT_EN)
        self.cmdbuf_enabled = self.enabled and bool(control & CTRL_CMD_BUF_EN)
        self.ga_enabled = bool(control & CTRL_GA_EN)
        st = self.regs.peek("status")
        st = st | ST_CMDBUF_RUN if self.cmdbuf_enabled else st & ~ST_CMDBUF_RUN
        st = st | ST_EVT_RUN if self.evtlog_enabled else st & ~ST_EVT_RUN
        self.regs.poke("status", st)
        self.tracer.emit(ev.amdvi_control_status, status=control)
        if was != self.enabled:
            self._retarget_all()
        self._cmdbuf_run()

    @on_write("devtab_base")
    def _devtab_written(self, old: int, new: int) -> None:
        off, size = self._write_shape(0x00)
        if off & 7 or size == 8:  # QEMU's "has software finished writing" guess
            val = self.regs.peek("devtab_base")
            self.devtab = val & BASE_MASK
            self.devtab_len = ((val & 0xFFF) + 1) * (4096 // DTE_SIZE)

    @on_write("cmdbuf_base")
    def _cmdbuf_base_written(self, old: int, new: int) -> None:
        off, size = self._write_shape(0x08)
        if off & 7 or size == 8:
            val = self.regs.peek("cmdbuf_base")
            self.cmdbuf = val & BASE_MASK
            self.cmdbuf_len = 1 << ((val >> 56) & 0xF)
            self.cmdbuf_head = self.cmdbuf_tail = 0  # the registers keep their values
            self.stalled = False

    @on_write("evtlog_base")
    def _evtlog_base_written(self, old: int, new: int) -> None:
        val = self.regs.peek("evtlog_base")
        fixed = self.fixes[EVENT_LOG]
        if fixed and self.regs.peek("status") & ST_EVENT_INT:
            return  # newer QEMU: not while EventLogInt is pending
        self.evtlog = val & BASE_MASK
        self.evtlog_len = 1 << ((val >> 56) & 0xF)
        if fixed:
            self.evtlog_head = self.evtlog_tail = 0
            self.regs.poke("evt_head", 0)
            self.regs.poke("evt_tail", 0)

    @on_write("cmd_head")
    def _cmd_head_written(self, old: int, new: int) -> None:
        self.cmdbuf_head = self.regs.peek("cmd_head") & HEAD_MASK
        self.stalled = False
        self._cmdbuf_run()

    @on_write("cmd_tail")
    def _cmd_tail_written(self, old: int, new: int) -> None:
        self.cmdbuf_tail = self.regs.peek("cmd_tail") & HEAD_MASK
        self._cmdbuf_run()

    @on_write("evt_head")
    def _evt_head_written(self, old: int, new: int) -> None:
        self.evtlog_head = self.regs.peek("evt_head") & HEAD_MASK

    @on_write("evt_tail")
    def _evt_tail_written(self, old: int, new: int) -> None:
        self.evtlog_tail = self.regs.peek("evt_tail") & HEAD_MASK

    @on_write("excl_limit")
    def _excl_limit_written(self, old: int, new: int) -> None:
        self.excl_limit = (self.regs.peek("excl_limit") & BASE_MASK) | 0xFFF

    @on_write("ppr_base")
    def _ppr_base_written(self, old: int, new: int) -> None:
        val = self.regs.peek("ppr_base")
        self.ppr_log = val & BASE_MASK
        self.pprlog_len = 1 << ((self.regs.peek("evtlog_base") >> 56) & 0xF)  # QEMU reads
        # AMDVI_MMIO_PPRLOG_SIZE_BYTE, defined as the event log's size byte

    @on_write("ppr_head")
    def _ppr_head_written(self, old: int, new: int) -> None:
        self.pprlog_head = self.regs.peek("ppr_head") & HEAD_MASK

    @on_write("ppr_tail")
    def _ppr_tail_written(self, old: int, new: int) -> None:
        self.pprlog_tail = self.regs.peek("ppr_tail") & HEAD_MASK

    @before_write("status")
    def _status_write(self, old: int, new: int) -> int | None:
        # QEMU 7.2's amdvi_mmio_write has no case for the Status register.
        return new if self.fixes[STATUS_W1C] else None

    # -- interrupts and events -------------------------------------------------------------

    def generate_msi(self) -> None:
        """amdvi_generate_msi_interrupt: store the MSI data through system memory (not
        through this function's own bus-master space), if the guest enabled MSI."""
        if not self.msi_enabled:
            return
        p = MSI_CAP
        addr = int.from_bytes(self.config[p + 4 : p + 12], "little")
        data = int.from_bytes(self.config[p + 12 : p + 14], "little")
        self.msi_count += 1
        self.tracer.emit(dev_ev.msi_notify, dev=self.name, vector=0, addr=addr, data=data)
        self.sysmem.store(addr, 4, data, MemTxAttrs(requester_id=self.requester_id))

    def _status_or(self, bits: int) -> None:
        self.regs.poke("status", self.regs.peek("status") | bits)

    def log_event(
        self, code: int, devid: int, addr: int, flags: int = 0, target_abort: bool = False
    ) -> None:
        """Raise an event (QEMU amdvi_log_event and its callers).

        Args:
            code: the event code.
            devid: the DeviceID field.
            addr: the address field.
            flags: info bits 11:0 (IO_PAGE_FAULT: I | requested permission).
            target_abort: also set Signaled Target Abort in the PCI status, as QEMU's
                page-fault, device-table, page-table and command-fetch errors do.
        """
        if target_abort:
            st = self._cfg_word(STATUS) | STATUS_SIG_TARGET_ABORT
            self.config[STATUS : STATUS + 2] = st.to_bytes(2, "little")
        qw0, qw1 = encode_event(code, devid, addr, flags)
        outcome = self._write_event(qw0, qw1)
        self.event_seq += 1
        decoded = decode_event(qw0, qw1)
        self.events.append(EventRecord(self.event_seq, self.engine.clock.now_ns, decoded, outcome))
        self.tracer.emit(
            ev.amdvi_event,
            event=decoded.name,
            devid=format_bdf(devid),
            addr=addr,
            flags=flags,
            outcome=outcome,
        )

    def _write_event(self, qw0: int, qw1: int) -> str:
        if not self.fixes[EVENT_LOG]:
            return "dropped: QEMU 7.2 never writes events (fix amdvi-event-log)"
        if not self.evtlog_enabled:
            return "dropped: event logging is off (EventLogEn)"
        if self.regs.peek("status") & ST_EVT_OVF:
            return "dropped: EventOverflow is set"
        size = self.evtlog_len * EVENT_SIZE
        nxt = (self.evtlog_tail + EVENT_SIZE) % size if size else 0
        if nxt == self.evtlog_head:
            if self.evtlog_intr:
                self._status_or(ST_EVT_OVF)
                self.generate_msi()
            return "dropped: event log full (EventOverflow)"
        where = self.evtlog + self.evtlog_tail
        data = qw0.to_bytes(8, "little") + qw1.to_bytes(8, "little")
        if self.sysmem.write(where, data) != _OK:
            self.tracer.emit(ev.amdvi_evntlog_fail, addr=self.evtlog, head=self.evtlog_tail)
        self.evtlog_tail = nxt
        self.regs.poke("evt_tail", nxt)
        if self.evtlog_intr:
            self._status_or(ST_EVENT_INT)
            self.generate_msi()
        return f"written at {where:#x}"

    # -- command buffer (amdvi_cmdbuf_run / amdvi_cmdbuf_exec) -----------------------------

    def _cmdbuf_run(self) -> None:
        if not self.cmdbuf_enabled:
            self.tracer.emit(ev.amdvi_command_error, status=self.regs.peek("control"))
            return
        wrap_fix = self.fixes[CMDBUF_HEAD_WRAP]
        size = self.cmdbuf_len * COMMAND_SIZE
        laps = 0
        while self.cmdbuf_head != self.cmdbuf_tail:
            self.engine.tick(1, "amd-iommu command buffer")
            if self.cmdbuf_head == 0:
                laps += 1
                if laps > 2 and self.cmdbuf_tail >= size:
                    raise MachineHalt(
                        "hung",
                        f"amd-iommu: the command tail {self.cmdbuf_tail:#x} lies beyond the "
                        f"{size:#x}-byte command buffer; the head wraps before reaching it and "
                        "amdvi_cmdbuf_run() loops forever",
                    )
            self.tracer.emit(
                ev.amdvi_command_exec,
                head=self.cmdbuf_head,
                tail=self.cmdbuf_tail,
                base=self.cmdbuf,
            )
            if not self._cmdbuf_exec():
                return  # a deferred COMPLETION_WAIT holds the head
            head = self.cmdbuf_head + COMMAND_SIZE
            if wrap_fix:
                if head >= self.cmdbuf_len * COMMAND_SIZE:
                    head = 0
                self.cmdbuf_head = head
                self.regs.poke("cmd_head", head)
            else:
                # QEMU 7.2 publishes the head before wrapping it.
                self.regs.poke("cmd_head", head)
                self.cmdbuf_head = 0 if head >= self.cmdbuf_len * COMMAND_SIZE else head

    def _cmdbuf_exec(self) -> bool:
        addr = self.cmdbuf + self.cmdbuf_head
        r0, qw0 = self.sysmem.load(addr, 8)
        r1, qw1 = self.sysmem.load(addr + 8, 8)
        seq = self.command_seq + 1
        if r0 != _OK or r1 != _OK:
            self.command_seq = seq
            self.tracer.emit(ev.amdvi_command_read_fail, addr=self.cmdbuf, head=self.cmdbuf_head)
            self.log_event(EventCode.COMMAND_HW_ERROR, 0, addr, target_abort=True)
            self._record(seq, addr, decode_command(0, 0), "fetch failed: COMMAND_HW_ERROR")
            return True
        cmd = decode_command(qw0, qw1)
        op = cmd.opcode
        if op == CommandCode.COMPLETION_WAIT:
            outcome = self._completion_wait(cmd, addr, seq)
            if outcome is None:
                return False
        else:
            if cmd.reserved:
                self._illegal(qw0 >> 60, addr)
            outcome = self._exec_other(cmd, addr, seq)
        self.command_seq = seq
        self._record(seq, addr, cmd, outcome)
        return True

    def _record(self, seq: int, addr: int, cmd: DecodedCommand, outcome: str) -> None:
        self.commands.append(CommandRecord(seq, self.engine.clock.now_ns, addr, cmd, outcome))

    def _illegal(self, opcode: int, addr: int) -> None:
        """amdvi_log_illegalcom_error: ILLEGAL_COMMAND_ERROR, DeviceID 0, the opcode in the
        info bits and the command's address."""
        self.log_event(EventCode.ILLEGAL_COMMAND_ERROR, 0, addr, flags=opcode & 0xF)

    def _completion_wait(self, cmd: DecodedCommand, addr: int, seq: int) -> str | None:
        """amdvi_completion_wait; with fix iommu-inval-drain, deferred while DMA mappings
        still use translations invalidated before it (returns None then)."""
        blocking = self.inflight.blocking()
        if blocking and self.fixes[INVAL_DRAIN]:
            if not self.stalled:
                self.stalled = True
                self.stalled_since_ns = self.engine.clock.now_ns
                domains = self.inflight.domains()
                self.tracer.emit(
                    ev.amdvi_completion_wait_deferred,
                    count=len(blocking),
                    domains=",".join(str(d) for d in domains) or "-",
                )
            return None
        if self.stalled:
            self.stalled = False
            self.tracer.emit(
                ev.amdvi_completion_wait_drained,
                waited_ns=self.engine.clock.now_ns - self.stalled_since_ns,
            )
        qw0, qw1 = cmd.qw0, cmd.qw1
        store = ((qw0 >> 3) & ((1 << 49) - 1)) << 3
        if (qw0 >> 52) & 0xFF:
            self._illegal(qw0 >> 60, addr)
        stale = self._complete_invalidations(seq)
        words = []
        if qw0 & 1:
            if self.sysmem.write(store, qw1.to_bytes(8, "little")) != _OK:
                self.tracer.emit(ev.amdvi_completion_wait_fail, addr=store)
                words.append(f"store to {store:#x} failed")
            else:
                words.append(f"stored {qw1:#x} at {store:#x}")
        if qw0 & 2:
            # QEMU sets ComWaitInt and sends the MSI whatever ComWaitIntEn says.
            self._status_or(ST_COMP_INT)
            self.generate_msi()
            words.append("ComWaitInt")
        self.tracer.emit(ev.amdvi_completion_wait, addr=store, data=qw1)
        if stale:
            words.append(f"{stale} mapping(s) still in flight became stale")
        return ", ".join(words) or "no store, no interrupt"

    def _exec_other(self, cmd: DecodedCommand, addr: int, seq: int) -> str:
        qw0, qw1 = cmd.qw0, cmd.qw1
        op = cmd.opcode
        if op == CommandCode.INVALIDATE_DEVTAB_ENTRY:
            devid = qw0 & 0xFFFF
            # QEMU caches nothing it would flush here, though IOTLB entries carry the
            # DTE's DomainID and permissions.
            self.tracer.emit(
                ev.amdvi_devtab_inval, bus=devid >> 8, slot=(devid >> 3) & 0x1F, func=devid & 7
            )
            return f"devid {format_bdf(devid)}: nothing flushed (QEMU keeps no DTE cache)"
        if op == CommandCode.INVALIDATE_IOMMU_PAGES:
            domid = (qw0 >> 32) & 0xFFFF
            n = self._iotlb_remove(lambda e: e.domid == domid)
            lo, hi = decode_invalidation_range(qw1 & ~0xFFF & U64, bool(qw1 & 1))
            devids = {d for d, sp in self._spaces.items() if self._domain_of(sp.devid) == domid}
            self._note_invalidation(lo, hi, devids, seq, domid)
            self.tracer.emit(ev.amdvi_pages_inval, domid=domid)
            return f"domain {domid}: {n} IOTLB entries dropped (QEMU drops the whole domain)"
        if op == CommandCode.INVALIDATE_IOTLB_PAGES:
            if cmd.reserved:
                return "illegal: ignored"
            devid = qw0 & 0xFFFF
            page = qw1 & ~0xFFF & U64
            if qw1 & 1:
                n = self._iotlb_remove(lambda e: e.devid == devid)
                lo, hi = 0, 1 << 64
            else:
                key = (devid << DEVID_SHIFT) | (page >> 12)
                n = 1 if self.iotlb.pop(key, None) is not None else 0
                lo, hi = page, page + 4096
            self._note_invalidation(lo, hi, {devid}, seq, None)
            self.tracer.emit(ev.amdvi_iotlb_inval)
            return f"devid {format_bdf(devid)}: {n} IOTLB entries dropped"
        if op == CommandCode.INVALIDATE_INTERRUPT_TABLE:
            if cmd.reserved:
                return "illegal: ignored"
            self.tracer.emit(ev.amdvi_intr_inval)
            return "interrupt table invalidated (not modelled)"
        if op == CommandCode.PREFETCH_IOMMU_PAGES:
            self.tracer.emit(ev.amdvi_prefetch_pages)
            return "prefetch requested (nothing to do)"
        if op == CommandCode.COMPLETE_PPR_REQUEST:
            self.tracer.emit(ev.amdvi_ppr_exec)
            return "PPR completion (not modelled)"
        if op == CommandCode.INVALIDATE_IOMMU_ALL:
            n = len(self.iotlb)
            self._iotlb_reset()
            self._note_invalidation(0, 1 << 64, None, seq, None)
            self.tracer.emit(ev.amdvi_all_inval)
            return f"{n} IOTLB entries dropped"
        # QEMU 7.2 reports the type from the second quad, and logs it as the opcode.
        self.tracer.emit(ev.amdvi_unhandled_command, type=qw1 >> 60)
        self._illegal(qw1 >> 60, addr)
        return "unknown opcode: ILLEGAL_COMMAND_ERROR"

    # -- IOTLB -----------------------------------------------------------------------------

    def _iotlb_reset(self) -> None:
        self.tracer.emit(ev.amdvi_iotlb_reset)
        self.iotlb.clear()

    def _iotlb_remove(self, pred: Callable[[_IotlbEntry], bool]) -> int:
        dead = [k for k, e in self.iotlb.items() if pred(e)]
        for k in dead:
            del self.iotlb[k]
        return len(dead)

    def iotlb_lookup(self, devid: int, iova: int) -> IotlbView | None:
        """The IOTLB entry a device access of ``devid`` at ``iova`` would use, or None."""
        e = self.iotlb.get((devid << DEVID_SHIFT) | (iova >> 12))
        return None if e is None else self._view(iova >> 12 << 12, e)

    def iotlb_entries(self) -> list[IotlbView]:
        """Every IOTLB entry, by DeviceID then page (``info iotlb``)."""
        out = [self._view((k & ((1 << DEVID_SHIFT) - 1)) << 12, e) for k, e in self.iotlb.items()]
        return sorted(out, key=lambda v: (v.devid, v.iova))

    @staticmethod
    def _view(page: int, e: _IotlbEntry) -> IotlbView:
        return IotlbView(e.devid, page, e.translated, e.mask + 1, _PERMS[e.perm], e.domid)

    def iotlb_flush(self) -> None:
        """Drop every IOTLB entry (what INVALIDATE_IOMMU_ALL does, without a command)."""
        self._iotlb_reset()

    # -- translation (amdvi_translate / amdvi_do_translate) --------------------------------

    def translate_access(self, space: _DevfnSpace, iova: int, perm: IOMMUPerm) -> IOMMUTLBEntry:
        """Translate one device access through ``space`` (the slow path: misses, traces,
        faults). Never raises for guest mistakes."""
        mem = self.sysmem
        if not self.enabled:
            return IOMMUTLBEntry(mem, iova & ~0xFFF, iova & ~0xFFF, 0xFFF, IOMMUPerm.RW)
        if MSI_FIRST <= iova <= MSI_LAST:
            return IOMMUTLBEntry(mem, iova & ~0xFFF, iova & ~0xFFF, 0xFFF, IOMMUPerm.WO)
        req = 2 if int(perm) & 2 else 1
        entry = self._do_translate(space, iova, req, perm)
        if _RESULT in self.tracer.enabled:
            d = space.devid
            self.tracer.emit(
                _RESULT,
                bus=d >> 8,
                slot=(d >> 3) & 0x1F,
                func=d & 7,
                addr=iova,
                txaddr=entry.translated_addr,
            )
        return entry

    def _do_translate(
        self, space: _DevfnSpace, iova: int, req: int, perm: IOMMUPerm
    ) -> IOMMUTLBEntry:
        d = space.devid
        e = self.iotlb.get(space.key | (iova >> 12))
        if e is not None:
            if _HIT in self.tracer.enabled:
                self.tracer.emit(
                    _HIT,
                    bus=d >> 8,
                    slot=(d >> 3) & 0x1F,
                    func=d & 7,
                    addr=iova,
                    txaddr=e.translated,
                )
            if e.perm & req != req:
                if self.fixes[PAGE_WALK]:
                    self.log_event(
                        EventCode.IO_PAGE_FAULT, space.devfn, iova, 0x8 | req, target_abort=True
                    )
                    self.tracer.emit(ev.amdvi_page_fault, addr=iova)
                    return self._fault(space, iova, perm, "the IOTLB entry denies it", True)
                return self._deny(e.entry, space, iova, perm, "the cached IOTLB entry denies it")
            return e.entry
        out = run_walk(self, d, space.devfn, iova, req, None)
        got = out.perm
        if got & req == req:
            if out.cache:
                return self._update_iotlb(space, iova, out)
            return self._entry(iova, out)
        if got:
            entry = self._update_iotlb(space, iova, out) if out.cache else self._entry(iova, out)
            return self._deny(entry, space, iova, perm, out.reason)
        return self._fault(space, iova, perm, out.reason, out.event)

    def _entry(self, iova: int, out: WalkOutcome) -> IOMMUTLBEntry:
        return IOMMUTLBEntry(
            self.sysmem, iova & ~out.mask, out.translated & ~out.mask, out.mask, _PERMS[out.perm]
        )

    def _fault(
        self, space: _DevfnSpace, iova: int, perm: IOMMUPerm, reason: str, event: str | bool
    ) -> IOMMUTLBEntry:
        name = "IO_PAGE_FAULT" if event is True else (event or "")
        fault = IOMMUFault(space.devid, iova, perm, reason or "no translation", name)
        return IOMMUTLBEntry(self.sysmem, iova, 0, U64, IOMMUPerm.NONE, fault)

    def _deny(
        self, e: IOMMUTLBEntry, space: _DevfnSpace, iova: int, perm: IOMMUPerm, reason: str
    ) -> IOMMUTLBEntry:
        """A translation that exists but lacks the permission: QEMU returns it and the
        memory core refuses the access (no event); the fault explains it to the device."""
        fault = IOMMUFault(space.devid, iova, perm, reason or "permission denied", "")
        return IOMMUTLBEntry(e.target_as, e.iova, e.translated_addr, e.addr_mask, e.perm, fault)

    def _update_iotlb(self, space: _DevfnSpace, iova: int, out: WalkOutcome) -> IOMMUTLBEntry:
        """amdvi_update_iotlb: cache a successful translation under (DeviceID, 4 KiB page)."""
        d = space.devid
        if ev.amdvi_cache_update in self.tracer.enabled:
            self.tracer.emit(
                ev.amdvi_cache_update,
                domid=out.domid,
                bus=d >> 8,
                slot=(d >> 3) & 0x1F,
                func=d & 7,
                gpa=iova,
                txaddr=out.translated,
            )
        iotlb = self.iotlb
        if len(iotlb) >= IOTLB_MAX:
            self._iotlb_reset()
        mask = out.mask
        page = out.translated & ~mask
        entry = IOMMUTLBEntry(self.sysmem, iova & ~mask, page, mask, _PERMS[out.perm])
        iotlb[space.key | (iova >> 12)] = _IotlbEntry(out.domid, d, out.perm, page, mask, entry)
        return entry

    def translate(self, devid: int, iova: int, perm: IOMMUPerm) -> IOMMUTLBEntry:
        """Translate as a device access of ``devid`` would (events, IOTLB fill, traces).

        Args:
            devid: the requester ID the IOMMU sees (see :meth:`devid_of`).
            iova: the address.
            perm: ``IOMMUPerm.RO`` or ``IOMMUPerm.WO``.

        Returns:
            QEMU's answer; ``perm`` NONE (or lacking the access) means the access fails.
        """
        return self._space(devid >> 8, devid & 0xFF).translate(iova, perm, MemTxAttrs(devid))

    def walk(
        self, target: int | PciDevice, iova: int, perm: IOMMUPerm = IOMMUPerm.RO
    ) -> WalkExplanation:
        """Explain how an access would translate, level by level, without side effects.

        Args:
            target: a PCI function (its alias requester ID is used) or a DeviceID.
            iova: the address the device uses.
            perm: ``RO`` for a read, ``WO`` for a write.

        Returns:
            The tables read, each entry decoded and checked, the result or the fault
            reason, and what the IOTLB would answer first.
        """
        devid = self.devid_of(target) if isinstance(target, PciDevice) else target & 0xFFFF
        return explain_walk(self, devid, iova, perm)

    # -- MSI window (amdvi_mem_ir_read / amdvi_mem_ir_write) -------------------------------

    def _ir_read(self, off: int, size: int, attrs: MemTxAttrs) -> tuple[MemTxResult, int]:
        return _OK, 0

    def _ir_write(self, off: int, value: int, size: int, attrs: MemTxAttrs) -> MemTxResult:
        addr = MSI_FIRST + off
        tr = self.tracer
        tr.emit(ev.amdvi_mem_ir_write_req, addr=off, val=value, size=size)
        sid = IOAPIC_SB_DEVID if attrs.requester_id is None else attrs.requester_id
        tr.emit(ev.amdvi_ir_remap_msi_req, addr=addr, data=value, devid=sid)
        if self.devtab_len:
            dte = self.read_dte(sid, live=True)
            if dte is None:
                return MemTxResult.ERROR
            if dte.iv:
                self.unimp(
                    f"amd-iommu: interrupt remapping (DTE[IV]=1 for {format_bdf(sid)}) is not "
                    "modelled; the MSI passes untranslated"
                )
        tr.emit(ev.amdvi_ir_remap_msi, addr=addr, data=value, addr2=addr, data2=value)
        result = self.sysmem.store(addr, 4, value, attrs)
        tr.emit(ev.amdvi_mem_ir_write, addr=addr, val=value)
        return result

    # -- invalidation vs in-flight DMA (scenario d) ----------------------------------------

    def _domain_of(self, devid: int) -> int | None:
        dte = self.read_dte(devid)
        return dte.domain_id if dte is not None and dte.v else None

    def _note_invalidation(
        self, lo: int, hi: int, devids: set[int] | None, seq: int, domid: int | None
    ) -> None:
        """Remember the live mappings whose translation this invalidation removed; the next
        COMPLETION_WAIT tells the guest they are gone."""
        if not self.engine.dma.mappings:
            return
        names = None
        if devids is not None:
            names = {d.name for d in self.machine.pci_devices() if self.devid_of(d) in devids}
        self.inflight.note(lo, hi, names, seq, domid)

    def _complete_invalidations(self, seq: int) -> int:
        """A COMPLETION_WAIT signals: mappings still in flight now use translations the guest
        was told are gone — the DMA checker flags any further use."""
        stale = self.inflight.complete()
        for m in stale:
            self.tracer.emit(
                ev.amdvi_stale_mapping, id=m.id, dev=m.device, iova=m.addr, len=m.length, cmd=seq
            )
        return len(stale)

    def _on_release(self, m: DmaMapping) -> None:
        if self.inflight.release(m) and self.stalled and not self.inflight.blocking():
            self._resume_bh.schedule()

    def _resume_commands(self) -> None:
        if self.stalled:
            self._cmdbuf_run()

    def pending_invalidations(self) -> list[tuple[DmaMapping, int, int | None]]:
        """Live mappings invalidated since the last COMPLETION_WAIT: ``(mapping, cmd#,
        domain)``; with fix iommu-inval-drain a wait is held until this is empty."""
        return self.inflight.pending()

    # -- views for the monitor -------------------------------------------------------------

    def read_dte(self, devid: int, live: bool = False) -> Dte | None:
        """The device table entry of ``devid`` (None when it cannot be read).

        Args:
            devid: the DeviceID.
            live: log DEV_TAB_HW_ERROR / ILLEGAL_DEV_TABLE_ENTRY as QEMU's amdvi_get_dte
                does (the MSI path); False reads without side effects.
        """
        addr = self.devtab + devid * DTE_SIZE
        qs = []
        for i in range(4):
            r, v = self.sysmem.load(addr + 8 * i, 8)
            if r != _OK:
                if live:
                    self.tracer.emit(ev.amdvi_dte_get_fail, addr=self.devtab, offset=addr)
                    self.log_event(EventCode.DEV_TAB_HW_ERROR, devid, addr, target_abort=True)
                return None
            qs.append(v)
        dte = Dte.decode((qs[0], qs[1], qs[2], qs[3]))
        if live and any(dte.reserved_bits()):
            self.log_event(EventCode.ILLEGAL_DEV_TABLE_ENTRY, devid, addr)
            self.tracer.emit(ev.amdvi_invalid_dte, addr=qs[0])
            return None
        return dte

    def devices_view(self) -> list[DeviceView]:
        """Every requester ID with PCI functions behind it, and its DTE (``info iommu``)."""
        groups: dict[int, list[str]] = {}
        for d in self.machine.pci_devices():
            groups.setdefault(self.devid_of(d), []).append(d.name)
        out = []
        for devid in sorted(groups):
            dte = self.read_dte(devid) if self.devtab_len else None
            on = self.enabled and dte is not None and dte.v
            out.append(DeviceView(devid, tuple(groups[devid]), dte, on))
        return out

    def domains_view(self) -> list[DomainView]:
        """The DomainIDs valid DTEs use, with their devices and page-table roots."""
        doms: dict[int, tuple[list[int], set[int]]] = {}
        for view in self.devices_view():
            dte = view.dte
            if dte is not None and dte.v and dte.tv:
                devids, roots = doms.setdefault(dte.domain_id, ([], set()))
                devids.append(view.devid)
                roots.add(dte.root)
        counts: dict[int, int] = {}
        for e in self.iotlb.values():
            counts[e.domid] = counts.get(e.domid, 0) + 1
        return [
            DomainView(dom, tuple(devids), tuple(sorted(roots)), counts.get(dom, 0))
            for dom, (devids, roots) in sorted(doms.items())
        ]

    def decoded_events(self) -> list[tuple[int, DecodedEvent]]:
        """The unread event log entries (head to tail) in guest memory: ``(offset, event)``."""
        out: list[tuple[int, DecodedEvent]] = []
        size = self.evtlog_len * EVENT_SIZE
        if not size:
            return out
        off = self.evtlog_head % size
        for _ in range(self.evtlog_len):
            if off == self.evtlog_tail:
                break
            _, qw0 = self.sysmem.load(self.evtlog + off, 8)
            _, qw1 = self.sysmem.load(self.evtlog + off + 8, 8)
            out.append((off, decode_event(qw0, qw1)))
            off = (off + EVENT_SIZE) % size
        return out

    def event_history(self) -> list[EventRecord]:
        """Every event raised since reset (the last 256), with what became of it."""
        return list(self.events)

    def command_history(self) -> list[CommandRecord]:
        """Every command executed since reset (the last 256)."""
        return list(self.commands)

    def decode_registers(self) -> list[RegisterView]:
        """The registers with their fields, in offset order (``info iommu``)."""
        out = []
        for info in AmdviRegs.registers():
            value = self.regs.peek(info.name)
            out.append(
                RegisterView(
                    info.name,
                    info.offset,
                    value,
                    tuple(AmdviRegs.decode(info.name, value)),
                    info.doc,
                )
            )
        return out

    def state(self) -> dict[str, int | bool]:
        """QEMU's internal copies (``AMDVIState``), which can differ from the registers."""
        return {
            "enabled": self.enabled,
            "evtlog_enabled": self.evtlog_enabled,
            "evtlog_intr": self.evtlog_intr,
            "completion_wait_intr": self.completion_wait_intr,
            "cmdbuf_enabled": self.cmdbuf_enabled,
            "ga_enabled": self.ga_enabled,
            "devtab": self.devtab,
            "devtab_len": self.devtab_len,
            "cmdbuf": self.cmdbuf,
            "cmdbuf_len": self.cmdbuf_len,
            "cmdbuf_head": self.cmdbuf_head,
            "cmdbuf_tail": self.cmdbuf_tail,
            "evtlog": self.evtlog,
            "evtlog_len": self.evtlog_len,
            "evtlog_head": self.evtlog_head,
            "evtlog_tail": self.evtlog_tail,
            "iotlb_entries": len(self.iotlb),
            "stalled": self.stalled,
        }

    def status_lines(self) -> list[str]:
        dma = "translated" if self.enabled else "pass-through"
        return [
            f"mmio {AMDVI_BASE_ADDR:#x}+{AMDVI_MMIO_SIZE:#x}, DMA {dma}, "
            f"IOTLB {len(self.iotlb)} entries",
            f"commands {self.command_seq}, events {self.event_seq}"
            + (", COMPLETION_WAIT deferred" if self.stalled else ""),
        ]


# Registers amdvi_mmio_write handles (QEMU 7.2 plus Status); the value names the hook that
# also runs for 1-byte writes, which QEMU does not store ("" for Status: nothing runs).
_WRITE_HANDLERS: dict[int, str] = {
    0x0000: "_devtab_written",
    0x0008: "_cmdbuf_base_written",
    0x0010: "_evtlog_base_written",
    0x0018: "_control_written",
    0x0028: "_excl_limit_written",
    0x0038: "_ppr_base_written",
    0x2000: "_cmd_head_written",
    0x2008: "_cmd_tail_written",
    0x2010: "_evt_head_written",
    0x2018: "_evt_tail_written",
    0x2020: "",
    0x2030: "_ppr_head_written",
    0x2038: "_ppr_tail_written",
}
