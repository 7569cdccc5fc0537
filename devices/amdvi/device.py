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

The device is put together from parts it owns: the command buffer
(:mod:`~dmamon.devices.amdvi.cmdbuf`), the event log (:mod:`~dmamon.devices.amdvi.evtlog`),
the IOTLB (:mod:`~dmamon.devices.amdvi.iotlb`) and the translator
(:mod:`~dmamon.devices.amdvi.translate`); :meth:`AmdIommu.info` returns the records of
:mod:`~dmamon.devices.amdvi.info`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from dmamon.devices import trace_events as dev_ev
from dmamon.devices.amdvi import trace_events as ev
from dmamon.devices.amdvi import views
from dmamon.devices.amdvi.cmdbuf import CommandBuffer
from dmamon.devices.amdvi.evtlog import EventLog
from dmamon.devices.amdvi.explain import WalkExplanation, explain_walk
from dmamon.devices.amdvi.formats import U64, DecodedEvent, Dte
from dmamon.devices.amdvi.identity import MSI_CAP, build_config
from dmamon.devices.amdvi.info import (
    AmdIommuInfo,
    CommandRecord,
    DeviceView,
    DomainView,
    EventRecord,
    InternalState,
    RegisterView,
)
from dmamon.devices.amdvi.iotlb import Iotlb, IotlbView
from dmamon.devices.amdvi.registers import (
    AMDVI_BASE_ADDR,
    AMDVI_MMIO_SIZE,
    BASE_MASK,
    HEAD_MASK,
    PAGE_WALK,
    STATUS_W1C,
    AmdviRegs,
    mmio_reg_name,
)
from dmamon.devices.amdvi.translate import DevfnSpace, MsiWindow, Translator
from dmamon.devices.amdvi.walk import RamCache
from dmamon.devices.pci import STATUS, PciBus, PciDevice
from dmamon.devices.props import DeviceProps, prop
from dmamon.devices.regs import RegisterBank, before_write, on_write
from dmamon.memory import (
    ConfigError,
    DmaMapping,
    IOMMUPerm,
    IOMMUTLBEntry,
    MemoryRegion,
    MemTxAttrs,
    MemTxResult,
    transaction,
)

if TYPE_CHECKING:
    from dmamon.devices.amdvi.driver import AmdIommuDriver
    from dmamon.devices.machine import Machine

__all__ = [
    "AmdIommu",
    "AmdIommuProps",
    "CommandRecord",
    "DeviceView",
    "DomainView",
    "EventRecord",
    "RegisterView",
    "find_iommu",
]

_OK = MemTxResult.OK
STATUS_SIG_TARGET_ABORT = 0x0800


@dataclass(frozen=True)
class AmdIommuProps(DeviceProps):
    """The ``-device amd-iommu`` properties (accepted as QEMU does; none is modelled)."""

    intremap: str = prop("auto", "interrupt remapping (accepted; not modelled)")
    device_iotlb: bool = prop(False, "device IOTLB (accepted; not modelled)", "device-iotlb")
    pt: bool = prop(True, "pass-through (accepted; not modelled)")


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
    Props = AmdIommuProps
    page_walk_fix = PAGE_WALK
    fixed_placement = True  # a sysbus device in QEMU: no addr= or bus= (next free slot)

    def __init__(self, machine: Machine, name: str, props: dict[str, int | bool | str]) -> None:
        if find_iommu(machine) is not None:
            raise ConfigError("QEMU does not support multiple vIOMMUs for x86 yet.")
        super().__init__(machine, name, props)
        self.fixes = machine.engine.fixes
        self.sysmem = machine.memory
        self.regs = AmdviRegs(self)
        self.mmio = self.io_region(
            "amdvi-mmio", AMDVI_MMIO_SIZE, self._mmio_read, self._mmio_write, (1, 8), (1, 8)
        )
        self.msi_window = MsiWindow(self)
        self.msi_cap = build_config(self.config, self.wmask, self._cfg_word(STATUS))
        self.iotlb = Iotlb(self.tracer, self.sysmem)
        self.translator = Translator(self)
        self.ram_cache = RamCache()  # where the page walk last found the device table
        self._spaces: dict[int, DevfnSpace] = {}
        self._bus: PciBus | None = None
        self._wr_ctx: tuple[int, int] | None = None
        self.driver: AmdIommuDriver | None = None  # the guest-driver helper that set it up
        self.cmdbuf = CommandBuffer(self)
        self.evtlog = EventLog(self)
        self._init_state()

    # -- PCI identity ----------------------------------------------------------------------

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
        self.ga_enabled = False
        self.devtab = 0
        self.devtab_len = 0
        self.excl_limit = 0
        self.ppr_log = 0
        self.pprlog_len = 0
        self.pprlog_head = 0
        self.pprlog_tail = 0
        self.regs.reset()  # Extended Features resets to QEMU's AMDVI_EXT_FEATURES
        self.cmdbuf.reset()
        self.evtlog.reset()

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

    def _on_release(self, m: DmaMapping) -> None:
        self.cmdbuf.on_release(m)

    # -- per-device address spaces ---------------------------------------------------------

    def _iommu_fn(self, bus: PciBus, dfn: int) -> MemoryRegion:
        """PciBus.iommu_fn (QEMU amdvi_host_dma_iommu): the window a function's DMA uses."""
        if not self.enabled:
            return bus.dma_root
        return self._space(bus.number, dfn).root

    def _space(self, bus_num: int, dfn: int) -> DevfnSpace:
        key = (bus_num << 8) | dfn
        sp = self._spaces.get(key)
        if sp is None:
            sp = DevfnSpace(self, bus_num, dfn)
            self._spaces[key] = sp
        return sp

    def space_devids(self) -> list[int]:
        """The requester IDs that have had a translated address space."""
        return list(self._spaces)

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

    def _fully_written(self, reg: int) -> bool:
        """QEMU's "has software finished writing" guess for a base register: a write of
        its upper half, or of all of it."""
        off, size = self._wr_ctx if self._wr_ctx is not None else (reg, 8)
        return bool(off & 7) or size == 8

    @on_write("control")
    def _control_written(self, old: int, new: int) -> None:
        """amdvi_handle_control_write."""
        regs = self.regs
        was = self.enabled
        self.enabled = bool(regs.field("control", "iommu_en"))
        self.evtlog.enabled = self.enabled and bool(regs.field("control", "event_log_en"))
        self.evtlog.intr = bool(regs.field("control", "event_int_en"))
        self.cmdbuf.completion_wait_intr = bool(regs.field("control", "com_wait_int_en"))
        self.cmdbuf.enabled = self.enabled and bool(regs.field("control", "cmd_buf_en"))
        self.ga_enabled = bool(regs.field("control", "ga_en"))
        regs.set_field("status", "cmd_buf_run", int(self.cmdbuf.enabled))
        regs.set_field("status", "event_log_run", int(self.evtlog.enabled))
        self.tracer.emit(ev.amdvi_control_status, status=regs.peek("control"))
        if was != self.enabled:
            self._retarget_all()
        self.cmdbuf.run()

    @on_write("devtab_base")
    def _devtab_written(self, old: int, new: int) -> None:
        if self._fully_written(0x00):
            self.devtab = self.regs.field("devtab_base", "base") << 12
            self.devtab_len = (self.regs.field("devtab_base", "size") + 1) * (4096 // 32)

    @on_write("cmdbuf_base")
    def _cmdbuf_base_written(self, old: int, new: int) -> None:
        if self._fully_written(0x08):
            self.cmdbuf.base_written()

    @on_write("evtlog_base")
    def _evtlog_base_written(self, old: int, new: int) -> None:
        self.evtlog.base_written()

    @on_write("cmd_head")
    def _cmd_head_written(self, old: int, new: int) -> None:
        self.cmdbuf.head_written()

    @on_write("cmd_tail")
    def _cmd_tail_written(self, old: int, new: int) -> None:
        self.cmdbuf.tail_written()

    @on_write("evt_head")
    def _evt_head_written(self, old: int, new: int) -> None:
        self.evtlog.head_written()

    @on_write("evt_tail")
    def _evt_tail_written(self, old: int, new: int) -> None:
        self.evtlog.tail_written()

    @on_write("excl_limit")
    def _excl_limit_written(self, old: int, new: int) -> None:
        self.excl_limit = (self.regs.peek("excl_limit") & BASE_MASK) | 0xFFF

    @on_write("ppr_base")
    def _ppr_base_written(self, old: int, new: int) -> None:
        self.ppr_log = self.regs.peek("ppr_base") & BASE_MASK
        # QEMU reads AMDVI_MMIO_PPRLOG_SIZE_BYTE, defined as the event log's size byte.
        self.pprlog_len = 1 << self.regs.field("evtlog_base", "len")

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

    def signal_target_abort(self) -> None:
        """Set Signaled Target Abort in the PCI status (QEMU's page-fault, device-table,
        page-table and command-fetch errors do)."""
        st = self._cfg_word(STATUS) | STATUS_SIG_TARGET_ABORT
        self.config[STATUS : STATUS + 2] = st.to_bytes(2, "little")

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
        self.evtlog.log(code, devid, addr, flags, target_abort)

    # -- state the monitor reads -----------------------------------------------------------

    @property
    def stalled(self) -> bool:
        """A COMPLETION_WAIT is deferred (fix iommu-inval-drain)."""
        return self.cmdbuf.stalled

    @property
    def stalled_since_ns(self) -> int:
        """Virtual time the deferred COMPLETION_WAIT was first reached."""
        return self.cmdbuf.stalled_since_ns

    @property
    def command_seq(self) -> int:
        """Commands executed since reset."""
        return self.cmdbuf.seq

    @property
    def event_seq(self) -> int:
        """Events raised since reset."""
        return self.evtlog.seq

    # -- translation -----------------------------------------------------------------------

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

    def iotlb_lookup(self, devid: int, iova: int) -> IotlbView | None:
        """The IOTLB entry a device access of ``devid`` at ``iova`` would use, or None."""
        return self.iotlb.lookup(devid, iova)

    def iotlb_entries(self) -> list[IotlbView]:
        """Every IOTLB entry, by DeviceID then page (``info iotlb``)."""
        return self.iotlb.views()

    def iotlb_flush(self) -> None:
        """Drop every IOTLB entry (what INVALIDATE_IOMMU_ALL does, without a command)."""
        self.iotlb.reset()

    def pending_invalidations(self) -> list[tuple[DmaMapping, int, int | None]]:
        """Live mappings invalidated since the last COMPLETION_WAIT: ``(mapping, cmd#,
        domain)``; with fix iommu-inval-drain a wait is held until this is empty."""
        return self.cmdbuf.inflight.pending()

    # -- views for the monitor -------------------------------------------------------------

    def read_dte(self, devid: int, live: bool = False) -> Dte | None:
        """The device table entry of ``devid`` (None when it cannot be read).

        Args:
            devid: the DeviceID.
            live: log DEV_TAB_HW_ERROR / ILLEGAL_DEV_TABLE_ENTRY as QEMU's amdvi_get_dte
                does (the MSI path); False reads without side effects.
        """
        return views.read_dte(self, devid, live)

    def domain_of(self, devid: int) -> int | None:
        """The DomainID of a valid DTE for ``devid`` (None: no valid DTE)."""
        dte = self.read_dte(devid)
        return dte.domain_id if dte is not None and dte.v else None

    def devices_view(self) -> list[DeviceView]:
        """Every requester ID with PCI functions behind it, and its DTE (``info iommu``)."""
        return views.devices_view(self)

    def domains_view(self) -> list[DomainView]:
        """The DomainIDs valid DTEs use, with their devices and page-table roots."""
        return views.domains_view(self)

    def decoded_events(self) -> list[tuple[int, DecodedEvent]]:
        """The unread event log entries (head to tail) in guest memory: ``(offset, event)``."""
        return self.evtlog.unread()

    def event_history(self) -> list[EventRecord]:
        """Every event raised since reset (the last 256), with what became of it."""
        return list(self.evtlog.history)

    def command_history(self) -> list[CommandRecord]:
        """Every command executed since reset (the last 256)."""
        return list(self.cmdbuf.history)

    def decode_registers(self) -> list[RegisterView]:
        """The registers with their fields, in offset order (``info iommu``)."""
        return views.register_views(self.regs)

    def internal_state(self) -> InternalState:
        """QEMU's internal copies (``AMDVIState``), which can differ from the registers."""
        return views.internal_state(self)

    def state(self) -> dict[str, int | bool]:
        """:meth:`internal_state` as a dict (field name -> value)."""
        return asdict(self.internal_state())

    def info(self) -> AmdIommuInfo:
        """Everything the monitor shows about the IOMMU, as typed records (render with
        :func:`~dmamon.devices.amdvi.info.info_lines` or ``dataclasses.asdict``)."""
        return views.build_info(self)

    def status_lines(self) -> list[str]:
        dma = "translated" if self.enabled else "pass-through"
        return [
            f"mmio {AMDVI_BASE_ADDR:#x}+{AMDVI_MMIO_SIZE:#x}, DMA {dma}, "
            f"IOTLB {len(self.iotlb)} entries",
            f"commands {self.cmdbuf.seq}, events {self.evtlog.seq}"
            + (", COMPLETION_WAIT deferred" if self.cmdbuf.stalled else ""),
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
