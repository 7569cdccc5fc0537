"""Memory listeners: region_add/region_del on commit (memory/listener.py)."""

from __future__ import annotations

from dmamon.memory import (
    AddressSpace,
    Engine,
    MemoryListener,
    MemoryRegion,
    MemoryRegionSection,
    MmioOps,
    transaction,
)


class Log(MemoryListener):
    def __init__(self, tag: str, out: list[str]) -> None:
        self.tag = tag
        self.out = out

    def begin(self) -> None:
        self.out.append(f"{self.tag} begin")

    def region_add(self, s: MemoryRegionSection) -> None:
        self.out.append(f"{self.tag} add {s.region.name} {s.address:#x}+{s.size:#x}")

    def region_del(self, s: MemoryRegionSection) -> None:
        self.out.append(f"{self.tag} del {s.region.name} {s.address:#x}+{s.size:#x}")

    def commit(self) -> None:
        self.out.append(f"{self.tag} commit")


def machine() -> tuple[MemoryRegion, MemoryRegion, AddressSpace, AddressSpace, MemoryRegion]:
    """System memory with RAM and a BAR; a device's bus-master space whose alias is off."""
    engine = Engine()
    system = MemoryRegion.container("system")
    system.add_subregion(0, MemoryRegion.ram_region("ram", 0x10000))
    bar = MemoryRegion.io_region("bar0", 0x1000, MmioOps())
    system.add_subregion(0x100000, bar)
    bm_root = MemoryRegion.container("bus master container")
    alias = MemoryRegion.alias_region("bus master", system, 0, system.size)
    alias.set_enabled(False)
    bm_root.add_subregion(0, alias)
    return (
        bar,
        alias,
        AddressSpace("memory", system, engine),
        AddressSpace("edu", bm_root, engine),
        system,
    )


def test_a_new_listener_first_hears_of_every_section_there() -> None:
    _, _, memory, _, _ = machine()
    out: list[str] = []
    memory.register_listener(Log("a", out))
    assert out == ["a begin", "a add ram 0x0+0x10000", "a add bar0 0x100000+0x1000", "a commit"]


def test_a_bar_move_is_a_del_of_the_old_place_then_an_add_of_the_new() -> None:
    bar, _, memory, _, _ = machine()
    out: list[str] = []
    memory.register_listener(Log("a", out))
    out.clear()
    bar.set_address(0x200000)
    assert out == [
        "a begin",
        "a del bar0 0x100000+0x1000",
        "a add bar0 0x200000+0x1000",
        "a commit",
    ]


def test_bus_master_toggles_add_and_remove_the_devices_view_of_memory() -> None:
    _, alias, memory, edu, _ = machine()
    out: list[str] = []
    edu.register_listener(Log("vfio", out))
    memory.register_listener(Log("mem", out))
    assert out == ["vfio begin", "vfio commit", "mem begin", "mem add ram 0x0+0x10000",
                   "mem add bar0 0x100000+0x1000", "mem commit"]  # fmt: skip
    out.clear()
    alias.set_enabled(True)
    assert out == [
        "vfio begin",
        "vfio add ram 0x0+0x10000",
        "vfio add bar0 0x100000+0x1000",
        "vfio commit",
    ]
    out.clear()
    alias.set_enabled(False)
    assert out == [
        "vfio begin",
        "vfio del ram 0x0+0x10000",
        "vfio del bar0 0x100000+0x1000",
        "vfio commit",
    ]


def test_a_transaction_is_one_commit_and_dels_go_to_listeners_in_reverse() -> None:
    bar, _, memory, _, system = machine()
    out: list[str] = []
    memory.register_listener(Log("a", out))
    memory.register_listener(Log("b", out))
    out.clear()
    with transaction():
        system.del_subregion(bar)
        system.add_subregion(0x300000, MemoryRegion.ram_region("extra", 0x1000))
        assert out == []
    assert out == [
        "a begin",
        "b begin",
        "b del bar0 0x100000+0x1000",
        "a del bar0 0x100000+0x1000",
        "a add extra 0x300000+0x1000",
        "b add extra 0x300000+0x1000",
        "a commit",
        "b commit",
    ]


def test_a_change_elsewhere_is_not_delivered_and_unregister_dels_what_is_left() -> None:
    bar, _, memory, edu, _ = machine()
    out: list[str] = []
    lst = Log("vfio", out)
    edu.register_listener(lst)
    out.clear()
    bar.set_address(0x200000)  # the bus-master alias is off: edu sees nothing change
    assert out == []
    edu.unregister_listener(lst)
    assert out == ["vfio begin", "vfio commit"]
    out.clear()
    memory.register_listener(lst)
    out.clear()
    memory.unregister_listener(lst)
    assert out == [
        "vfio begin",
        "vfio del bar0 0x200000+0x1000",
        "vfio del ram 0x0+0x10000",
        "vfio commit",
    ]
