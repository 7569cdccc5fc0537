"""Property tests of the shared walkers (devices/common): whatever a guest writes, every
walk ends (a result, a reported error, or a modelled hang) within its budget, and
well-formed lists describe exactly the bytes asked for."""

from __future__ import annotations

import struct

from dmamon.devices.common import (
    TRB_C,
    TRB_CH,
    TRB_LINK,
    TRB_TC,
    PrdEntry,
    PrpError,
    SglDesc,
    SglError,
    SplitVirtqueue,
    TrbRing,
    VirtqError,
    WalkFault,
    prdt_segments,
    prp_segments,
    sgl_segments,
    step_budget,
)
from dmamon.memory import MachineHalt
from hypothesis import example, given, settings
from hypothesis import strategies as st

settings.register_profile("rings", deadline=None, max_examples=150)
PROFILE = settings.get_profile("rings")
RAM = 0x2000
BUDGET = 200


class CountingMem:
    """A small guest RAM; reads past it fail; every read is counted."""

    def __init__(self, data: bytes) -> None:
        self.ram = bytearray(data.ljust(RAM, b"\0")[:RAM])
        self.reads = 0

    def read(self, addr: int, length: int) -> bytes | None:
        self.reads += 1
        if addr + length > RAM:
            return None
        return bytes(self.ram[addr : addr + length])


def _trb_bytes(draw: st.DrawFn) -> bytes:
    """TRBs with few types (Link, Normal) and small aligned link targets, so loops abound."""
    out = b""
    for _ in range(RAM // 0x100):
        kind = draw(st.sampled_from([1, TRB_LINK]))
        flags = draw(st.integers(0, 0x1F)) & (TRB_C | TRB_TC | TRB_CH)
        target = draw(st.integers(0, RAM // 16 + 4)) * 16
        out += struct.pack("<QII", target, 0, flags | kind << 10)
    return out


@st.composite
def trb_memory(draw: st.DrawFn) -> bytes:
    return _trb_bytes(draw)


@PROFILE
@given(trb_memory(), st.integers(0, RAM // 0x100 - 1), st.booleans(), st.booleans())
def test_trb_walks_always_end_within_the_budget(
    data: bytes, start: int, check_dma: bool, limit_links: bool
) -> None:
    mem = CountingMem(data)
    link_limit = 32 if limit_links else None
    ring = TrbRing(mem.read, step_budget(BUDGET), start * 16, link_limit=link_limit)
    try:
        chain = ring.chain_length(check_dma=check_dma, max_trbs=None)
        assert chain.end in {"td", "empty", "link-limit", "dma-failed"}
    except MachineHalt as h:
        assert h.kind == "hung"
        # The budget ran out, or a loop of Link TRBs only was charged as endless at once.
        budget_spent = h.details[0].startswith(f"  TRB walk: {BUDGET} TRBs read")
        assert budget_spent or any("Link TRB loop" in line for line in h.details)
    assert mem.reads <= BUDGET
    mem.reads = 0
    try:
        ring.fetch()
    except (MachineHalt, WalkFault):
        pass
    assert mem.reads <= BUDGET


@PROFILE
@given(st.lists(st.integers(1, 5), min_size=1, max_size=6))
def test_a_well_formed_ring_yields_its_tds_in_order(tds: list[int]) -> None:
    """TDs of chained Normal TRBs, a Link TRB with TC back to the start: chain_length
    counts each TD and fetch consumes exactly its TRBs."""
    mem = CountingMem(b"")
    at = 0
    for n in tds:
        for k in range(n):
            ctl = TRB_C | (TRB_CH if k < n - 1 else 0) | 1 << 10
            mem.ram[at : at + 16] = struct.pack("<QII", 0, 0, ctl)
            at += 16
    mem.ram[at : at + 16] = struct.pack("<QII", 0, 0, TRB_C | TRB_TC | TRB_LINK << 10)
    ring = TrbRing(mem.read, step_budget(10_000), 0)
    for n in tds:
        chain = ring.chain_length()
        assert (chain.length, chain.end) == (n, "td")
        assert [ring.fetch() is not None for _ in range(n)] == [True] * n
    assert ring.chain_length().end == "empty" and ring.fetch() is None and not ring.ccs


@PROFILE
@given(
    st.sampled_from([4096, 8192]),
    st.integers(0, 0x7FF).map(lambda x: x * 4),
    st.integers(1, 40_000),
    st.integers(0, 8),
)
@example(4096, 0, 8193, 0)  # one page left at the list's last slot: data, not a chain
def test_prp_lists_describe_exactly_the_transfer(
    page: int, prp1_off: int, length: int, list_slot: int
) -> None:
    prp1 = 0x100000 + prp1_off % page
    pages = [0x200000 + page * i for i in range(64)]
    lists: dict[int, list[int]] = {}
    list_at = 0x10000 + page - 8 * (list_slot + 2)  # a list near a page end: it chains

    def read(addr: int, n: int) -> bytes | None:
        base = addr & ~(page - 1)
        table = lists.get(base, [])
        first = (addr - base) // 8
        return struct.pack(f"<{n // 8}Q", *(table + [0] * 512)[first : first + n // 8])

    # Build the list pages the way a driver does: fill each, chain with the last slot
    # while more than one page is still to come.
    first = min(length, page - prp1 % page)
    remaining = pages[: -(-(length - first) // page)]
    base, slot, chain_page = list_at & ~(page - 1), (list_at % page) // 8, 0x40000
    table = lists.setdefault(base, [0] * (page // 8))
    while remaining:
        if slot == page // 8 - 1 and len(remaining) > 1:
            table[slot] = chain_page
            table = lists.setdefault(chain_page, [0] * (page // 8))
            chain_page, slot = chain_page + page, 0
        table[slot] = remaining.pop(0)
        slot += 1
    prp2 = pages[0] if length - first <= page else list_at
    try:
        segs = prp_segments(read, step_budget(10_000), prp1, prp2, length, page)
    except PrpError:
        raise AssertionError("a well-formed PRP list was refused") from None
    assert sum(s.length for s in segs) == length
    assert segs[0].addr == prp1
    for s in segs[1:]:
        assert s.addr % page == 0 and s.length <= page
    assert [s.addr for s in segs[1:]] == pages[: len(segs) - 1]


@PROFILE
@given(
    st.lists(st.integers(1, 0x400000), max_size=12),
    st.integers(0, 1 << 24),
    st.one_of(st.none(), st.integers(0, 1 << 24)),
)
def test_prdt_segments_take_the_bytes_after_the_offset(
    sizes: list[int], offset: int, limit: int | None
) -> None:
    entries = [PrdEntry(0x1000 * (i + 1) << 24, n, False) for i, n in enumerate(sizes)]
    segs = prdt_segments(entries, offset, limit)
    after = max(0, sum(sizes) - offset)
    assert sum(s.length for s in segs) == (after if limit is None else min(after, limit))
    assert all(s.length > 0 for s in segs)


@PROFILE
@given(
    st.sampled_from([1, 2, 4, 8, 16]),
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 64), st.integers(0, 7), st.integers(0, 20)),
        min_size=16,
        max_size=16,
    ),
    st.integers(0, 20),
)
def test_virtqueue_pops_always_end_and_chains_stay_within_the_table(
    num: int, descs: list[tuple[int, int, int, int]], head: int
) -> None:
    ram = bytearray(0x4000)
    for i, (addr, length, flags, nxt) in enumerate(descs):
        ram[0x1000 + 16 * i : 0x1010 + 16 * i] = struct.pack(
            "<QIHH", 0x1000 + addr * 16, length * 16, flags, nxt
        )
    struct.pack_into("<HHH", ram, 0x2000, 0, 1, head)
    reads = [0]

    def read(addr: int, n: int) -> bytes | None:
        reads[0] += 1
        return bytes(ram[addr : addr + n]) if addr + n <= len(ram) else None

    vq = SplitVirtqueue(read, step_budget(BUDGET), num, 0x1000, 0x2000, 0x3000)
    try:
        chain = vq.pop()
    except (VirtqError, MachineHalt):
        chain = None
    if chain is not None:
        indirect = any(d.flags & 4 for d in chain.descs[:1])
        assert len(chain.descs) <= (16 if indirect else num) + 1
        assert len(chain.out) + len(chain.in_) == len(chain.descs)
    assert reads[0] <= 4 + max(num, 64) + 1  # avail idx, head, the chain (indirect: <= 64)


@PROFILE
@given(
    st.lists(
        st.tuples(st.integers(0, 0x1F), st.integers(0, 4), st.integers(0, 4)),
        min_size=32,
        max_size=32,
    ),
    st.integers(0, 31),
    st.integers(1, 0x400),
)
def test_sgl_walks_always_end_within_the_budget(
    descs: list[tuple[int, int, int]], start: int, length: int
) -> None:
    """Random descriptors (segments pointing back into the same table abound): a result, an
    NVMe status, or a modelled hang, never more reads than the budget allows."""
    ram = b"".join(struct.pack("<QI3xB", a * 16, n * 16, t << 4) for a, n, t in descs)
    mem = CountingMem(ram)
    try:
        pieces = sgl_segments(mem.read, step_budget(BUDGET), SglDesc(start * 16, 32, 2), length)
        assert sum(p.length for p in pieces) == length
    except SglError:
        pass
    except MachineHalt as h:
        assert h.kind == "hung"
    assert mem.reads <= BUDGET
