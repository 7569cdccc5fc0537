"""virtio split virtqueues (devices/common/virtq.py): chains, indirect tables, the used
ring, and QEMU's errors for guest-built loops."""

from __future__ import annotations

import struct

import pytest
from dmamon.devices.common import (
    VRING_DESC_F_INDIRECT,
    VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
    Segment,
    SplitVirtqueue,
    VirtqError,
    step_budget,
)

NEXT, WRITE, INDIRECT = VRING_DESC_F_NEXT, VRING_DESC_F_WRITE, VRING_DESC_F_INDIRECT
DESC, AVAIL, USED = 0x1000, 0x2000, 0x3000


class Mem:
    def __init__(self, size: int = 0x10000) -> None:
        self.ram = bytearray(size)

    def read(self, addr: int, length: int) -> bytes | None:
        if addr + length > len(self.ram):
            return None
        return bytes(self.ram[addr : addr + length])

    def write(self, addr: int, data: bytes) -> bool:
        if addr + len(data) > len(self.ram):
            return False
        self.ram[addr : addr + len(data)] = data
        return True

    def desc(self, i: int, addr: int, length: int, flags: int = 0, nxt: int = 0) -> None:
        at = DESC + 16 * i
        self.ram[at : at + 16] = struct.pack("<QIHH", addr, length, flags, nxt)

    def offer(self, *heads: int) -> None:
        idx = int.from_bytes(self.ram[AVAIL + 2 : AVAIL + 4], "little")
        for h in heads:
            slot = AVAIL + 4 + 2 * (idx % 8)
            self.ram[slot : slot + 2] = h.to_bytes(2, "little")
            idx += 1
        self.ram[AVAIL + 2 : AVAIL + 4] = (idx & 0xFFFF).to_bytes(2, "little")


def queue(mem: Mem, budget: int = 100) -> SplitVirtqueue:
    return SplitVirtqueue(mem.read, step_budget(budget), 8, DESC, AVAIL, USED, mem.write)


def test_pop_walks_a_chain_of_readable_then_writable_buffers() -> None:
    mem = Mem()
    mem.desc(2, 0x8000, 16, NEXT, 5)
    mem.desc(5, 0x9000, 512, NEXT | WRITE, 6)
    mem.desc(6, 0xA000, 1, WRITE)
    mem.offer(2)
    vq = queue(mem)
    assert vq.pending() == 1
    chain = vq.pop()
    assert chain is not None and chain.head == 2
    assert chain.out == (Segment(0x8000, 16),)
    assert chain.in_ == (Segment(0x9000, 512), Segment(0xA000, 1))
    assert vq.pop() is None and vq.inuse == 1


def test_push_fills_the_used_ring_and_publishes_the_index() -> None:
    mem = Mem()
    mem.desc(0, 0x8000, 16)
    mem.offer(0)
    vq = queue(mem)
    assert vq.pop() is not None
    vq.push(0, 0x33)
    assert struct.unpack_from("<HHII", mem.ram, USED) == (0, 1, 0, 0x33)
    assert vq.inuse == 0


def test_an_indirect_table_is_walked_in_place_of_the_head() -> None:
    mem = Mem()
    mem.desc(0, 0x4000, 32, INDIRECT)
    mem.ram[0x4000:0x4020] = struct.pack("<QIHHQIHH", 0x8000, 8, NEXT, 1, 0x9000, 4, WRITE, 0)
    mem.offer(0)
    chain = queue(mem).pop()
    assert chain is not None
    assert (chain.out, chain.in_) == ((Segment(0x8000, 8),), (Segment(0x9000, 4),))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda m: m.desc(0, 0x8000, 8, NEXT, 0), "Looped descriptor"),
        (lambda m: (m.desc(0, 0x8000, 8, NEXT, 1), m.desc(1, 0x9000, 8, NEXT, 0)), "Looped"),
        (lambda m: m.desc(0, 0x8000, 8, NEXT, 9), "Desc next is 9"),
        (lambda m: m.desc(0, 0x8000, 0), "virtio: zero sized buffers are not allowed"),
        (lambda m: m.desc(0, 0x4000, 24, INDIRECT), "Invalid size for indirect buffer table"),
        (
            lambda m: (m.desc(0, 0x8000, 8, WRITE | NEXT, 1), m.desc(1, 0x9000, 8)),
            "Incorrect order for descriptors",
        ),
    ],
)
def test_guest_mistakes_are_qemus_virtio_errors(build: object, message: str) -> None:
    mem = Mem()
    assert callable(build)
    build(mem)
    mem.offer(0)
    with pytest.raises(VirtqError, match=message):
        queue(mem).pop()


def test_a_bad_head_or_avail_index_is_refused() -> None:
    mem = Mem()
    mem.offer(8)
    with pytest.raises(VirtqError, match="Guest says index 8 is available"):
        queue(mem).pop()
    mem = Mem()
    mem.ram[AVAIL + 2 : AVAIL + 4] = (9).to_bytes(2, "little")
    with pytest.raises(VirtqError, match="Guest moved used index from 0 to 9"):
        queue(mem).pop()


def test_a_queue_size_outside_virtio_limits_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="1..32768"):
        SplitVirtqueue(Mem().read, step_budget(1), 0, DESC, AVAIL, USED)
