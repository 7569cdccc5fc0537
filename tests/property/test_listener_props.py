"""Property: a memory listener that applies every region_add/region_del it is told always
holds exactly the address space's current sections, whatever sequence of moves, enables,
disables, adds and deletes (alone or in transactions) happened (memory/listener.py)."""

from __future__ import annotations

from contextlib import nullcontext

from dmamon.memory import (
    AddressSpace,
    Engine,
    MemoryListener,
    MemoryRegion,
    MemoryRegionSection,
    MmioOps,
    transaction,
)
from hypothesis import given, settings
from hypothesis import strategies as st


class Mirror(MemoryListener):
    def __init__(self) -> None:
        self.sections: list[MemoryRegionSection] = []
        self.depth = 0

    def begin(self) -> None:
        assert self.depth == 0
        self.depth += 1

    def region_add(self, s: MemoryRegionSection) -> None:
        assert self.depth == 1 and s not in self.sections
        self.sections.append(s)

    def region_del(self, s: MemoryRegionSection) -> None:
        assert self.depth == 1
        self.sections.remove(s)

    def commit(self) -> None:
        self.depth -= 1


ops = st.lists(
    st.tuples(
        st.sampled_from(["move", "toggle", "remap", "alias"]),
        st.integers(0, 3),
        st.integers(0, 15),
        st.booleans(),
    ),
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_a_listener_mirror_always_equals_the_flat_view(
    steps: list[tuple[str, int, int, bool]],
) -> None:
    system = MemoryRegion.container("system", 0x10000)
    regions = [
        MemoryRegion.ram_region(f"ram{i}", 0x800)
        if i % 2
        else MemoryRegion.io_region(f"io{i}", 0x800, MmioOps())
        for i in range(4)
    ]
    for i, mr in enumerate(regions):
        system.add_subregion(i * 0x1000, mr, priority=i, may_overlap=True)
    bm = MemoryRegion.container("bm", 0x10000)
    alias = MemoryRegion.alias_region("bus master", system, 0, 0x10000)
    bm.add_subregion(0, alias)
    engine = Engine()
    spaces = [AddressSpace("memory", system, engine), AddressSpace("dev", bm, engine)]
    mirrors = [Mirror(), Mirror()]
    for sp, mi in zip(spaces, mirrors, strict=True):
        sp.register_listener(mi)
    for op, i, where, in_txn in steps:
        mr = regions[i]
        with transaction() if in_txn else nullcontext():
            if op == "move":
                mr.set_address(where * 0x800)
            elif op == "toggle":
                mr.set_enabled(not mr.enabled)
            elif op == "remap":
                system.del_subregion(mr)
                system.add_subregion(where * 0x800, mr, priority=i, may_overlap=True)
            else:
                alias.set_enabled(not alias.enabled)
        for sp, mi in zip(spaces, mirrors, strict=True):
            want = [MemoryRegionSection.of(fr) for fr in sp.flatview.ranges]
            assert sorted(mi.sections, key=lambda s: s.address) == want
