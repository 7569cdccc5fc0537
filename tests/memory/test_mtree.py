"""``info mtree`` and ``info mtree -f`` renderers (memory/mtree.py).

The goldens ``qemu_run1_mtree.txt`` and ``qemu_run1_mtree_f.txt`` are QEMU 7.2's own output
(reference/qemu-transcripts/run1-q35-intel-iommu.txt: the ``I/O``, ``cpu-smm-0`` and
``cpu-memory-0``/``memory`` blocks with the alias-target blocks they queue, and FlatViews
#0-#2); the tests rebuild those region trees and expect the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from dmamon.memory import AddressSpace, Engine, MemoryRegion, MemReentrancyGuard, MmioOps
from dmamon.memory.mtree import flatview_root, render_mtree

HERE = Path(__file__).parent
MiB = 1 << 20


def golden(name: str) -> list[str]:
    return (HERE / name).read_text().split("\n")[:-1]


def io(name: str, size: int) -> MemoryRegion:
    return MemoryRegion.io_region(name, size, MmioOps())


def q35_io() -> MemoryRegion:
    """run1's I/O space before firmware: ICH9 PM block disabled at 0 with its children."""
    root = io("io", 0x10000)
    for addr, size, name in (
        (0x00, 8, "dma-chan"),
        (0x08, 8, "dma-cont"),
        (0x20, 2, "pic"),
        (0x40, 4, "pit"),
        (0x60, 1, "i8042-data"),
        (0x61, 1, "pcspk"),
        (0x64, 1, "i8042-cmd"),
        (0x7E, 2, "kvmvapic"),
        (0x80, 1, "ioport80"),
        (0x81, 3, "dma-page"),
        (0x87, 1, "dma-page"),
        (0x89, 3, "dma-page"),
        (0x8F, 1, "dma-page"),
        (0x92, 1, "port92"),
        (0xA0, 2, "pic"),
        (0xB2, 2, "apm-io"),
        (0xC0, 0x10, "dma-chan"),
        (0xD0, 0x10, "dma-cont"),
        (0xF0, 1, "ioportF0"),
        (0x4D0, 1, "elcr"),
        (0x4D1, 1, "elcr"),
        (0x510, 2, "fwcfg"),
        (0x514, 8, "fwcfg.dma"),
        (0xCC0, 0x18, "acpi-pci-hotplug"),
        (0xCD8, 0x20, "acpi-cpu-hotplug"),
        (0xCF8, 4, "pci-conf-idx"),
        (0xCFC, 4, "pci-conf-data"),
        (0x5658, 1, "vmport"),
    ):
        root.add_subregion(addr, io(name, size))
    rtc = io("rtc", 2)
    rtc.add_subregion(0, io("rtc-index", 1))
    root.add_subregion(0x70, rtc)
    root.add_subregion(0xCF9, io("lpc-reset-control", 1), priority=1)
    pm = io("ich9-pm", 0x80)
    for addr, size, name in (
        (0x00, 4, "acpi-evt"),
        (0x04, 2, "acpi-cnt"),
        (0x08, 4, "acpi-tmr"),
        (0x20, 0x10, "acpi-gpe0"),
        (0x30, 8, "acpi-smi"),
        (0x60, 0x20, "sm-tco"),
    ):
        pm.add_subregion(addr, io(name, size))
    pm.set_enabled(False)
    root.add_subregion(0, pm, may_overlap=True)
    return root


def q35_system() -> tuple[MemoryRegion, MemoryRegion]:
    """run1's system memory (256 MiB, pc.bios, PAM windows onto ``pci``) and ``smram``."""
    system = MemoryRegion.container("system")
    pc_ram = MemoryRegion.ram_region("pc.ram", 256 * MiB)
    bios = MemoryRegion.rom_region("pc.bios", 0x40000)
    pci = MemoryRegion.container("pci")
    pci.add_subregion(0xC0000, MemoryRegion.rom_region("pc.rom", 0x20000), priority=1)
    pci.add_subregion(
        0xE0000, MemoryRegion.alias_region("isa-bios", bios, 0x20000, 0x20000), priority=1
    )
    pci.add_subregion(0xFFFC0000, bios)
    system.add_subregion(0, MemoryRegion.alias_region("ram-below-4g", pc_ram, 0, 256 * MiB))
    system.add_subregion(0, pci, priority=-1)
    system.add_subregion(
        0xA0000, MemoryRegion.alias_region("smram-region", pci, 0xA0000, 0x20000), priority=1
    )
    for addr in [0xC0000 + 0x4000 * i for i in range(12)]:
        system.add_subregion(
            addr, MemoryRegion.alias_region("pam-pci", pci, addr, 0x4000), priority=1
        )
    system.add_subregion(
        0xF0000, MemoryRegion.alias_region("pam-pci", pci, 0xF0000, 0x10000), priority=1
    )
    system.add_subregion(0xFEC00000, io("ioapic", 0x1000))
    system.add_subregion(0xFED00000, io("hpet", 0x400))
    system.add_subregion(0xFED90000, io("intel_iommu", 0x230))
    system.add_subregion(0xFEE00000, io("apic-msi", MiB), priority=4096)
    smram = MemoryRegion.container("smram", 1 << 32)
    return system, smram


def q35_spaces() -> dict[str, AddressSpace]:
    engine = Engine()
    system, smram = q35_system()
    smm_root = MemoryRegion.container("memory")
    smm_root.add_subregion(0, MemoryRegion.alias_region("smram", smram, 0, 1 << 32), priority=1)
    smm_root.add_subregion(0, MemoryRegion.alias_region("memory", system, 0, 1 << 64))
    return {
        "memory": AddressSpace("memory", system, engine),
        "cpu-memory-0": AddressSpace("cpu-memory-0", system, engine),
        "cpu-smm-0": AddressSpace("cpu-smm-0", smm_root, engine),
        "I/O": AddressSpace("I/O", q35_io(), engine),
    }


# -- goldens from QEMU 7.2 -----------------------------------------------------------------


def test_the_tree_of_qemus_q35_prints_byte_for_byte_as_qemu_prints_it() -> None:
    s = q35_spaces()
    lines = render_mtree([s["I/O"], s["cpu-smm-0"], s["memory"], s["cpu-memory-0"]])
    assert lines == golden("qemu_run1_mtree.txt")


def test_the_flat_views_of_qemus_q35_print_byte_for_byte_as_qemu_prints_them() -> None:
    s = q35_spaces()
    lines = render_mtree([s["cpu-smm-0"], s["memory"], s["cpu-memory-0"], s["I/O"]], flat=True)
    assert lines == golden("qemu_run1_mtree_f.txt")


# -- tree details --------------------------------------------------------------------------


def test_address_spaces_sharing_a_root_are_consecutive_headers_sorted_by_name() -> None:
    engine = Engine()
    root = MemoryRegion.container("system")
    spaces = [AddressSpace(n, root, engine) for n in ("memory", "cpu-memory-1", "cpu-memory-0")]
    assert render_mtree(spaces) == [
        "address-space: cpu-memory-0",
        "address-space: cpu-memory-1",
        "address-space: memory",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): system",
        "",
    ]


def test_children_print_by_address_then_higher_priority_first() -> None:
    root = MemoryRegion.container("root", 0x1000)
    root.add_subregion(0x200, io("late", 0x10))
    root.add_subregion(0x100, io("low", 0x10), priority=-2)
    root.add_subregion(0x100, io("high", 0x10), priority=3)
    root.add_subregion(0x000, io("first", 0x10))
    space = AddressSpace("s", root, Engine())
    assert render_mtree([space])[1:-1] == [
        "  0000000000000000-0000000000000fff (prio 0, i/o): root",
        "    0000000000000000-000000000000000f (prio 0, i/o): first",
        "    0000000000000100-000000000000010f (prio 3, i/o): high",
        "    0000000000000100-000000000000010f (prio -2, i/o): low",
        "    0000000000000200-000000000000020f (prio 0, i/o): late",
    ]


def disabled_tree() -> AddressSpace:
    engine = Engine()
    target = MemoryRegion.ram_region("hidden.ram", 0x1000)
    root = MemoryRegion.container("bus master container")
    alias = MemoryRegion.alias_region("bus master", target, 0, 0x1000)
    alias.set_enabled(False)
    root.add_subregion(0, alias)
    box = MemoryRegion.container("box", 0x100)
    box.add_subregion(0x10, io("child", 4))
    box.set_enabled(False)
    root.add_subregion(0x2000, box)
    return AddressSpace("edu", root, engine)


def test_disabled_regions_are_hidden_but_their_children_and_alias_targets_are_not() -> None:
    assert render_mtree([disabled_tree()]) == [
        "address-space: edu",
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master container",
        "      0000000000002010-0000000000002013 (prio 0, i/o): child",
        "",
        "memory-region: hidden.ram",
        "  0000000000000000-0000000000000fff (prio 0, ram): hidden.ram",
        "",
    ]


def test_disabled_regions_are_shown_and_marked_when_asked() -> None:
    assert render_mtree([disabled_tree()], show_disabled=True)[1:5] == [
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master container",
        "    0000000000000000-0000000000000fff (prio 0, ram): alias bus master @hidden.ram "
        "0000000000000000-0000000000000fff [disabled]",
        "    0000000000002000-00000000000020ff (prio 0, i/o): box [disabled]",
        "      0000000000002010-0000000000002013 (prio 0, i/o): child",
    ]


def test_owners_are_printed_with_the_device_id_and_others_are_orphans() -> None:
    class Owner:
        name = "edu0"
        guard = MemReentrancyGuard()

    root = MemoryRegion.container("pci")
    root.add_subregion(0xFE000000, MemoryRegion.io_region("edu-mmio", MiB, MmioOps(), Owner()))
    space = AddressSpace("memory", root, Engine())
    assert render_mtree([space], owner=True)[1:3] == [
        "  0000000000000000-ffffffffffffffff (prio 0, i/o): pci orphan",
        "    00000000fe000000-00000000fe0fffff (prio 0, i/o): edu-mmio owner:{dev id=edu0}",
    ]
    flat = render_mtree([space], flat=True, owner=True)
    assert (
        flat[3] == "  00000000fe000000-00000000fe0fffff (prio 0, i/o): edu-mmio owner:{dev id=edu0}"
    )


def test_an_address_space_without_a_root_prints_only_its_header() -> None:
    space = AddressSpace("nothing", None, Engine())
    assert render_mtree([space]) == ["address-space: nothing", ""]
    assert render_mtree([space], flat=True) == [
        "FlatView #0",
        ' AS "nothing", root: (none)',
        " Root memory region: (none)",
        "  No rendered FlatView",
        "",
    ]


# -- flat view details ---------------------------------------------------------------------


def test_address_spaces_that_see_the_same_memory_share_one_flat_view() -> None:
    engine = Engine()
    system = MemoryRegion.container("system")
    system.add_subregion(0, MemoryRegion.ram_region("pc.ram", 0x1000))
    system.add_subregion(0x10000, io("dev", 0x10))
    bm = MemoryRegion.container("bus master container")
    bm.add_subregion(0, MemoryRegion.alias_region("bus master", system, 0, 1 << 64))
    spaces = [AddressSpace("memory", system, engine), AddressSpace("edu", bm, engine)]
    assert render_mtree(spaces, flat=True) == [
        "FlatView #0",
        ' AS "memory", root: system',
        ' AS "edu", root: bus master container',
        " Root memory region: system",
        "  0000000000000000-0000000000000fff (prio 0, ram): pc.ram",
        "  0000000000010000-000000000001000f (prio 0, i/o): dev",
        "",
    ]


def test_a_lone_child_at_offset_zero_is_the_view_root() -> None:
    system = MemoryRegion.container("system")
    system.add_subregion(0, MemoryRegion.ram_region("pc.ram", 0x1000))
    lines = render_mtree([AddressSpace("memory", system, Engine())], flat=True)
    assert lines[1:3] == [' AS "memory", root: system', " Root memory region: pc.ram"]


def test_empty_views_are_shared_and_say_so() -> None:
    engine = Engine()
    spaces = []
    for name in ("mch", "edu"):
        root = MemoryRegion.container("bus master container")
        alias = MemoryRegion.alias_region(
            "bus master", MemoryRegion.container("system"), 0, 1 << 64
        )
        alias.set_enabled(False)
        root.add_subregion(0, alias)
        spaces.append(AddressSpace(name, root, engine))
    assert render_mtree(spaces, flat=True) == [
        "FlatView #0",
        ' AS "mch", root: bus master container',
        ' AS "edu", root: bus master container',
        " Root memory region: (none)",
        "  No rendered FlatView",
        "",
    ]


def test_a_view_with_a_root_but_no_ranges_says_no_rendered_flatview() -> None:
    root = MemoryRegion.container("two-empties")
    root.add_subregion(0, MemoryRegion.container("a", 0x100))
    root.add_subregion(0x100, MemoryRegion.container("b", 0x100))
    assert render_mtree([AddressSpace("s", root, Engine())], flat=True)[2:4] == [
        " Root memory region: two-empties",
        "  No rendered FlatView",
    ]


def test_an_alias_root_is_named_in_the_as_line() -> None:
    target = MemoryRegion.ram_region("pc.ram", 0x1000)
    root = MemoryRegion.alias_region("window", target, 0x800, 0x800)
    assert render_mtree([AddressSpace("s", root, Engine())], flat=True)[:5] == [
        "FlatView #0",
        ' AS "s", root: window, alias pc.ram',
        " Root memory region: window",
        "  0000000000000000-00000000000007ff (prio 0, ram): pc.ram @0000000000000800",
        "",
    ]


def test_flatview_root_looks_through_whole_aliases_and_lone_children() -> None:
    system = MemoryRegion.container("system")
    system.add_subregion(0, MemoryRegion.ram_region("ram", 0x1000))
    system.add_subregion(0x1000, MemoryRegion.ram_region("ram2", 0x1000))
    outer = MemoryRegion.container("outer")
    outer.add_subregion(0, MemoryRegion.alias_region("whole", system, 0, 1 << 64))
    assert flatview_root(outer) is system
    partial = MemoryRegion.alias_region("part", system, 0x10, 0x100)
    assert flatview_root(partial) is partial
    assert flatview_root(MemoryRegion.container("empty")) is None
    assert flatview_root(None) is None


def test_rendering_has_no_side_effects_on_the_output_of_the_next_call() -> None:
    s = q35_spaces()
    spaces = [s["I/O"], s["cpu-smm-0"], s["memory"], s["cpu-memory-0"]]
    assert render_mtree(spaces) == render_mtree(spaces)
