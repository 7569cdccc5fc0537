"""Map backends behind AddressSpace.map/unmap (memory/mapping.py)."""

from __future__ import annotations

from dmamon.memory import (
    AddressSpace,
    BounceMap,
    DirectMap,
    Engine,
    MappedRange,
    MapRequest,
    MemoryRegion,
    MemTxResult,
)

OK = MemTxResult.OK


def space() -> AddressSpace:
    root = MemoryRegion.container("system")
    root.add_subregion(0, MemoryRegion.ram_region("ram", 0x10000))
    return AddressSpace("memory", root, Engine())


def test_the_default_chain_is_direct_then_bounce() -> None:
    s = space()
    assert [type(b) for b in s.map_backends] == [DirectMap, BounceMap]
    _, ram, _ = s.map(0x1000, 16, False)
    _, hole, _ = s.map(0x20000, 16, False)
    assert ram is not None and isinstance(ram.backend, DirectMap) and not ram.bounce
    assert hole is not None and isinstance(hole.backend, BounceMap) and hole.bounce


class CountingCache:
    """A stand-in for a mapping cache: serves everything from its own buffer."""

    def __init__(self) -> None:
        self.requests: list[MapRequest] = []
        self.released: list[int] = []

    def try_map(self, req: MapRequest) -> tuple[MemTxResult, MappedRange | None] | None:
        self.requests.append(req)
        if req.target_addr >= 0x8000:
            return None  # pass it on
        buf = memoryview(bytearray(req.length))
        return OK, MappedRange(
            req.addr, req.length, req.is_write, buf, False, req.attrs, None, self
        )

    def unmap(self, space: AddressSpace, m: MappedRange, access_len: int) -> MemTxResult:
        self.released.append(access_len)
        return OK


def test_a_backend_put_first_serves_or_passes_on_and_is_asked_again_at_unmap() -> None:
    s = space()
    cache = CountingCache()
    s.map_backends.insert(0, cache)
    _, mine, _ = s.map(0x100, 8, True)
    _, passed, _ = s.map(0x9000, 8, True)
    assert mine is not None and mine.backend is cache
    assert passed is not None and isinstance(passed.backend, DirectMap)
    assert [(r.addr, r.target is s, r.target_addr) for r in cache.requests] == [
        (0x100, True, 0x100),
        (0x9000, True, 0x9000),
    ]
    assert s.unmap(mine, 4) == OK and cache.released == [4]
    assert s.unmap(passed, 8) == OK and cache.released == [4]


def test_each_address_space_has_its_own_bounce_buffer() -> None:
    a, b = space(), space()
    _, ma, _ = a.map(0x20000, 4, False)
    _, mb, _ = b.map(0x20000, 4, False)
    assert ma is not None and mb is not None
    assert a.map(0x20000, 4, False) == (MemTxResult.ERROR, None, None)
