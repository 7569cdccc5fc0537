"""PCI configuration mechanism #1, config-space masks, BARs and bus mastering
(devices/pci.py). Expected values were read from QEMU 7.2 (q35, ``-device edu``) over qtest."""

from __future__ import annotations

from dmamon.devices import Machine, PciDevice
from dmamon.memory import MemTxResult

OK = MemTxResult.OK
DECODE = MemTxResult.DECODE_ERROR
EDU = (1, 0)  # edu0 is 00:01.0 on the default machine


def cfg_addr(slot: int, fn: int, reg: int, bus: int = 0) -> int:
    return 0x80000000 | bus << 16 | slot << 11 | fn << 8 | (reg & 0xFC)


def cfg_read(m: Machine, reg: int, size: int = 4, where: tuple[int, int] = EDU) -> int:
    m.io_as.store(0xCF8, 4, cfg_addr(*where, reg))
    res, value = m.io_as.load(0xCFC + (reg & 3), size)
    assert res == OK
    return value


def cfg_write(
    m: Machine, reg: int, value: int, size: int = 4, where: tuple[int, int] = EDU
) -> None:
    m.io_as.store(0xCF8, 4, cfg_addr(*where, reg))
    assert m.io_as.store(0xCFC + (reg & 3), size, value) == OK


def edu(m: Machine) -> PciDevice:
    dev = m.device("edu0")
    assert isinstance(dev, PciDevice)
    return dev


# -- configuration mechanism #1 ------------------------------------------------------------


def test_config_reads_return_the_ids_of_edu_and_the_host_bridge(machine: Machine) -> None:
    assert cfg_read(machine, 0x00) == 0x11E81234
    assert cfg_read(machine, 0x00, where=(0, 0)) == 0x29C08086


def test_an_absent_function_reads_all_ones_at_every_width(machine: Machine) -> None:
    assert cfg_read(machine, 0x00, where=(5, 0)) == 0xFFFFFFFF
    assert cfg_read(machine, 0x02, 2, where=(5, 0)) == 0xFFFF
    assert cfg_read(machine, 0x00, 1, where=(1, 3)) == 0xFF


def test_config_data_reads_all_ones_while_the_enable_bit_is_clear(machine: Machine) -> None:
    machine.io_as.store(0xCF8, 4, 0x00000800)
    assert machine.io_as.load(0xCFC, 4) == (OK, 0xFFFFFFFF)


def test_config_address_reads_back_and_only_dword_writes_latch_it(machine: Machine) -> None:
    machine.io_as.store(0xCF8, 4, 0x00000800)
    machine.io_as.store(0xCF8, 2, 0x1234)
    assert machine.io_as.load(0xCF8, 4) == (OK, 0x00000800)


def test_byte_and_word_reads_pick_their_lanes_of_the_dword(machine: Machine) -> None:
    assert cfg_read(machine, 0x02, 1) == 0xE8
    machine.io_as.store(0xCF8, 4, cfg_addr(*EDU, 0))
    assert machine.io_as.load(0xCFD, 2) == (OK, 0xE812)


def test_the_header_matches_qemus_edu(machine: Machine) -> None:
    assert cfg_read(machine, 0x04) == 0x00100000  # STATUS.CAP_LIST, COMMAND 0
    assert cfg_read(machine, 0x08) == 0x00FF0010  # class 0x00ff, rev 0x10
    assert cfg_read(machine, 0x2C) == 0x11001AF4  # subsystem
    assert cfg_read(machine, 0x34) == 0x40  # capability pointer
    assert cfg_read(machine, 0x3C) == 0x0100  # pin A, line 0
    assert cfg_read(machine, 0x40) == 0x00800005  # MSI, 64-bit, last capability


# -- write masks ---------------------------------------------------------------------------


def test_command_keeps_only_its_writable_bits(machine: Machine) -> None:
    cfg_write(machine, 0x04, 0xFFFF, 2)
    assert cfg_read(machine, 0x04, 2) == 0x0507
    assert cfg_read(machine, 0x04) == 0x00100507


def test_ids_class_and_interrupt_pin_are_read_only(machine: Machine) -> None:
    cfg_write(machine, 0x00, 0)
    cfg_write(machine, 0x08, 0)
    cfg_write(machine, 0x3C, 0xFFFFFFFF)
    assert cfg_read(machine, 0x00) == 0x11E81234
    assert cfg_read(machine, 0x08) == 0x00FF0010
    assert cfg_read(machine, 0x3C) == 0x01FF  # line writable, pin not


def test_status_bits_cannot_be_set_by_the_guest_and_error_bits_clear_by_writing_one(
    machine: Machine,
) -> None:
    cfg_write(machine, 0x06, 0xFFFF, 2)
    assert cfg_read(machine, 0x06, 2) == 0x0010
    edu(machine).config[0x07] |= 0x80  # the device records a detected parity error
    cfg_write(machine, 0x06, 0x0000, 2)
    assert cfg_read(machine, 0x06, 2) == 0x8010
    cfg_write(machine, 0x06, 0x8000, 2)
    assert cfg_read(machine, 0x06, 2) == 0x0010


# -- BARs ----------------------------------------------------------------------------------


def test_writing_all_ones_to_a_bar_reads_back_its_size_mask(machine: Machine) -> None:
    cfg_write(machine, 0x10, 0xFFFFFFFF)
    assert cfg_read(machine, 0x10) == 0xFFF00000


def test_a_bar_decodes_once_placed_and_memory_is_enabled(machine: Machine) -> None:
    cfg_write(machine, 0x10, 0xFE000000)
    assert machine.memory.load(0xFE000000, 4) == (DECODE, 0)
    cfg_write(machine, 0x04, 0x0002, 2)
    assert machine.memory.load(0xFE000000, 4) == (OK, 0x010000ED)
    assert machine.mmio_base("edu0") == 0xFE000000


def test_clearing_command_memory_unmaps_the_bar(machine: Machine) -> None:
    cfg_write(machine, 0x10, 0xFE000000)
    cfg_write(machine, 0x04, 0x0002, 2)
    cfg_write(machine, 0x04, 0x0000, 2)
    assert machine.memory.load(0xFE000000, 4) == (DECODE, 0)
    assert machine.mmio_base("edu0") is None
    assert cfg_read(machine, 0x10) == 0xFE000000  # the register keeps its value


def test_a_bar_at_address_zero_stays_unmapped(machine: Machine) -> None:
    cfg_write(machine, 0x04, 0x0002, 2)
    assert machine.mmio_base("edu0") is None
    assert machine.memory.load(0, 4) == (OK, 0)  # RAM, not edu


def test_a_32_bit_bar_reaching_4_gib_stays_unmapped(machine: Machine) -> None:
    cfg_write(machine, 0x04, 0x0002, 2)
    cfg_write(machine, 0x10, 0xFFF00000)
    assert machine.mmio_base("edu0") is None


def test_moving_a_bar_moves_the_registers(machine: Machine) -> None:
    cfg_write(machine, 0x04, 0x0002, 2)
    cfg_write(machine, 0x10, 0xFE000000)
    cfg_write(machine, 0x10, 0xFEA00000)
    assert machine.memory.load(0xFE000000, 4) == (DECODE, 0)
    assert machine.memory.load(0xFEA00000, 4) == (OK, 0x010000ED)


def test_bar_updates_are_traced_with_qemus_event_names(machine: Machine) -> None:
    machine.engine.tracer.set_state("pci_update_mappings_*", True)
    cfg_write(machine, 0x10, 0xFE000000)
    cfg_write(machine, 0x04, 0x0002, 2)
    cfg_write(machine, 0x04, 0x0000, 2)
    assert [r.text for r in machine.engine.tracer.ring] == [
        "pci_update_mappings_add d=edu 00:01.0 0,0xfe000000+0x100000",
        "pci_update_mappings_del d=edu 00:01.0 0,0xfe000000+0x100000",
    ]


def test_config_accesses_are_traced(machine: Machine) -> None:
    machine.engine.tracer.set_state("pci_cfg_*", True)
    cfg_read(machine, 0x00)
    cfg_write(machine, 0x04, 0x6, 2)
    assert [r.text for r in machine.engine.tracer.ring] == [
        "pci_cfg_read edu 00:01.0 @0x0 -> 0x11e81234",
        "pci_cfg_write edu 00:01.0 @0x4 <- 0x6",
    ]


# -- bus mastering -------------------------------------------------------------------------


def test_without_bus_master_enable_a_device_dma_sees_nothing(machine: Machine) -> None:
    machine.memory.write(0x1000, b"secret")
    dma = edu(machine).dma
    assert dma is not None
    res = dma.read(0x1000, 6)
    assert (res.result, res.data) == (DECODE, bytes(6))
    assert dma.write(0x2000, b"x").result == DECODE
    assert machine.memory.read(0x2000, 1) == (OK, b"\x00")


def test_setting_bus_master_enable_gives_the_device_its_dma(machine: Machine) -> None:
    machine.memory.write(0x1000, b"secret")
    cfg_write(machine, 0x04, 0x0004, 2)
    dma = edu(machine).dma
    assert dma is not None and dma.read(0x1000, 6).data == b"secret"
    cfg_write(machine, 0x04, 0x0000, 2)
    assert dma.read(0x1000, 6).result == DECODE


def test_the_requester_id_is_bus_device_function(machine: Machine) -> None:
    dev = edu(machine)
    assert (dev.requester_id, dev.bdf, dev.slot, dev.func) == (0x0008, "00:01.0", 1, 0)
    assert dev.dma is not None and dev.dma.attrs.requester_id == 0x0008


# -- interrupts and reset -------------------------------------------------------------------


def test_intx_disable_masks_the_pin_but_status_shows_it(edu_machine: Machine) -> None:
    levels: list[tuple[int, int]] = []
    edu_machine.irq_listeners.append(lambda gsi, level: levels.append((gsi, level)))
    cfg_write(edu_machine, 0x04, 0x0406, 2)
    edu_machine.memory.store(0xFE000060, 4, 1)
    assert levels == []
    assert cfg_read(edu_machine, 0x06, 2) == 0x0018


def test_reset_clears_command_and_bars(edu_machine: Machine) -> None:
    edu_machine.system_reset()
    assert cfg_read(edu_machine, 0x04) == 0x00100000
    assert cfg_read(edu_machine, 0x10) == 0
    assert edu_machine.mmio_base("edu0") is None
    assert edu_machine.memory.load(0xFE000000, 4) == (DECODE, 0)


def test_info_of_a_plain_function_gives_identity_command_and_bars() -> None:
    from dmamon.devices.pci.info import BarRecord, PciInfo

    m = Machine(devices=[])
    ahci = next(d for d in m.pci_devices() if d.type_name == "ich9-ahci")
    info = ahci.info()
    assert isinstance(info, PciInfo)
    assert (info.bdf, info.vendor_id, info.device_id, info.class_id) == (
        "00:1f.2",
        0x8086,
        0x2922,
        0x0106,
    )
    assert info.bars == (
        BarRecord(4, "ahci-idp", "io", 32, None, False, False),
        BarRecord(5, "ahci", "memory", 0x1000, None, False, False),
    )
