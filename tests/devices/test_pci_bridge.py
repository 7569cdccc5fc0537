"""QEMU's pci-bridge (devices/pci_bridge.py), checked against QEMU 7.2.

Config-space values were read back from ``qemu-system-x86_64 -M q35 -nodefaults -S
-qtest stdio -device pci-bridge,chassis_nr=1[,shpc=off|msi=off]`` (7.2.22), as were the
error texts and where ``-device edu,bus=br0`` lands (bus 1, slot 0).
"""

from __future__ import annotations

import pytest
from dmamon.devices import Machine, PciDevice
from dmamon.devices.amdvi import AmdIommuDriver, find_iommu
from dmamon.devices.pci_bridge import PciBridge
from dmamon.memory import ConfigError, IOMMUPerm, MemTxResult

OK = MemTxResult.OK
EDU_BAR = 0xFE100000


def cfg_read(m: Machine, slot: int, reg: int, bus: int = 0) -> int:
    m.io_as.store(0xCF8, 4, 0x80000000 | bus << 16 | slot << 11 | reg)
    return m.io_as.load(0xCFC, 4)[1]


def cfg_write(m: Machine, slot: int, reg: int, value: int, size: int = 4, bus: int = 0) -> None:
    m.io_as.store(0xCF8, 4, 0x80000000 | bus << 16 | slot << 11 | (reg & ~3))
    m.io_as.store(0xCFC + (reg & 3), size, value)


def dump(m: Machine, slot: int = 1) -> list[int]:
    return [cfg_read(m, slot, r) for r in range(0, 0x50, 4)]


def behind(*first: str) -> Machine:
    """A bridge at 00:0N.0 (after ``first``) with edu behind it, bus numbers programmed
    (secondary 1) and COMMAND = MEMORY | MASTER on the bridge."""
    m = Machine(devices=[*first, "pci-bridge,chassis_nr=1,id=br0", "edu,id=edu1,bus=br0"])
    slot = len(first) + 1
    cfg_write(m, slot, 0x18, 0x00010100)
    cfg_write(m, slot, 0x04, 0x0006, 2)
    return m


def test_the_config_space_matches_qemu_72() -> None:
    m = Machine(devices=["pci-bridge,chassis_nr=1"])
    assert dump(m) == [
        0x00011B36, 0x00B00000, 0x06040000, 0x00010000, 0x4, 0, 0, 0x00A00000, 0, 0x00010001,
        0, 0, 0, 0x4C, 0, 0x100, 0xC, 0, 0x01204004, 0x01804805,
    ]  # fmt: skip


def test_without_shpc_only_the_slot_id_capability_is_left() -> None:
    m = Machine(devices=["pci-bridge,chassis_nr=1,shpc=off"])
    assert dump(m)[4:] == [0, 0, 0, 0x00A00000, 0, 0x00010001, 0, 0, 0, 0x40, 0, 0, 0x01200004,
                           0, 0, 0]  # fmt: skip


def test_msi_off_drops_the_msi_capability() -> None:
    m = Machine(devices=["pci-bridge,chassis_nr=1,msi=off"])
    assert (cfg_read(m, 1, 0x34), cfg_read(m, 1, 0x48), cfg_read(m, 1, 0x4C)) == (
        0x48,
        0x01204004,
        0,
    )


def test_the_writable_bits_match_qemu_72() -> None:
    m = Machine(devices=["pci-bridge,chassis_nr=1"])
    for reg in (0x04, 0x10, 0x18, 0x1C, 0x20, 0x24, 0x28, 0x30, 0x3C, 0x40, 0x48, 0x50, 0x5C):
        cfg_write(m, 1, reg, 0xFFFFFFFF)
    got = [cfg_read(m, 1, r) for r in (0x04, 0x10, 0x1C, 0x20, 0x24, 0x28, 0x30, 0x3C)]
    assert got == [0x00B00507, 0xFFFFFF04, 0x00A0F0F0, 0xFFF0FFF0, 0xFFF1FFF1, 0xFFFFFFFF, 0,
                   0x0BFF01FF]  # fmt: skip
    assert [cfg_read(m, 1, r) for r in (0x40, 0x48, 0x50, 0x5C)] == [
        0x00FF000C, 0xFF204004, 0xFFFFFFFC, 0x1,
    ]  # fmt: skip


def test_a_bridge_needs_a_chassis_number() -> None:
    with pytest.raises(ConfigError, match=r"^Bridge chassis not specified\. Each bridge is "):
        Machine(devices=["pci-bridge"])


def test_the_chassis_number_is_a_uint8() -> None:
    with pytest.raises(ConfigError, match=r"^Parameter 'chassis_nr' expects uint8_t$"):
        Machine(devices=["pci-bridge,chassis_nr=256"])


def test_msi_takes_on_off_or_auto() -> None:
    with pytest.raises(ConfigError, match=r"^Parameter 'msi' does not accept value 'maybe'$"):
        Machine(devices=["pci-bridge,chassis_nr=1,msi=maybe"])


def test_a_device_on_the_bridge_takes_slot_0_of_its_bus() -> None:
    m = behind()
    edu = m.device("edu1")
    assert isinstance(edu, PciDevice)
    assert (edu.bdf, cfg_read(m, 0, 0, bus=1)) == ("01:00.0", 0x11E81234)


def test_an_unknown_bus_is_refused_with_qemus_message() -> None:
    with pytest.raises(ConfigError, match=r"^Bus 'nope' not found$"):
        Machine(devices=["edu,bus=nope"])


def test_a_device_is_not_a_bus() -> None:
    with pytest.raises(ConfigError, match=r"^Bus 'e0' not found$"):
        Machine(devices=["edu,id=e0", "edu,bus=e0"])


def test_functions_behind_are_unreachable_until_the_bus_numbers_are_set() -> None:
    m = Machine(devices=["pci-bridge,chassis_nr=1,id=br0", "edu,bus=br0"])
    assert cfg_read(m, 0, 0, bus=1) == 0xFFFFFFFF


def test_the_memory_window_forwards_a_bar_behind_the_bridge() -> None:
    m = behind()
    cfg_write(m, 0, 0x10, EDU_BAR, bus=1)
    cfg_write(m, 0, 0x04, 0x0002, 2, bus=1)
    cfg_write(m, 1, 0x20, 0xFE10FE10)  # memory window 0xfe100000-0xfe1fffff
    assert m.memory.load(EDU_BAR, 4) == (OK, 0x010000ED)


def test_nothing_is_forwarded_while_the_bridge_has_memory_decoding_off() -> None:
    m = behind()
    cfg_write(m, 0, 0x10, EDU_BAR, bus=1)
    cfg_write(m, 0, 0x04, 0x0002, 2, bus=1)
    cfg_write(m, 1, 0x20, 0xFE10FE10)
    cfg_write(m, 1, 0x04, 0x0000, 2)
    assert m.memory.load(EDU_BAR, 4) == (MemTxResult.DECODE_ERROR, 0)


def test_the_io_window_decodes_from_its_base_and_limit() -> None:
    m = behind()
    cfg_write(m, 1, 0x1C, 0x2010, 2)
    cfg_write(m, 1, 0x04, 0x0001, 2)
    bridge = m.device("br0")
    assert isinstance(bridge, PciBridge)
    assert bridge.window("io") == (0x1000, 0x2FFF)


def test_reset_clears_bus_numbers_and_windows() -> None:
    m = behind()
    cfg_write(m, 1, 0x20, 0xFE10FE10)
    m.system_reset()
    bridge = m.device("br0")
    assert isinstance(bridge, PciBridge)
    assert (cfg_read(m, 1, 0x18), cfg_read(m, 1, 0x20), cfg_read(m, 1, 0x04)) == (0, 0, 0x00B00000)
    assert bridge.secondary_bus.number == 0


def test_dma_behind_a_bridge_reaches_memory_without_an_iommu() -> None:
    m = behind()
    edu = m.device("edu1")
    assert isinstance(edu, PciDevice) and edu.dma is not None
    cfg_write(m, 0, 0x04, 0x0004, 2, bus=1)
    m.memory.write(0x100000, b"plain")
    assert edu.dma.read(0x100000, 5).data == b"plain"


def test_the_bridges_bus_master_bit_does_not_gate_dma_from_behind_it() -> None:
    m = behind()
    cfg_write(m, 1, 0x04, 0x0002, 2)  # bridge: memory only
    cfg_write(m, 0, 0x04, 0x0004, 2, bus=1)
    edu = m.device("edu1")
    assert isinstance(edu, PciDevice) and edu.dma is not None
    m.memory.write(0x100000, b"ok")
    assert edu.dma.read(0x100000, 2).data == b"ok"


def test_functions_behind_reach_the_iommu_with_the_bridges_requester_id() -> None:
    m = behind("amd-iommu")  # the bridge is 00:02.0
    iommu = find_iommu(m)
    assert iommu is not None
    edu = m.device("edu1")
    assert isinstance(edu, PciDevice) and edu.dma is not None
    cfg_write(m, 0, 0x04, 0x0004, 2, bus=1)
    drv = AmdIommuDriver(m)
    drv.setup()
    drv.map(edu, 0x1000000, 0x100000, 0x1000)
    m.memory.write(0x100000, b"alias")
    assert (iommu.devid_of(edu), drv.read_dte(0x10).domain_id, drv.read_dte(0x100).v) == (
        0x10,
        1,
        False,
    )
    assert edu.dma.read(0x1000000, 5).data == b"alias"


def test_a_fault_behind_a_bridge_is_reported_with_the_bridges_requester_id() -> None:
    m = behind("amd-iommu")
    iommu = find_iommu(m)
    assert iommu is not None
    edu = m.device("edu1")
    assert isinstance(edu, PciDevice) and edu.dma is not None
    cfg_write(m, 0, 0x04, 0x0004, 2, bus=1)
    drv = AmdIommuDriver(m)
    drv.setup()
    drv.map(edu, 0x1000000, 0x100000, 0x1000)
    res = edu.dma.read(0x3000000, 4)
    assert res.fault is not None
    assert [e.describe() for e in drv.read_events()] == [
        "IO_PAGE_FAULT devid 00:02.0 address 0x3000000 flags I,read"
    ]


def test_two_functions_behind_one_bridge_share_its_translation() -> None:
    m = Machine(
        devices=[
            "amd-iommu",
            "pci-bridge,chassis_nr=1,id=br0",
            "edu,id=a,bus=br0",
            "edu,id=b,bus=br0",
        ]
    )
    cfg_write(m, 2, 0x18, 0x00010100)
    iommu = find_iommu(m)
    assert iommu is not None
    drv = AmdIommuDriver(m)
    drv.setup()
    a, b = m.device("a"), m.device("b")
    assert isinstance(a, PciDevice) and isinstance(b, PciDevice)
    drv.map(a, 0x1000000, 0x100000, 0x1000)
    assert iommu.walk(b, 0x1000000, IOMMUPerm.RO).translated_addr == 0x100000


def test_unplugging_the_bridge_unplugs_the_functions_behind_it() -> None:
    m = behind()
    m.device_del("br0")
    assert ("edu1" in m.devices, [d.name for d in m.pci_devices() if d.name == "edu1"]) == (
        False,
        [],
    )


def test_renumbering_the_secondary_bus_moves_the_requester_id_of_dma_behind_it() -> None:
    m = Machine(devices=["pci-bridge,chassis_nr=1,id=br0", "edu,id=edu1,bus=br0"])
    cfg_write(m, 1, 0x18, 0x00050500)  # primary bus 0, secondary 5, subordinate 5
    edu = m.device("edu1")
    assert isinstance(edu, PciDevice) and edu.dma is not None
    assert (edu.bdf, edu.dma.requester_id) == ("05:00.0", 0x0500)


def test_bridge_properties_are_typed_and_info_shows_bus_and_windows() -> None:
    from dmamon.devices.pci import PciBridgeProps
    from dmamon.devices.pci.info import BridgeInfo, BridgeWindow

    m = behind()
    br = m.device("br0")
    assert br.properties == PciBridgeProps(chassis_nr=1)
    cfg_write(m, 1, 0x20, 0xFE10FE10)  # memory window 0xfe100000-0xfe1fffff
    info = br.info()
    assert isinstance(info, BridgeInfo)
    assert info.secondary_bus == 1 and info.behind == ("edu1",) and info.chassis_nr == 1
    assert BridgeWindow("mem", 0xFE100000, 0xFE1FFFFF) in info.windows
    assert info.pci.type_name == "pci-bridge" and info.pci.bars[0].region == "shpc-mmio"


def test_bridge_save_and_load_restore_bus_number_and_windows() -> None:
    m = behind()
    br = m.device("br0")
    cfg_write(m, 1, 0x20, 0xFE10FE10)
    saved, info = br.save_state(), br.info()
    cfg_write(m, 1, 0x18, 0x00050500)
    cfg_write(m, 1, 0x04, 0, 2)
    br.load_state(saved)
    assert br.info() == info
    assert cfg_read(m, 0, 0x00, bus=1) == 0x11E81234  # edu reachable on bus 1 again
