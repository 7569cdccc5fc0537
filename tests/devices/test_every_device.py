"""The contract every registered device type keeps (issue 10): parametrized over
``DEVICE_TYPES``, so a new device type is checked here the moment it registers.

Reset values of every register, unmapped bank offsets, access sizes outside a region's
``valid`` range, ``info()`` records that ``dataclasses.asdict`` and JSON handle,
``device_add``/``device_del`` through the machine, and a save -> mutate -> load round trip
that gives back the same ``info()``, register values and config space.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from dmamon.devices import DEVICE_TYPES, Device, Machine, PciDevice
from dmamon.memory import MemoryRegion, MemTxResult
from dmamon.memory.vmstate import StateError

# Properties a type cannot be created without (QEMU refuses a pci-bridge without chassis).
REQUIRED = {"pci-bridge": ",chassis_nr=1"}
TYPES = sorted(DEVICE_TYPES)


def _instance(type_name: str) -> tuple[Machine, Device]:
    """A machine holding one device of the type (built-in ones come with the board)."""
    cls = DEVICE_TYPES[type_name]
    if not cls.user_creatable:
        m = Machine(devices=[])
        dev = next(d for d in m.pci_devices() if d.type_name == type_name)
        return m, dev
    m = Machine(devices=[f"{type_name},id=dut{REQUIRED.get(type_name, '')}"])
    return m, m.device("dut")


def _regions(dev: Device) -> list[MemoryRegion]:
    """The I/O regions the device owns (its BARs and any fixed MMIO)."""
    found = [b.region for b in dev.bars.values()] if isinstance(dev, PciDevice) else []
    for value in vars(dev).values():
        owned = isinstance(value, MemoryRegion) and value.owner is dev
        if owned and value.ops is not None and value not in found:
            found.append(value)
    return found


def _config(dev: Device) -> bytes:
    return bytes(dev.config) if isinstance(dev, PciDevice) else b""


def _registers(dev: Device) -> dict[str, dict[str, int]]:
    return {n: b.snapshot() for n, b in dev.banks().items()}


@pytest.mark.parametrize("type_name", TYPES)
def test_every_register_has_its_declared_reset_value(type_name: str) -> None:
    _, dev = _instance(type_name)
    for _ in range(2):  # as built, and again after a reset
        for bank in dev.banks().values():
            values = bank.snapshot()
            for reg in type(bank).registers():
                assert values[reg.name] == reg.reset, f"{type_name} {reg.name}"
        dev.reset()


@pytest.mark.parametrize("type_name", TYPES)
def test_offsets_no_register_covers_read_zero_and_ignore_writes(type_name: str) -> None:
    _, dev = _instance(type_name)
    for bank in dev.banks().values():
        covered: set[int] = set()
        for reg in type(bank).registers():
            covered.update(range(reg.offset, reg.offset + reg.size))
        before = bank.snapshot()
        for off in range(0, type(bank).size, 4):
            if covered.isdisjoint(range(off, off + 4)):
                assert bank.read_ex(off, 4) == (0, False), f"{type_name} +{off:#x}"
                assert bank.write_ex(off, 0xFFFFFFFF, 4) is False
        assert bank.snapshot() == before


@pytest.mark.parametrize("type_name", TYPES)
def test_access_sizes_outside_valid_are_refused(type_name: str) -> None:
    m, dev = _instance(type_name)
    for mr in _regions(dev):
        assert mr.ops is not None
        lo, hi = mr.ops.valid_min, mr.ops.valid_max
        if hi == 0:  # valid_max 0: the region takes any size (QEMU's unchecked ops)
            continue
        before = (_registers(dev), _config(dev))
        for size in (1, 2, 4, 8):
            if lo <= size <= hi:
                continue
            assert m.memory.dispatch_read(mr, 0, size) == (MemTxResult.DECODE_ERROR, 0)
            assert m.memory.dispatch_write(mr, 0, 0xFF, size) == MemTxResult.DECODE_ERROR
        assert (_registers(dev), _config(dev)) == before, f"{type_name} {mr.name}"


@pytest.mark.parametrize("type_name", TYPES)
def test_info_is_dataclass_records_that_json_takes(type_name: str) -> None:
    _, dev = _instance(type_name)
    info = dev.info()
    assert dataclasses.is_dataclass(info) and not isinstance(info, type)
    assert json.loads(json.dumps(dataclasses.asdict(info)))


@pytest.mark.parametrize("type_name", [t for t in TYPES if DEVICE_TYPES[t].user_creatable])
def test_device_add_and_device_del_through_the_machine(type_name: str) -> None:
    m = Machine(devices=[])
    spec = f"{type_name}{REQUIRED.get(type_name, '')}"
    for _ in range(2):  # the second add proves the first del left nothing behind
        dev = m.device_add(spec)
        assert m.device(dev.name) is dev and dev.qdev_id == ""
        m.device_del(dev.name)
        assert dev.name not in m.devices
        if isinstance(dev, PciDevice):
            assert dev not in dev.bus.devices.values()


def _mutate(m: Machine, dev: Device) -> None:
    """Change what a guest could: every register's stored value and, for PCI, COMMAND
    and BAR0 (so BAR mappings move)."""
    for bank in dev.banks().values():
        for reg in type(bank).registers():
            bank.poke(reg.name, 0xA5A5_A5A5_A5A5_A5A5 & reg.mask & ~reg.rsvd_mask)
    if isinstance(dev, PciDevice):
        dev.config_write(0x10, 0xE0000000, 4)
        dev.config_write(0x04, 0x0006, 2)
    dev.heap.alloc("probe", "test")
    dev.guard.engaged_in_io = True


@pytest.mark.parametrize("type_name", TYPES)
def test_save_mutate_load_gives_back_the_same_device(type_name: str) -> None:
    m, dev = _instance(type_name)
    saved = dev.save_state()
    info, regs, config = dev.info(), _registers(dev), _config(dev)
    _mutate(m, dev)
    dev.load_state(saved)
    assert dev.info() == info
    assert _registers(dev) == regs
    assert _config(dev) == config
    assert not dev.heap.live and not dev.guard.engaged_in_io
    if isinstance(dev, PciDevice):
        assert all(b.addr == -1 for b in dev.bars.values())


@pytest.mark.parametrize("type_name", TYPES)
def test_a_state_of_another_type_is_refused(type_name: str) -> None:
    _, dev = _instance(type_name)
    saved = dev.save_state()
    with pytest.raises(StateError):
        dev.load_state({**saved, "name": "other"})
