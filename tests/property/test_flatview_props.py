"""Property: the flat view of any region tree agrees, address by address, with a brute-force
reading of QEMU's visibility rules (docs/devel/memory.rst): inside a container the enabled
subregion with the highest priority wins, the one added last among equal priorities; an
alias shows its target from its offset; a region with contents shows through where none of
its subregions answers; a container answers nowhere by itself; disabled regions hide
everything below them."""

from __future__ import annotations

from dataclasses import dataclass, field

from dmamon.memory import FlatView, MemoryRegion, MmioOps
from hypothesis import given
from hypothesis import strategies as st

SPACE = 0x100  # the root container's size: small enough to check every address


@dataclass
class Node:
    """The test's own record of a region: what it is and in which order children came."""

    mr: MemoryRegion
    children: list[tuple[int, Node]] = field(default_factory=list)  # (insertion no., child)
    target: Node | None = None


_counter = [0]


def _name(kind: str) -> str:
    _counter[0] += 1
    return f"{kind}{_counter[0]}"


@st.composite
def trees(draw: st.DrawFn, size: int = SPACE, depth: int = 0) -> Node:
    """A random region of ``size`` bytes (a container at the top)."""
    kinds = ["ram", "io"] + (["container", "container", "alias"] if depth < 3 else [])
    kind = "container" if depth == 0 else draw(st.sampled_from(kinds))
    if kind == "ram":
        node = Node(MemoryRegion.ram_region(_name("ram"), size))
    elif kind == "io":
        node = Node(MemoryRegion.io_region(_name("io"), size, MmioOps()))
    elif kind == "alias":
        tsize = draw(st.integers(size, 2 * size))
        target = draw(trees(size=tsize, depth=depth + 1))
        offset = draw(st.integers(0, tsize - size))
        node = Node(
            MemoryRegion.alias_region(_name("alias"), target.mr, offset, size), target=target
        )
    else:
        node = Node(MemoryRegion.container(_name("box"), size))
    if kind in ("container", "io", "ram") and depth < 3 and size >= 2:
        for i in range(draw(st.integers(0, 4 if kind == "container" else 2))):
            csize = draw(st.integers(1, size))
            addr = draw(st.integers(0, size - csize))
            child = draw(trees(size=csize, depth=depth + 1))
            prio = draw(st.integers(-2, 2))
            node.mr.add_subregion(addr, child.mr, priority=prio, may_overlap=True)
            node.children.append((i, child))
    if depth > 0 and draw(st.integers(0, 9)) == 0:
        node.mr.set_enabled(False)
    return node


def visible(node: Node, addr: int, base: int) -> tuple[MemoryRegion, int] | None:
    """Which terminal region (and offset in it) answers ``addr``; ``base`` is where the
    region's offset 0 sits in the address space."""
    mr = node.mr
    if not mr.enabled or not base <= addr < base + mr.size:
        return None
    if node.target is not None:
        return visible(node.target, addr, base - mr.alias_offset)
    order = sorted(node.children, key=lambda ic: (-ic[1].mr.priority, -ic[0]))
    for _, child in order:
        hit = visible(child, addr, base + child.mr.addr)
        if hit is not None:
            return hit
    if mr.ram is not None or mr.ops is not None:
        return mr, addr - base
    return None


@given(trees())
def test_every_address_resolves_as_the_visibility_rules_say(root: Node) -> None:
    fv = FlatView(root.mr)
    for addr in range(SPACE):
        fr = fv.lookup(addr)
        got = None if fr is None else (fr.region, fr.offset_in_region + addr - fr.start)
        assert got == visible(root, addr, 0), hex(addr)


@given(trees())
def test_ranges_are_sorted_disjoint_and_fully_merged(root: Node) -> None:
    ranges = FlatView(root.mr).ranges
    for r in ranges:
        assert r.start < r.end
    for a, b in zip(ranges, ranges[1:], strict=False):
        assert a.end <= b.start
        mergeable = (
            a.end == b.start
            and a.region is b.region
            and a.offset_in_region + (a.end - a.start) == b.offset_in_region
            and a.readonly == b.readonly
        )
        assert not mergeable
