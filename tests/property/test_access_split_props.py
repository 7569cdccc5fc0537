"""Property: an N-byte access through an I/O region with any ``valid``/``impl`` sizes reads
and writes exactly the bytes a per-byte reference predicts, and its result is the OR of its
pieces' results.

The reference applies QEMU 7.2's rules independently of the kernel: pieces are cut by
``memory_access_size`` (valid max, 0 meaning 4, bounded by alignment unless impl.unaligned),
refused by ``memory_region_access_valid`` (unaligned / size outside valid, reading zeros),
and each accepted piece is widened or split to impl sizes by ``access_with_adjusted_size``:
a widened write stores the value zero-extended to impl.min bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmamon.memory import AddressSpace, Engine, MemoryRegion, MemTxAttrs, MemTxResult, MmioOps
from hypothesis import given
from hypothesis import strategies as st

BASE = 0x10000
SIZE = 0x40
OK = MemTxResult.OK
SIZES = (1, 2, 4, 8)


@dataclass(frozen=True)
class Rules:
    valid_min: int
    valid_max: int
    valid_unaligned: bool
    impl_min: int
    impl_max: int
    impl_unaligned: bool
    bad: frozenset[int]  # callback offsets at which the device answers MEMTX_ERROR


@st.composite
def rules(draw: st.DrawFn) -> Rules:
    vmin = draw(st.sampled_from(SIZES))
    vmax = draw(st.sampled_from([0] + [s for s in SIZES if s >= vmin]))
    imin = draw(st.sampled_from((0, *SIZES)))
    imax = draw(st.sampled_from([0] + [s for s in SIZES if s >= (imin or 1)]))
    bad = draw(st.frozensets(st.integers(0, SIZE - 1), max_size=4))
    return Rules(vmin, vmax, draw(st.booleans()), imin, imax, draw(st.booleans()), bad)


class Device:
    def __init__(self, r: Rules, image: bytes) -> None:
        self.rules = r
        self.mem = bytearray(image) + bytes(16)  # room for widened accesses at the end
        self.calls: list[tuple[int, int]] = []

    def read(self, off: int, size: int, attrs: MemTxAttrs) -> tuple[MemTxResult, int]:
        self.calls.append((off, size))
        res = MemTxResult.ERROR if off in self.rules.bad else OK
        return res, int.from_bytes(self.mem[off : off + size], "little")

    def write(self, off: int, value: int, size: int, attrs: MemTxAttrs) -> MemTxResult:
        self.calls.append((off, size))
        self.mem[off : off + size] = value.to_bytes(size, "little")
        return MemTxResult.ERROR if off in self.rules.bad else OK


def build(r: Rules, image: bytes) -> tuple[AddressSpace, Device]:
    dev = Device(r, image)
    ops = MmioOps(
        read_with_attrs=dev.read,
        write_with_attrs=dev.write,
        valid_min=r.valid_min,
        valid_max=r.valid_max,
        valid_unaligned=r.valid_unaligned,
        impl_min=r.impl_min,
        impl_max=r.impl_max,
        impl_unaligned=r.impl_unaligned,
    )
    root = MemoryRegion.container("system")
    root.add_subregion(BASE, MemoryRegion.io_region("dev", SIZE, ops))
    return AddressSpace("memory", root, Engine()), dev


def pieces(r: Rules, off: int, n: int) -> list[tuple[int, int]]:
    """QEMU memory_access_size, applied until the access is consumed."""
    out = []
    while n:
        amax = r.valid_max or 4
        align = off & -off
        if not r.impl_unaligned and align and align < amax:
            amax = align
        size = 1 << (min(n, amax).bit_length() - 1)
        out.append((off, size))
        off, n = off + size, n - size
    return out


def accepted(r: Rules, off: int, size: int) -> bool:
    """QEMU memory_region_access_valid."""
    if not r.valid_unaligned and off & (size - 1):
        return False
    return not r.valid_max or r.valid_min <= size <= r.valid_max


def calls(r: Rules, off: int, size: int) -> list[tuple[int, int]]:
    """QEMU access_with_adjusted_size: the callbacks one accepted piece makes."""
    width = max(min(size, r.impl_max or 4), r.impl_min or 1)
    return [(off + i, width) for i in range(0, size, width)]


@given(rules(), st.binary(min_size=SIZE, max_size=SIZE), st.data())
def test_a_read_returns_the_reference_bytes_and_ors_the_piece_results(
    r: Rules, image: bytes, data: st.DataObject
) -> None:
    space, dev = build(r, image)
    off = data.draw(st.integers(0, SIZE - 1))
    n = data.draw(st.integers(1, min(16, SIZE - off)))
    want = bytearray()
    want_calls: list[tuple[int, int]] = []
    result = OK
    for p_off, p_size in pieces(r, off, n):
        if accepted(r, p_off, p_size):
            want += image[p_off : p_off + p_size]
            for c_off, width in calls(r, p_off, p_size):
                want_calls.append((c_off, width))
                if c_off in r.bad:
                    result |= MemTxResult.ERROR
        else:
            want += bytes(p_size)
            result |= MemTxResult.DECODE_ERROR
    assert space.read(BASE + off, n) == (result, bytes(want))
    assert dev.calls == want_calls
    if n in SIZES:
        assert space.load(BASE + off, n) == (result, int.from_bytes(want, "little"))


@given(rules(), st.binary(min_size=SIZE, max_size=SIZE), st.data())
def test_a_write_stores_the_reference_bytes_and_ors_the_piece_results(
    r: Rules, image: bytes, data: st.DataObject
) -> None:
    space, dev = build(r, image)
    off = data.draw(st.integers(0, SIZE - 1))
    n = data.draw(st.integers(1, min(16, SIZE - off)))
    payload = data.draw(st.binary(min_size=n, max_size=n))
    want = bytearray(image) + bytes(16)
    want_calls: list[tuple[int, int]] = []
    result = OK
    for p_off, p_size in pieces(r, off, n):
        if not accepted(r, p_off, p_size):
            result |= MemTxResult.DECODE_ERROR
            continue
        value = payload[p_off - off : p_off - off + p_size]
        for c_off, width in calls(r, p_off, p_size):
            want_calls.append((c_off, width))
            chunk = value[c_off - p_off : c_off - p_off + width]
            want[c_off : c_off + width] = chunk.ljust(width, b"\0")
            if c_off in r.bad:
                result |= MemTxResult.ERROR
    if n in SIZES and data.draw(st.booleans()):
        got = space.store(BASE + off, n, int.from_bytes(payload, "little"))
    else:
        got = space.write(BASE + off, payload)
    assert got == result
    assert dev.mem == want
    assert dev.calls == want_calls


@given(rules(), st.data())
def test_with_permissive_valid_sizes_every_access_reads_back_the_device_bytes(
    r: Rules, data: st.DataObject
) -> None:
    r = Rules(1, 8, True, r.impl_min, r.impl_max, r.impl_unaligned, frozenset())
    image = bytes(range(SIZE))
    space, _ = build(r, image)
    off = data.draw(st.integers(0, SIZE - 1))
    n = data.draw(st.integers(1, min(16, SIZE - off)))
    assert space.read(BASE + off, n) == (OK, image[off : off + n])
