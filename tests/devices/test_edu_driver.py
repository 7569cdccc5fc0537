"""The edu guest driver (devices/edu/driver.py): only guest-visible accesses, so it replays."""

from __future__ import annotations

import pytest
from dmamon.devices import Machine
from dmamon.devices.edu.driver import DEFAULT_BAR0, EduDriver, EduDriverError


def _driver(spec: str = "edu,id=edu0") -> tuple[Machine, EduDriver]:
    m = Machine(devices=[spec])
    drv = EduDriver(m, "edu0")
    drv.enable()
    return m, drv


def test_enable_maps_bar0_and_sets_memory_and_master() -> None:
    m, drv = _driver()
    assert m.mmio_base("edu0") == DEFAULT_BAR0
    assert drv.cfg_read(0x04, 2) & 0x6 == 0x6
    assert drv.read("ident") == 0x010000ED


def test_factorial_waits_on_virtual_time() -> None:
    m, drv = _driver()
    before = m.now_ns
    assert drv.factorial(5) == 120
    assert m.now_ns > before


def test_dma_round_trip_through_the_device_buffer() -> None:
    m, drv = _driver()
    drv.ram_write(0x1000, b"dmamon edu dma!!")
    drv.dma_to_device(0x1000, 0, 16)
    drv.dma_to_ram(0, 0x2000, 16, irq=True)
    assert drv.ram_read(0x2000, 16) == b"dmamon edu dma!!"
    assert drv.ack_irq() == 0x100
    assert drv.read("irq_status") == 0


def test_driver_steps_replay_as_raw_monitor_commands() -> None:
    """The same accesses typed by hand give the same device state."""
    m, drv = _driver()
    drv.ram_write(0x1000, b"abcd")
    drv.dma_to_device(0x1000, 8, 4)
    other = Machine(devices=["edu,id=edu0"])
    io, mem = other.io_as, other.memory
    io.store(0xCF8, 4, 0x80000810)
    io.store(0xCFC, 4, DEFAULT_BAR0)
    io.store(0xCF8, 4, 0x80000804)
    io.store(0xCFC, 2, 0x6)
    mem.write(0x1000, b"abcd")
    for off, val in ((0x80, 0x1000), (0x88, 0x40008), (0x90, 4), (0x98, 1)):
        mem.store(DEFAULT_BAR0 + off, 8, val)
    other.step_to_next()
    assert other.device("edu0").info() == m.device("edu0").info()


def test_mmio_before_enable_and_unknown_device_are_errors() -> None:
    m = Machine(devices=["edu,id=edu0"])
    with pytest.raises(EduDriverError, match="no edu device 'nic'"):
        EduDriver(m, "nic")
    with pytest.raises(EduDriverError, match="BAR0 not mapped"):
        EduDriver(m, "edu0").read("ident")
