"""The AMD IOMMU's PCI configuration space beyond the standard header, as QEMU 7.2 builds it.

Read back from qemu-system-x86_64 7.2.22 ``-device amd-iommu``: the secure-device
capability at 0x40 whose header QEMU overwrites with AMDVI_CAPAB_FEATURES, an empty MSI
capability at 0x58, HyperTransport at 0x5c, and msi_init's at 0x60 (the list is prepended,
so 0x34 -> 0x60 -> 0x5c -> 0x58 -> 0x40).
"""

from __future__ import annotations

from dmamon.devices.amdvi.registers import AMDVI_BASE_ADDR
from dmamon.devices.pci import STATUS

__all__ = ["CAP_SEC", "MSI_CAP", "build_config"]

CAP_SEC = 0x40
CAPAB_FEATURES = 0x1F03000F
CAPAB_RANGE = 0xFF000000
CAPAB_MISC = 0x00182840
MSI_CAP = 0x60


def build_config(c: bytearray, w: bytearray, status: int) -> int:
    """Fill the capability block into config space ``c`` and its write mask ``w``.

    Args:
        c: the function's configuration space.
        w: its write mask.
        status: the current PCI status word (the capability-list bit is added).

    Returns:
        Where the MSI capability is.
    """

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
    put(STATUS, status | 0x10, 2)
    return MSI_CAP
