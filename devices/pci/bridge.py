"""QEMU's ``pci-bridge``: a conventional PCI-to-PCI bridge with a secondary bus.

Identity and config space as QEMU 7.2 builds them (1b36:0001, class 0604, header type 1;
read back from ``qemu-system-x86_64 -M q35 -nodefaults -device pci-bridge,chassis_nr=1``):
with ``shpc=on`` (the default) a 256-byte 64-bit BAR0 for the hot-plug controller, the
SHPC capability at 0x40, the slot-ID capability at 0x48 and, with ``msi=on|auto``, MSI
with per-vector masking at 0x4c; INTA. With ``shpc=off`` only the slot-ID capability is
left, at 0x40, and no interrupt pin.

The bridge forwards its memory, prefetchable and I/O windows (base/limit registers, gated
by COMMAND) from the primary bus to the secondary bus, and its secondary bus number is the
one the guest writes at 0x19, so functions behind it are unreachable until then, as in
QEMU. Functions behind a conventional bridge reach an IOMMU with the bridge's requester ID
(QEMU ``pci_device_iommu_address_space``), and the bridge's own bus-master bit does not
gate them (QEMU ignores it too). The SHPC registers are not modelled: they read as 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmamon.devices.pci.device import COMMAND, COMMAND_IO, COMMAND_MEMORY, STATUS, PciBus, PciDevice
from dmamon.devices.props import DeviceProps, build_props, prop
from dmamon.memory import ConfigError, MemoryRegion, transaction

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine
    from dmamon.devices.pci.info import BridgeInfo

__all__ = ["PciBridge", "PciBridgeProps"]

# Type 1 header (include/hw/pci/pci_regs.h)
PRIMARY_BUS = 0x18
SECONDARY_BUS = 0x19
SUBORDINATE_BUS = 0x1A
IO_BASE = 0x1C
IO_LIMIT = 0x1D
SEC_STATUS = 0x1E
MEMORY_BASE = 0x20
MEMORY_LIMIT = 0x22
PREF_MEMORY_BASE = 0x24
PREF_MEMORY_LIMIT = 0x26
PREF_BASE_UPPER32 = 0x28
PREF_LIMIT_UPPER32 = 0x2C
BRIDGE_CONTROL = 0x3E
STATUS_66MHZ_FAST_BACK = 0x00A0
SEC_STATUS_W1C = 0xF900
BRIDGE_CONTROL_WMASK = 0x0BFF  # pci_init_wmask_bridge
SHPC_CAP = 0x40
SHPC_BAR_SIZE = 0x100


@dataclass(frozen=True, slots=True)
class PciBridgeProps(DeviceProps):
    """The ``-device pci-bridge`` properties."""

    chassis_nr: int = prop(0, "chassis number of the slot-ID capability (1..255)")
    shpc: bool = prop(True, "standard hot-plug controller (BAR0, capability, INTA)")
    msi: str = prop("auto", "MSI for the hot-plug controller: on, off or auto")


class PciBridge(PciDevice, type_name="pci-bridge"):
    """A conventional PCI-PCI bridge (QEMU ``pci-bridge``)."""

    description = "Standard PCI Bridge"
    vendor_id = 0x1B36  # PCI_VENDOR_ID_REDHAT
    device_id = 0x0001  # PCI_DEVICE_ID_REDHAT_BRIDGE
    class_id = 0x0604
    header_type = 0x01
    Props = PciBridgeProps
    properties: PciBridgeProps

    def __init__(self, machine: Machine, name: str, props: dict[str, int | bool | str]) -> None:
        p = build_props(PciBridgeProps, props)
        chassis = p.chassis_nr
        if chassis > 0xFF:
            raise ConfigError("Parameter 'chassis_nr' expects uint8_t")
        if chassis == 0:
            raise ConfigError(
                "Bridge chassis not specified. Each bridge is required to be assigned a "
                "unique chassis id > 0."
            )
        msi = p.msi.lower()
        if msi not in ("on", "off", "auto"):
            raise ConfigError(f"Parameter 'msi' does not accept value '{p.msi}'")
        super().__init__(machine, name, props)
        self.shpc = p.shpc
        self.has_msi = self.shpc and msi != "off"  # "MSI is not applicable without SHPC"
        self._build_config(chassis)
        self.sec_mem = MemoryRegion.container("pci_bridge_pci")
        self.sec_io = MemoryRegion.container("pci_bridge_io", 1 << 16)
        self.secondary_bus = PciBus(0, self.sec_mem, self.sec_io, machine.pci_bus.dma_root)
        self.secondary_bus.parent = self
        self.secondary_bus.iommu_fn = self._upstream_dma
        self._windows: dict[str, MemoryRegion] = {}

    def _build_config(self, chassis: int) -> None:
        c, w = self.config, self.wmask
        c[STATUS : STATUS + 2] = (STATUS_66MHZ_FAST_BACK).to_bytes(2, "little")
        c[SEC_STATUS : SEC_STATUS + 2] = (STATUS_66MHZ_FAST_BACK).to_bytes(2, "little")
        self.w1cmask[SEC_STATUS : SEC_STATUS + 2] = SEC_STATUS_W1C.to_bytes(2, "little")
        # pci_init_wmask_bridge
        for i in range(PRIMARY_BUS, PRIMARY_BUS + 4):
            w[i] = 0xFF
        w[IO_BASE] = w[IO_LIMIT] = 0xF0
        for off in (MEMORY_BASE, MEMORY_LIMIT, PREF_MEMORY_BASE, PREF_MEMORY_LIMIT):
            w[off : off + 2] = (0xFFF0).to_bytes(2, "little")
        for i in range(PREF_BASE_UPPER32, PREF_BASE_UPPER32 + 8):
            w[i] = 0xFF
        c[PREF_MEMORY_BASE] = c[PREF_MEMORY_LIMIT] = 0x01  # 64-bit prefetchable window
        w[BRIDGE_CONTROL : BRIDGE_CONTROL + 2] = BRIDGE_CONTROL_WMASK.to_bytes(2, "little")
        caps = []
        if self.shpc:
            shpc = self.io_region(
                "shpc-mmio", SHPC_BAR_SIZE, self._shpc_read, self._shpc_write, valid=(1, 8)
            )
            self.register_bar(0, shpc, is_64=True)
            c[0x3D] = 1  # INTA, for the hot-plug controller
            caps.append((SHPC_CAP, bytes([0x0C, 0, 0, 0, 0, 0, 0, 0])))
        sid = SHPC_CAP + 8 if self.shpc else SHPC_CAP
        caps.append((sid, bytes([0x04, 0, 0x20, chassis])))  # 0 slots, first in chassis
        if self.has_msi:
            caps.append((sid + 4, bytes([0x05, 0, 0x80, 0x01]) + bytes(20)))
        prev = 0
        for off, body in caps:  # QEMU prepends: each new capability heads the list
            c[off : off + len(body)] = body
            c[off + 1] = prev
            for i in range(off, off + len(body)):
                w[i] = 0
            prev = off
        c[0x34] = prev
        c[STATUS] |= 0x10
        if self.shpc:
            w[SHPC_CAP + 2] = 0xFF  # SHPC DWORD select
        w[sid + 3] = 0xFF  # the chassis number is writable
        if self.has_msi:
            m = sid + 4
            w[m + 2] = 0x01
            w[m + 4 : m + 8] = (0xFFFFFFFC).to_bytes(4, "little")
            w[m + 8 : m + 12] = b"\xff\xff\xff\xff"
            w[m + 12 : m + 14] = b"\xff\xff"
            w[m + 16] = 0x01  # mask bit of the one vector
            self.msi_cap = m

    def _shpc_read(self, off: int, size: int) -> int:
        self.unimp(f"pci-bridge: SHPC register 0x{off:x} read (not modelled)")
        return 0

    def _shpc_write(self, off: int, val: int, size: int) -> None:
        self.unimp(f"pci-bridge: SHPC register 0x{off:x} write 0x{val:x} (not modelled)")

    # -- bus numbers, windows, DMA ---------------------------------------------------------

    def _upstream_dma(self, bus: PciBus, dfn: int) -> MemoryRegion:
        """What a function behind the bridge masters: whatever the bridge itself would,
        i.e. the IOMMU window of the bridge's requester ID (conventional PCI aliasing)."""
        return self.bus.dma_target(self.devfn)

    def config_write(self, addr: int, val: int, length: int) -> None:
        super().config_write(addr, val, length)
        end = addr + length
        if addr <= SECONDARY_BUS < end:
            self.secondary_bus.number = self.config[SECONDARY_BUS]
            for fn in self.secondary_bus.devices.values():  # their requester IDs moved
                if fn.dma is not None:
                    fn.dma.set_requester_id(fn.requester_id)
        if addr < COMMAND + 2 and end > COMMAND or addr < 0x34 and end > IO_BASE:
            self._update_windows()

    def _u16(self, off: int) -> int:
        return int.from_bytes(self.config[off : off + 2], "little")

    def _u32(self, off: int) -> int:
        return int.from_bytes(self.config[off : off + 4], "little")

    def window(self, kind: str) -> tuple[int, int] | None:
        """``(base, limit)`` of the ``io``, ``mem`` or ``pref`` window while the bridge
        forwards it (COMMAND.IO / MEMORY set, limit >= base), else None."""
        cmd = self.command
        if kind == "io":
            base = (self.config[IO_BASE] & 0xF0) << 8
            limit = ((self.config[IO_LIMIT] & 0xF0) << 8) | 0xFFF
            on = bool(cmd & COMMAND_IO)
        elif kind == "mem":
            base = (self._u16(MEMORY_BASE) & 0xFFF0) << 16
            limit = ((self._u16(MEMORY_LIMIT) & 0xFFF0) << 16) | 0xFFFFF
            on = bool(cmd & COMMAND_MEMORY)
        else:
            base = ((self._u16(PREF_MEMORY_BASE) & 0xFFF0) << 16) | (
                self._u32(PREF_BASE_UPPER32) << 32
            )
            limit = (
                ((self._u16(PREF_MEMORY_LIMIT) & 0xFFF0) << 16)
                | 0xFFFFF
                | (self._u32(PREF_LIMIT_UPPER32) << 32)
            )
            on = bool(cmd & COMMAND_MEMORY)
        return (base, limit) if on and limit >= base else None

    def _update_windows(self) -> None:
        """pci_bridge_update_mappings: re-map the three forwarding windows."""
        with transaction():
            for kind, name, target, parent in (
                ("io", "pci_bridge_io", self.sec_io, self.bus.io),
                ("mem", "pci_bridge_mem", self.sec_mem, self.bus.memory),
                ("pref", "pci_bridge_pref_mem", self.sec_mem, self.bus.memory),
            ):
                old = self._windows.pop(kind, None)
                if old is not None and old.parent is not None:
                    old.parent.del_subregion(old)
                win = self.window(kind)
                if win is None or win[1] >= target.size:
                    continue
                base, limit = win
                alias = MemoryRegion.alias_region(name, target, base, limit + 1 - base)
                parent.add_subregion(base, alias, priority=1, may_overlap=True)
                self._windows[kind] = alias

    def reset(self) -> None:
        """pci_bridge_reset: bus numbers, windows and bridge control back to zero."""
        c = self.config
        for i in range(PRIMARY_BUS, PRIMARY_BUS + 4):
            c[i] = 0
        c[IO_BASE] &= 0x0F
        c[IO_LIMIT] &= 0x0F
        for off in (MEMORY_BASE, MEMORY_LIMIT, PREF_MEMORY_BASE, PREF_MEMORY_LIMIT):
            c[off : off + 2] = (self._u16(off) & 0x000F).to_bytes(2, "little")
        c[PREF_BASE_UPPER32 : PREF_BASE_UPPER32 + 8] = bytes(8)
        c[BRIDGE_CONTROL : BRIDGE_CONTROL + 2] = b"\0\0"
        sec = self._u16(SEC_STATUS) & ~SEC_STATUS_W1C
        c[SEC_STATUS : SEC_STATUS + 2] = sec.to_bytes(2, "little")
        super().reset()
        # pci_device_reset clears only the writable and W1C status bits (66 MHz stays).
        st = self._u16(STATUS) | STATUS_66MHZ_FAST_BACK
        c[STATUS : STATUS + 2] = st.to_bytes(2, "little")
        if self.has_msi:
            c[self.msi_cap + 16 : self.msi_cap + 24] = bytes(8)  # msi_reset: mask, pending
        self.secondary_bus.number = 0
        self._update_windows()

    def unplug(self) -> None:
        """Unplug the bridge and, as QEMU does, every function behind it."""
        for dev in list(self.secondary_bus.devices.values()):
            dev.unplug()
            self.machine.devices.pop(dev.name, None)
        with transaction():
            for alias in self._windows.values():
                if alias.parent is not None:
                    alias.parent.del_subregion(alias)
            self._windows.clear()
        super().unplug()

    def info(self) -> BridgeInfo:
        from dmamon.devices.pci.info import BridgeInfo, BridgeWindow  # loaded on first use

        """The bridge's function, secondary bus number, open windows and what is behind."""
        windows = []
        for kind in ("io", "mem", "pref"):
            win = self.window(kind)
            if win is not None:
                windows.append(BridgeWindow(kind, win[0], win[1]))
        return BridgeInfo(
            pci=self.pci_info(),
            chassis_nr=self.properties.chassis_nr,
            shpc=self.shpc,
            secondary_bus=self.secondary_bus.number,
            windows=tuple(windows),
            behind=tuple(d.name for _, d in sorted(self.secondary_bus.devices.items())),
        )

    def post_load(self) -> None:
        """Secondary bus number and forwarding windows follow the loaded config space."""
        super().post_load()
        self.secondary_bus.number = self.config[SECONDARY_BUS]
        self._update_windows()

    def status_lines(self) -> list[str]:
        lines = [f"secondary bus {self.secondary_bus.number}"]
        for kind in ("io", "mem", "pref"):
            win = self.window(kind)
            if win is not None:
                lines.append(f"{kind} window {win[0]:#x}-{win[1]:#x}")
        return lines
