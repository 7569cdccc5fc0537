"""Flat views: QEMU's visibility rules for priorities, aliases, containers and holes
(memory/flatview.py, after QEMU's render_memory_region and docs/devel/memory.rst)."""

from __future__ import annotations

from dmamon.memory import FlatView, MemoryRegion, MmioOps

Row = tuple[int, int, str, int]


def io(name: str, size: int) -> MemoryRegion:
    return MemoryRegion.io_region(name, size, MmioOps())


def ram(name: str, size: int) -> MemoryRegion:
    return MemoryRegion.ram_region(name, size)


def rows(root: MemoryRegion | None) -> list[Row]:
    """(first, last, region, offset in region) per flat range."""
    return [(r.start, r.end - 1, r.region.name, r.offset_in_region) for r in FlatView(root).ranges]


def test_no_root_renders_nothing() -> None:
    fv = FlatView(None)
    assert fv.ranges == [] and fv.lookup(0) is None


def test_an_empty_container_renders_nothing() -> None:
    assert rows(MemoryRegion.container("system")) == []


def test_a_ram_root_is_one_range() -> None:
    assert rows(ram("pc.ram", 0x1000)) == [(0, 0xFFF, "pc.ram", 0)]


def test_container_holes_are_unassigned() -> None:
    root = MemoryRegion.container("system")
    root.add_subregion(0x1000, io("a", 0x100))
    root.add_subregion(0x3000, io("b", 0x100))
    fv = FlatView(root)
    assert fv.lookup(0x0FFF) is None
    assert fv.lookup(0x1100) is None
    hit = fv.lookup(0x10FF)
    assert hit is not None and hit.region.name == "a"
    assert fv.next_start_after(0x1100) == 0x3000
    assert fv.next_start_after(0x3000) is None


def test_higher_priority_wins_where_siblings_overlap() -> None:
    root = MemoryRegion.container("system")
    root.add_subregion(0x0, ram("low", 0x4000))
    root.add_subregion(0x1000, io("high", 0x1000), priority=1)
    assert rows(root) == [
        (0x0000, 0x0FFF, "low", 0x0000),
        (0x1000, 0x1FFF, "high", 0),
        (0x2000, 0x3FFF, "low", 0x2000),
    ]


def test_negative_priority_goes_under_priority_zero() -> None:
    root = MemoryRegion.container("system")
    root.add_subregion(0x0, io("pci", 0x4000), priority=-1)
    root.add_subregion(0x0, ram("ram", 0x1000))
    assert rows(root) == [(0, 0xFFF, "ram", 0), (0x1000, 0x3FFF, "pci", 0x1000)]


def test_among_equal_priorities_the_region_added_last_wins() -> None:
    root = MemoryRegion.container("system")
    root.add_subregion(0x0, io("old", 0x2000), may_overlap=True)
    root.add_subregion(0x1000, io("new", 0x2000), may_overlap=True)
    assert rows(root) == [(0, 0xFFF, "old", 0), (0x1000, 0x2FFF, "new", 0)]


def test_a_container_is_transparent_where_it_has_no_children() -> None:
    root = MemoryRegion.container("system")
    root.add_subregion(0x0, ram("ram", 0x4000))
    window = MemoryRegion.container("window", 0x2000)
    window.add_subregion(0x800, io("dev", 0x100))
    root.add_subregion(0x1000, window, priority=10)
    assert rows(root) == [
        (0x0000, 0x17FF, "ram", 0),
        (0x1800, 0x18FF, "dev", 0),
        (0x1900, 0x3FFF, "ram", 0x1900),
    ]


def test_an_io_region_fills_what_its_subregions_leave() -> None:
    root = io("io", 0x100)
    root.add_subregion(0x70, io("rtc-index", 1))
    assert rows(root) == [
        (0x00, 0x6F, "io", 0x00),
        (0x70, 0x70, "rtc-index", 0),
        (0x71, 0xFF, "io", 0x71),
    ]


def test_an_alias_shows_its_target_from_the_alias_offset() -> None:
    bios = MemoryRegion.rom_region("pc.bios", 0x40000)
    root = MemoryRegion.container("system")
    root.add_subregion(0xE0000, MemoryRegion.alias_region("isa-bios", bios, 0x20000, 0x20000))
    (r,) = FlatView(root).ranges
    assert (r.start, r.end, r.region.name, r.offset_in_region) == (
        0xE0000,
        0x100000,
        "pc.bios",
        0x20000,
    )
    assert r.readonly


def test_an_alias_of_an_alias_composes_the_offsets() -> None:
    target = ram("pc.ram", 0x10000)
    inner = MemoryRegion.alias_region("inner", target, 0x4000, 0x8000)
    outer = MemoryRegion.alias_region("outer", inner, 0x1000, 0x1000)
    root = MemoryRegion.container("system")
    root.add_subregion(0x100, outer)
    assert rows(root) == [(0x100, 0x10FF, "pc.ram", 0x5000)]


def test_an_alias_of_a_container_shows_its_holes_and_lets_lower_regions_through() -> None:
    pci = MemoryRegion.container("pci")
    pci.add_subregion(0xC0000, MemoryRegion.rom_region("pc.rom", 0x20000), priority=1)
    root = MemoryRegion.container("system")
    root.add_subregion(
        0, MemoryRegion.alias_region("ram-below-4g", ram("pc.ram", 0x200000), 0, 0x200000)
    )
    root.add_subregion(0xA0000, MemoryRegion.alias_region("pam", pci, 0xA0000, 0x40000), priority=1)
    assert rows(root) == [
        (0x000000, 0x0BFFFF, "pc.ram", 0),
        (0x0C0000, 0x0DFFFF, "pc.rom", 0),
        (0x0E0000, 0x1FFFFF, "pc.ram", 0xE0000),
    ]


def test_disabled_regions_and_their_children_are_hidden() -> None:
    root = MemoryRegion.container("system")
    box = MemoryRegion.container("box", 0x1000)
    box.add_subregion(0, io("child", 0x10))
    root.add_subregion(0x1000, box)
    bar = io("bar", 0x10)
    root.add_subregion(0x2000, bar)
    box.set_enabled(False)
    bar.set_enabled(False)
    assert rows(root) == []


def test_a_disabled_root_renders_nothing() -> None:
    r = ram("ram", 0x1000)
    r.set_enabled(False)
    assert rows(r) == []


def test_contiguous_pieces_of_one_region_merge() -> None:
    target = ram("pc.ram", 0x4000)
    root = MemoryRegion.container("system")
    root.add_subregion(0x0000, MemoryRegion.alias_region("lo", target, 0x0000, 0x2000))
    root.add_subregion(0x2000, MemoryRegion.alias_region("hi", target, 0x2000, 0x2000))
    assert rows(root) == [(0, 0x3FFF, "pc.ram", 0)]


def test_pieces_that_do_not_continue_the_offsets_stay_apart() -> None:
    target = ram("pc.ram", 0x4000)
    root = MemoryRegion.container("system")
    root.add_subregion(0x0000, MemoryRegion.alias_region("lo", target, 0x0000, 0x2000))
    root.add_subregion(0x2000, MemoryRegion.alias_region("again", target, 0x0000, 0x2000))
    assert rows(root) == [(0, 0x1FFF, "pc.ram", 0), (0x2000, 0x3FFF, "pc.ram", 0)]


def test_a_range_carries_the_priority_of_its_own_region() -> None:
    root = MemoryRegion.container("system")
    msi = io("apic-msi", 0x1000)
    root.add_subregion(0xFEE00000, msi, priority=4096)
    (r,) = FlatView(root).ranges
    assert r.priority == 4096 and not r.readonly


def test_lookup_finds_the_range_by_bisection_at_its_edges() -> None:
    root = MemoryRegion.container("system")
    for i in range(100):
        root.add_subregion(i * 0x100, io(f"r{i}", 0x80))
    fv = FlatView(root)
    for i in (0, 1, 50, 99):
        first, last = fv.lookup(i * 0x100), fv.lookup(i * 0x100 + 0x7F)
        assert first is not None and last is not None
        assert first.region.name == last.region.name == f"r{i}"
        assert fv.lookup(i * 0x100 + 0x80) is None


def test_a_region_at_the_top_of_the_64_bit_space_is_reachable() -> None:
    root = MemoryRegion.container("system")
    root.add_subregion((1 << 64) - 0x1000, io("top", 0x1000))
    hit = FlatView(root).lookup((1 << 64) - 1)
    assert hit is not None and hit.end == 1 << 64
