"""The ICH9 functions QEMU's q35 always has at 00:1f.x — identity and BARs only.

Guests and qtest programs enumerate them (QEMU -M q35 -nodefaults still has LPC at 1f.0,
AHCI at 1f.2 and SMBus at 1f.3), so their configuration headers answer as QEMU 7.2's do.
Their registers are not modelled: accesses to their BARs read 0 and log under ``unimp``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmamon.devices.pci.device import PciDevice
from dmamon.memory import MemoryRegion

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = ["Ich9Ahci", "Ich9Lpc", "Ich9Smbus"]


class _Ich9Function(PciDevice):
    vendor_id = 0x8086
    revision = 0x02
    header_type = 0x80  # multifunction: every 1f.x function sets it in QEMU 7.2
    user_creatable = False

    def _stub(self, name: str, size: int) -> MemoryRegion:
        def read(off: int, sz: int) -> int:
            self.unimp(f"{self.type_name}: unimplemented read at {name}+{off:#x} size {sz}")
            return 0

        def write(off: int, val: int, sz: int) -> None:
            self.unimp(f"{self.type_name}: unimplemented write at {name}+{off:#x} size {sz}")

        return self.io_region(name, size, read, write)


class Ich9Lpc(_Ich9Function, type_name="ICH9-LPC"):
    """LPC/ISA bridge at 00:1f.0 (hw/isa/lpc_ich9.c)."""

    description = "ICH9 LPC bridge (identity only)"
    device_id = 0x2918
    class_id = 0x0601


class Ich9Ahci(_Ich9Function, type_name="ich9-ahci"):
    """AHCI SATA controller at 00:1f.2 (hw/ide/ich.c)."""

    description = "ICH9 AHCI controller (identity and BARs only)"
    device_id = 0x2922
    class_id = 0x0106
    prog_if = 0x01
    interrupt_pin = 1

    def __init__(self, machine: Machine, name: str, props: dict[str, int | bool | str]) -> None:
        super().__init__(machine, name, props)
        self.register_bar(4, self._stub("ahci-idp", 32), is_io=True)
        self.register_bar(5, self._stub("ahci", 0x1000))


class Ich9Smbus(_Ich9Function, type_name="ICH9-SMB"):
    """SMBus controller at 00:1f.3 (hw/i2c/smbus_ich9.c)."""

    description = "ICH9 SMBus controller (identity and BAR only)"
    device_id = 0x2930
    class_id = 0x0C05
    interrupt_pin = 1

    def __init__(self, machine: Machine, name: str, props: dict[str, int | bool | str]) -> None:
        super().__init__(machine, name, props)
        self.register_bar(4, self._stub("pm-smbus", 64), is_io=True)
