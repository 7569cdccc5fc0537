"""The machine: device specs and their errors, PCI slot order, RAM layout, reset, run
states, and the kernel figures the issue names (devices/machine.py)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from dmamon.devices import Machine, PciDevice, parse_size
from dmamon.devices.edu import EduProps
from dmamon.memory import ConfigError, MachineHalt, MemTxResult
from dmamon.memory.mtree import render_mtree

OK = MemTxResult.OK
DECODE = MemTxResult.DECODE_ERROR
GiB = 1 << 30
MiB = 1 << 20


def exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


ICH9 = {"ich9-lpc": "00:1f.0", "ich9-ahci": "00:1f.2", "ich9-smbus": "00:1f.3"}


def slots(m: Machine) -> dict[str, str]:
    """PCI placement of the devices, leaving out q35's built-in ICH9 functions."""
    return {d.name: d.bdf for d in m.pci_devices() if d.name not in ICH9}


def test_q35_always_has_the_ich9_functions_at_slot_31() -> None:
    m = Machine(devices=[])
    assert {d.name: d.bdf for d in m.pci_devices() if d.name in ICH9} == ICH9


def place_edu(m: Machine, command: int = 0x0006) -> None:
    io = m.io_as
    io.store(0xCF8, 4, 0x80000810)
    io.store(0xCFC, 4, 0xFE000000)
    io.store(0xCF8, 4, 0x80000804)
    io.store(0xCFC, 2, command)


# -- building ------------------------------------------------------------------------------


def test_the_default_machine_has_128_mib_a_host_bridge_and_edu0() -> None:
    m = Machine()
    assert m.ram_size == 128 * MiB and m.machine_type == "q35"
    assert slots(m) == {"mch": "00:00.0", "edu0": "00:01.0"}
    assert m.run_state == "running" and m.status() == "running"


def test_devices_take_slots_in_qemus_order() -> None:
    m = Machine(devices=["edu,id=a", "edu,id=b", "edu,id=c"])
    assert slots(m) == {"mch": "00:00.0", "a": "00:01.0", "b": "00:02.0", "c": "00:03.0"}


def test_an_explicit_addr_is_honoured_and_later_devices_fill_the_lowest_free_slot() -> None:
    m = Machine(devices=["edu,id=a,addr=2", "edu,id=b", "edu,id=c", "edu,id=d,addr=4.3"])
    assert slots(m) == {
        "mch": "00:00.0",
        "b": "00:01.0",
        "a": "00:02.0",
        "c": "00:03.0",
        "d": "00:04.3",
    }


def test_devices_without_an_id_get_qemus_anonymous_names() -> None:
    # QEMU 7.2: /machine/peripheral-anon/device[0], device[1]; no id.
    m = Machine(devices=["edu", "driver=edu"])
    assert list(m.devices) == ["device[0]", "device[1]"]
    assert [d.qdev_id for d in m.devices.values()] == ["", ""]


def test_an_anonymous_device_never_takes_or_blocks_a_user_id() -> None:
    # issue 9: `device_add edu` took the name edu1, so `device_add edu,id=edu1` failed
    # with "Duplicate device ID".
    m = Machine(devices=["edu,id=edu0"])
    anon = m.device_add("edu")
    named = m.device_add("edu,id=edu1")
    assert anon.qdev_id == "" and named.qdev_id == "edu1"
    assert m.device("edu1") is named
    m.device_del(anon.name)
    again = m.device_add("edu")
    assert again.name == "device[0]" and "edu1" in m.devices


def test_properties_are_typed_and_the_raw_dict_stays() -> None:
    m = Machine(devices=["edu,id=e,dma_mask=0xffff,dma_inline=on"])
    p = m.device("e").properties
    assert p == EduProps(dma_mask=0xFFFF, dma_inline=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.dma_mask = 1  # type: ignore[misc]


def test_properties_are_parsed_from_the_spec() -> None:
    m = Machine(devices=["edu,id=e,dma_mask=0xffff,dma_inline=on,fact_delay_ns=5"])
    assert m.device("e").prop_values == {
        "dma_mask": 0xFFFF,
        "dma_delay_ns": 100_000_000,
        "fact_delay_ns": 5,
        "dma_inline": True,
        "busy_check": True,
        "map_dma": False,
    }


def test_no_devices_means_only_the_host_bridge() -> None:
    assert slots(Machine(devices=[])) == {"mch": "00:00.0"}


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nic,id=n", "'nic' is not a valid device model name (known: "),
        ("mch", "'mch' is not a valid device model name (known: "),
        ("edu,bogus=1", "Property 'edu.bogus' not found"),
        ("edu,dma_inline=maybe", "Parameter 'dma_inline' expects 'on' or 'off', not 'maybe'"),
        ("edu,dma_mask=lots", "Parameter 'dma_mask' expects an integer, not 'lots'"),
        ("edu,addr=zz", "Property 'addr' expects SLOT[.FN], not 'zz'"),
        ("edu,addr=20", "Property 'addr': '20' is out of range"),
        ("edu,id=x,id=y", "device spec 'edu,id=x,id=y': 'id' given twice"),
        ("edu,novalue", "device spec 'edu,novalue': expected key=value, got 'novalue'"),
        ("", "device spec '': missing device type"),
    ],
)
def test_bad_device_specs_raise_config_errors_naming_the_bad_value(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        Machine(devices=[spec])


def test_a_duplicate_id_is_a_config_error() -> None:
    m = Machine()
    with pytest.raises(ConfigError, match=exact("Duplicate device ID 'edu0'")):
        m.device_add("edu,id=edu0")
    with pytest.raises(ConfigError, match=exact("Duplicate device ID 'mch'")):
        m.device_add("edu,id=mch")


def test_a_taken_slot_is_a_config_error() -> None:
    m = Machine()
    with pytest.raises(
        ConfigError, match=exact("PCI: slot 1 function 0 not available for edu, in use by edu")
    ):
        m.device_add("edu,id=second,addr=1")


def test_an_unknown_machine_type_or_ram_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=exact("unsupported machine type 'pc' (supported: q35)")):
        Machine(machine_type="pc")
    with pytest.raises(ConfigError, match=exact("RAM size 0x0 is out of range (max 64 TiB)")):
        Machine(ram_size=0)


@pytest.mark.parametrize(
    "text, size",
    [
        ("128", 128 * MiB),
        ("512M", 512 * MiB),
        ("1G", GiB),
        ("2GB", 2 * GiB),
        ("64k", 64 << 10),
        ("1.5G", 3 * GiB // 2),
    ],
)
def test_ram_sizes_use_qemus_suffixes_and_default_to_mib(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["0", "lots", "-1"])
def test_bad_ram_sizes_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match=exact(f"invalid RAM size {text!r}")):
        parse_size(text)


def test_unknown_device_names_are_key_errors_in_qemus_words() -> None:
    with pytest.raises(KeyError) as info:
        Machine().device("nope")
    assert info.value.args == ("Device 'nope' not found",)


# -- RAM layout ----------------------------------------------------------------------------


def test_ram_of_4_gib_is_split_at_2_gib_below_and_above_4_gib() -> None:
    m = Machine(ram_size=4 * GiB, devices=[])
    m.memory.store(0x7FFFFFFC, 4, 0x11111111)
    m.memory.store(0x100000000, 4, 0x22222222)
    assert m.memory.load(0x80000000, 4) == (DECODE, 0)
    assert m.pc_ram.ram is not None
    assert m.pc_ram.ram[0x80000000:0x80000004] == b"\x22\x22\x22\x22"
    assert m.memory.load(0x17FFFFFFC, 4) == (OK, 0)
    assert m.memory.load(0x180000000, 4) == (DECODE, 0)


def test_a_64_gib_machine_builds_and_its_last_byte_is_usable() -> None:
    m = Machine(ram_size=64 * GiB)
    last = (1 << 32) + 62 * GiB - 1
    assert m.memory.write(last, b"\x99") == OK
    assert m.memory.read(last, 2) == (DECODE, b"\x99\x00")


def test_the_ram_size_is_what_the_guest_sees() -> None:
    m = Machine(ram_size=256 * MiB, devices=[])
    assert m.memory.load(256 * MiB - 4, 4) == (OK, 0)
    assert m.memory.load(256 * MiB, 4) == (DECODE, 0)


# -- run states, time, reset ---------------------------------------------------------------


def test_a_paused_machine_starts_in_prelaunch_and_cont_runs_it() -> None:
    m = Machine(paused=True)
    assert m.run_state == "prelaunch" and m.status() == "paused (prelaunch)"
    m.cont()
    assert m.status() == "running"
    m.stop()
    assert m.status() == "paused"
    m.cont()
    assert m.status() == "running"


def test_between_commands_only_a_running_machine_runs_pending_work() -> None:
    m = Machine(paused=True)
    ran: list[int] = []
    m.engine.clock.bh(lambda: ran.append(1), "t").schedule()
    assert m.after_command() == 0 and ran == []
    m.cont()
    assert m.after_command() == 1 and ran == [1]


def test_clock_set_and_step_move_virtual_time_forward_only() -> None:
    m = Machine()
    m.step(500)
    m.clock_set(2000)
    m.clock_set(100)
    assert m.now_ns == 2000
    m.engine.clock.timer(lambda: None, "t").mod(2600)
    m.step_to_next()
    assert m.now_ns == 2600


def test_a_modelled_crash_sets_the_run_state_and_cont_does_not_clear_it() -> None:
    m = Machine()

    def crash() -> None:
        raise MachineHalt("crashed", "SIM-UAF: boom")

    m.engine.run_activation(crash)
    assert m.run_state == "crashed" and m.halted
    m.cont()
    assert m.run_state == "crashed"
    assert [r.text for r in m.engine.tracer.ring] == ["warning: machine crashed: SIM-UAF: boom"]


def test_system_reset_recovers_a_halted_machine_and_keeps_the_time() -> None:
    m = Machine()
    m.step(1000)
    m.engine.halted(MachineHalt("hung", "watchdog"))
    assert m.run_state == "hung"
    m.system_reset()
    assert m.run_state == "running" and m.engine.halt is None
    assert m.now_ns == 1000 and m.reset_count == 1


def test_system_reset_of_a_paused_machine_leaves_it_in_prelaunch() -> None:
    m = Machine()
    m.stop()
    m.system_reset()
    assert m.status() == "paused (prelaunch)"


def test_system_reset_returns_devices_to_power_on_state() -> None:
    m = Machine()
    place_edu(m)
    m.memory.store(0xFE000004, 4, 1)
    m.memory.store(0xFE000060, 4, 1)
    m.system_reset()
    assert m.mmio_base("edu0") is None and m.gsi_levels == {}
    place_edu(m)
    assert m.memory.load(0xFE000004, 4) == (OK, 0)  # liveness back to 0
    assert m.memory.load(0xFE000024, 4) == (OK, 0)


def test_the_guest_resets_the_machine_through_port_0xcf9() -> None:
    m = Machine()
    m.io_as.store(0xCF9, 1, 0x6)
    assert m.reset_count == 0
    m.after_command()
    assert m.reset_count == 1


def test_device_del_unplugs_and_unmaps_the_device() -> None:
    m = Machine()
    place_edu(m)
    m.device_del("edu0")
    assert "edu0" not in m.devices and slots(m) == {"mch": "00:00.0"}
    assert m.memory.load(0xFE000000, 4) == (DECODE, 0)


# -- interrupts and address spaces ---------------------------------------------------------


@pytest.mark.parametrize("slot, gsi", [(1, 21), (2, 22), (3, 23), (4, 20), (5, 21)])
def test_intx_reaches_the_gsi_qemus_q35_routes_it_to(slot: int, gsi: int) -> None:
    m = Machine(devices=[f"edu,id=e,addr={slot}"])
    dev = m.device("e")
    assert isinstance(dev, PciDevice)
    assert m.gsi_of(dev) == gsi


def test_address_spaces_are_listed_memory_io_then_each_function() -> None:
    m = Machine(devices=["edu,id=a", "edu,id=b"])
    assert [s.name for s in m.address_spaces()] == [
        "memory",
        "I/O",
        "mch",
        "edu",
        "edu",
        "ICH9-LPC",
        "ich9-ahci",
        "ICH9-SMB",
    ]


def test_info_mtree_of_the_default_machine_prints_in_qemus_format() -> None:
    m = Machine()
    place_edu(m)
    assert render_mtree(m.address_spaces()) == [
        "address-space: memory",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): system",
        "    0000000000000000-0000000007ffffff (prio 0, ram): alias ram-below-4g @pc.ram "
        "0000000000000000-0000000007ffffff",
        "    0000000000000000-ffffffffffffffff (prio -1, i/o): pci",
        "      00000000fe000000-00000000fe0fffff (prio 1, i/o): edu-mmio",
        "    00000000fee00000-00000000feefffff (prio 4096, i/o): apic-msi",
        "",
        "address-space: I/O",
        "  0000000000000000-000000000000ffff (prio 0, i/o): io",
        "    0000000000000cf8-0000000000000cfb (prio 0, i/o): pci-conf-idx",
        "    0000000000000cf9-0000000000000cf9 (prio 1, i/o): lpc-reset-control",
        "    0000000000000cfc-0000000000000cff (prio 0, i/o): pci-conf-data",
        "",
        "address-space: mch",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master container",
        "",
        "address-space: edu",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master container",
        "    0000000000000000-ffffffffffffffff (prio 0, i/o): alias bus master @system "
        "0000000000000000-ffffffffffffffff",
        "",
        "address-space: ICH9-LPC",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master container",
        "",
        "address-space: ich9-ahci",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master container",
        "",
        "address-space: ICH9-SMB",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master container",
        "",
        "memory-region: pc.ram",
        "  0000000000000000-0000000007ffffff (prio 0, ram): pc.ram",
        "",
        "memory-region: system",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): system",
        "    0000000000000000-0000000007ffffff (prio 0, ram): alias ram-below-4g @pc.ram "
        "0000000000000000-0000000007ffffff",
        "    0000000000000000-ffffffffffffffff (prio -1, i/o): pci",
        "      00000000fe000000-00000000fe0fffff (prio 1, i/o): edu-mmio",
        "    00000000fee00000-00000000feefffff (prio 4096, i/o): apic-msi",
        "",
    ]


def test_info_mtree_f_of_the_default_machine_shares_the_bus_master_view() -> None:
    m = Machine()
    place_edu(m)
    assert render_mtree(m.address_spaces(), flat=True) == [
        "FlatView #0",
        ' AS "memory", root: system',
        ' AS "edu", root: bus master container',
        " Root memory region: system",
        "  0000000000000000-0000000007ffffff (prio 0, ram): pc.ram",
        "  00000000fe000000-00000000fe0fffff (prio 1, i/o): edu-mmio",
        "  00000000fee00000-00000000feefffff (prio 4096, i/o): apic-msi",
        "",
        "FlatView #1",
        ' AS "I/O", root: io',
        " Root memory region: io",
        # QEMU's "io" region answers the ports nothing else decodes (unassigned_io_ops)
        "  0000000000000000-0000000000000cf7 (prio 0, i/o): io",
        "  0000000000000cf8-0000000000000cf8 (prio 0, i/o): pci-conf-idx",
        "  0000000000000cf9-0000000000000cf9 (prio 1, i/o): lpc-reset-control",
        "  0000000000000cfa-0000000000000cfb (prio 0, i/o): pci-conf-idx @0000000000000002",
        "  0000000000000cfc-0000000000000cff (prio 0, i/o): pci-conf-data",
        "  0000000000000d00-000000000000ffff (prio 0, i/o): io @0000000000000d00",
        "",
        "FlatView #2",
        ' AS "mch", root: bus master container',
        ' AS "ICH9-LPC", root: bus master container',
        ' AS "ich9-ahci", root: bus master container',
        ' AS "ICH9-SMB", root: bus master container',
        " Root memory region: (none)",
        "  No rendered FlatView",
        "",
    ]


def test_the_issues_done_when_scenario_runs_from_plain_python() -> None:
    """Build the default machine, enable edu through 0xcf8/0xcfc, copy 16 bytes
    RAM -> edu -> RAM by stepping virtual time, read them back."""
    m = Machine()
    place_edu(m)
    payload = bytes(range(0xA0, 0xB0))
    m.memory.write(0x100000, payload)
    for off, value in ((0x80, 0x100000), (0x88, 0x40000), (0x90, 16), (0x98, 1)):
        m.memory.store(0xFE000000 + off, 8, value)
    m.step(100_000_000)
    for off, value in ((0x80, 0x40000), (0x88, 0x200000), (0x90, 16), (0x98, 3)):
        m.memory.store(0xFE000000 + off, 8, value)
    m.step(100_000_000)
    assert m.memory.read(0x200000, 16) == (OK, payload)
