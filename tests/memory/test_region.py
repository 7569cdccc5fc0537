"""Memory regions, topology transactions and their configuration errors (memory/region.py)."""

from __future__ import annotations

import re

import pytest
from dmamon.memory import ConfigError, MemoryRegion, MmioOps, RegionKind, transaction
from dmamon.memory.region import begin, commit, topology_generation


def exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


def io(name: str, size: int) -> MemoryRegion:
    return MemoryRegion.io_region(name, size, MmioOps())


# -- construction --------------------------------------------------------------------------


def test_ram_reads_as_zeros_until_written() -> None:
    mr = MemoryRegion.ram_region("ram", 1 << 30)
    assert mr.ram is not None
    assert len(mr.ram) == 1 << 30
    assert mr.ram[(1 << 30) - 4 :] == bytes(4)
    assert mr.is_ram and mr.kind is RegionKind.RAM


def test_rom_is_loaded_with_its_data_and_marked_read_only() -> None:
    mr = MemoryRegion.rom_region("bios", 0x1000, b"\x55\xaa")
    assert mr.kind is RegionKind.ROM and mr.readonly
    assert mr.ram is not None and mr.ram[0:3] == b"\x55\xaa\x00"


def test_rom_data_larger_than_the_rom_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=exact("rom 'bios': 17 bytes do not fit in 0x10")):
        MemoryRegion.rom_region("bios", 0x10, bytes(17))


@pytest.mark.parametrize("size", [0, -1, (1 << 64) + 1])
def test_region_size_outside_1_to_2_pow_64_is_a_config_error(size: int) -> None:
    with pytest.raises(ConfigError, match=exact(f"region 'r': size must be 1..2**64, not {size}")):
        MemoryRegion.container("r", size)


def test_a_region_may_span_the_whole_64_bit_space() -> None:
    assert MemoryRegion.container("everything").size == 1 << 64


@pytest.mark.parametrize("field", ["valid_min", "valid_max", "impl_min", "impl_max"])
def test_mmio_access_sizes_other_than_0_1_2_4_8_are_config_errors(field: str) -> None:
    with pytest.raises(ConfigError, match=exact(f"MmioOps.{field} must be 0, 1, 2, 4 or 8, not 3")):
        MmioOps(**{field: 3})  # type: ignore[arg-type]


def test_alias_outside_its_target_is_a_config_error() -> None:
    ram = MemoryRegion.ram_region("pc.ram", 0x1000)
    with pytest.raises(
        ConfigError, match=exact("alias 'a': 0x800+0x1000 is outside 'pc.ram' (size 0x1000)")
    ):
        MemoryRegion.alias_region("a", ram, 0x800, 0x1000)


def test_type_words_are_qemus() -> None:
    ram = MemoryRegion.ram_region("pc.ram", 0x1000)
    assert ram.type_word() == "ram"
    assert MemoryRegion.rom_region("rom", 0x1000).type_word() == "rom"
    assert io("dev", 4).type_word() == "i/o"
    assert MemoryRegion.container("c").type_word() == "i/o"
    assert MemoryRegion.alias_region("a", ram, 0, 0x10).type_word() == "ram"
    assert (
        MemoryRegion.alias_region("b", MemoryRegion.container("c2"), 0, 0x10).type_word() == "i/o"
    )


def test_region_ids_are_unique() -> None:
    a, b = io("a", 4), io("b", 4)
    assert a.id != b.id


# -- topology --------------------------------------------------------------------------------


def test_subregions_are_kept_by_descending_priority_newest_first_among_equals() -> None:
    root = MemoryRegion.container("root")
    low, old, new, high = io("low", 4), io("old", 4), io("new", 4), io("high", 4)
    root.add_subregion(0x00, old)
    root.add_subregion(0x10, low, priority=-1)
    root.add_subregion(0x20, high, priority=5)
    root.add_subregion(0x30, new)
    assert [s.name for s in root.subregions] == ["high", "new", "old", "low"]


def test_overlap_at_one_priority_is_a_config_error() -> None:
    root = MemoryRegion.container("root", 0x1000)
    root.add_subregion(0x100, io("a", 0x100))
    with pytest.raises(
        ConfigError,
        match=exact("region 'b' at 0x180 overlaps 'a' at 0x100 in 'root', both priority 0"),
    ):
        root.add_subregion(0x180, io("b", 0x100))


def test_overlap_is_allowed_at_another_priority() -> None:
    root = MemoryRegion.container("root", 0x1000)
    root.add_subregion(0x100, io("a", 0x100))
    root.add_subregion(0x180, io("b", 0x100), priority=1)
    assert len(root.subregions) == 2


def test_overlap_is_allowed_when_either_side_may_overlap() -> None:
    root = MemoryRegion.container("root", 0x1000)
    root.add_subregion(0x100, io("a", 0x100), may_overlap=True)
    root.add_subregion(0x180, io("b", 0x100))
    root.add_subregion(0x1C0, io("c", 0x100), may_overlap=True)
    assert len(root.subregions) == 3


def test_overlap_with_a_disabled_sibling_is_allowed() -> None:
    root = MemoryRegion.container("root", 0x1000)
    a = io("a", 0x100)
    a.set_enabled(False)
    root.add_subregion(0x100, a)
    root.add_subregion(0x100, io("b", 0x100))
    assert len(root.subregions) == 2


def test_touching_neighbours_do_not_overlap() -> None:
    root = MemoryRegion.container("root", 0x1000)
    root.add_subregion(0x100, io("a", 0x100))
    root.add_subregion(0x200, io("b", 0x100))
    root.add_subregion(0x0, io("c", 0x100))


def test_mapping_a_region_twice_is_a_config_error() -> None:
    root, other = MemoryRegion.container("root"), MemoryRegion.container("other")
    a = io("a", 4)
    root.add_subregion(0, a)
    with pytest.raises(ConfigError, match=exact("region 'a' is already mapped in 'root'")):
        other.add_subregion(0, a)


def test_mapping_a_region_into_itself_is_a_config_error() -> None:
    root = MemoryRegion.container("root")
    with pytest.raises(ConfigError, match=exact("region 'root' cannot be mapped into itself")):
        root.add_subregion(0, root)
    alias = MemoryRegion.alias_region("self-alias", root, 0, 0x1000)
    with pytest.raises(
        ConfigError, match=exact("region 'self-alias' cannot be mapped into itself")
    ):
        root.add_subregion(0, alias)


def test_a_subregion_that_does_not_fit_is_a_config_error() -> None:
    root = MemoryRegion.container("io", 0x10000)
    with pytest.raises(
        ConfigError,
        match=exact("region 'a' at 0xfffe (size 0x4) does not fit in 'io' (size 0x10000)"),
    ):
        root.add_subregion(0xFFFE, io("a", 4))
    with pytest.raises(
        ConfigError,
        match=exact("region 'a' at -0x1 (size 0x4) does not fit in 'io' (size 0x10000)"),
    ):
        root.add_subregion(-1, io("a", 4))


def test_unmapping_a_region_that_is_not_a_child_is_a_config_error() -> None:
    root = MemoryRegion.container("root")
    with pytest.raises(ConfigError, match=exact("region 'a' is not mapped in 'root'")):
        root.del_subregion(io("a", 4))


def test_unmapping_frees_the_region_for_another_parent() -> None:
    root, other = MemoryRegion.container("root"), MemoryRegion.container("other")
    a = io("a", 4)
    root.add_subregion(0x10, a)
    root.del_subregion(a)
    other.add_subregion(0x20, a)
    assert a.parent is other and a.addr == 0x20 and root.subregions == []


def test_set_address_moves_the_region_and_keeps_its_priority() -> None:
    root = MemoryRegion.container("root")
    a = io("a", 0x100)
    root.add_subregion(0x1000, a, priority=3, may_overlap=True)
    a.set_address(0x2000)
    assert (a.addr, a.priority, a.may_overlap, a.parent) == (0x2000, 3, True, root)


def test_absolute_address_adds_every_container_offset() -> None:
    root, mid = MemoryRegion.container("root"), MemoryRegion.container("mid", 0x10000)
    a = io("a", 4)
    root.add_subregion(0x100000, mid)
    mid.add_subregion(0x40, a)
    assert a.absolute_address() == 0x100040


def test_every_topology_change_moves_the_generation() -> None:
    root = MemoryRegion.container("root")
    a = io("a", 4)
    ram = MemoryRegion.ram_region("ram", 0x1000)
    alias = MemoryRegion.alias_region("al", ram, 0, 0x800)
    g = topology_generation()
    root.add_subregion(0, a)
    assert topology_generation() > g
    for change in (
        lambda: a.set_enabled(False),
        lambda: a.set_address(0x10),
        lambda: alias.set_alias_offset(0x10),
        lambda: root.del_subregion(a),
    ):
        g = topology_generation()
        change()
        assert topology_generation() > g


def test_setting_the_same_enabled_state_is_not_a_change() -> None:
    a = io("a", 4)
    g = topology_generation()
    a.set_enabled(True)
    assert topology_generation() == g


def test_a_transaction_publishes_its_changes_once_at_commit() -> None:
    root = MemoryRegion.container("root")
    g = topology_generation()
    with transaction():
        root.add_subregion(0, io("a", 4))
        root.add_subregion(8, io("b", 4))
        assert topology_generation() == g
    assert topology_generation() == g + 1


def test_nested_transactions_publish_at_the_outermost_commit() -> None:
    root = MemoryRegion.container("root")
    g = topology_generation()
    begin()
    begin()
    root.add_subregion(0, io("a", 4))
    commit()
    assert topology_generation() == g
    commit()
    assert topology_generation() == g + 1


def test_an_empty_transaction_changes_nothing() -> None:
    g = topology_generation()
    with transaction():
        pass
    assert topology_generation() == g
