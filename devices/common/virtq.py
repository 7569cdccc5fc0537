"""virtio split virtqueues: the descriptor table, the avail ring and the used ring.

Descriptors are 16 bytes (``addr`` u64, ``len`` u32, ``flags`` u16, ``next`` u16) with
flags NEXT (1), WRITE (2, device-writable) and INDIRECT (4, ``addr``/``len`` name a table
of descriptors). The avail ring is ``flags`` u16, ``idx`` u16, ``ring[num]`` u16; the used
ring is ``flags`` u16, ``idx`` u16, ``ring[num]`` of (``id`` u32, ``len`` u32).

:class:`SplitVirtqueue` pops chains as QEMU's ``virtqueue_split_pop`` does, with its checks
and its error texts (raised as :class:`VirtqError`; QEMU's ``virtio_error`` then marks the
device broken): above all a chain longer than the table is a "Looped descriptor", so a
guest-built cycle of ``next`` pointers cannot make the walk endless.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dmamon.devices.common.budget import Tick
from dmamon.devices.common.reader import Reader, Segment, Writer

__all__ = [
    "VIRTQ_DESC_SIZE",
    "VRING_DESC_F_INDIRECT",
    "VRING_DESC_F_NEXT",
    "VRING_DESC_F_WRITE",
    "DescChain",
    "SplitVirtqueue",
    "VirtqDesc",
    "VirtqError",
]

VIRTQ_DESC_SIZE = 16
VRING_DESC_F_NEXT = 1
VRING_DESC_F_WRITE = 2
VRING_DESC_F_INDIRECT = 4
_DESC = struct.Struct("<QIHH")


class VirtqError(Exception):
    """The guest broke the virtqueue rules; the message is QEMU's ``virtio_error`` text."""


@dataclass(frozen=True, slots=True)
class VirtqDesc:
    """One descriptor.

    Attributes:
        addr: Buffer bus address.
        len: Buffer length.
        flags: NEXT | WRITE | INDIRECT.
        next: Index of the next descriptor when NEXT is set.
    """

    addr: int
    len: int
    flags: int
    next: int


@dataclass(frozen=True, slots=True)
class DescChain:
    """A popped chain: what the device reads (``out``) and writes (``in_``).

    Attributes:
        head: The head index (what goes into the used ring).
        out: Device-readable buffers, in order.
        in_: Device-writable buffers, in order.
        descs: Every descriptor visited, indirect table entries included.
    """

    head: int
    out: tuple[Segment, ...]
    in_: tuple[Segment, ...]
    descs: tuple[VirtqDesc, ...]


class SplitVirtqueue:
    """The device side of one split virtqueue.

    Args:
        read: DMA-capable reader.
        tick: Step budget; one unit per descriptor read.
        num: Queue size (entries in each ring).
        desc: Bus address of the descriptor table.
        avail: Bus address of the avail ring.
        used: Bus address of the used ring.
        write: DMA-capable writer, needed by :meth:`push`.
        what: Label for the watchdog message.

    Attributes:
        last_avail_idx: The next avail ring slot to pop (free-running u16).
        used_idx: The next used ring slot to fill (free-running u16).
        inuse: Chains popped and not pushed back.
    """

    __slots__ = (
        "read",
        "tick",
        "num",
        "desc",
        "avail",
        "used",
        "write",
        "what",
        "last_avail_idx",
        "used_idx",
        "inuse",
    )

    def __init__(
        self,
        read: Reader,
        tick: Tick,
        num: int,
        desc: int,
        avail: int,
        used: int,
        write: Writer | None = None,
        *,
        what: str = "virtqueue walk",
    ) -> None:
        if not 1 <= num <= 32768:
            raise ValueError(f"virtqueue size must be 1..32768, got {num}")
        self.read, self.tick, self.write, self.what = read, tick, write, what
        self.num, self.desc, self.avail, self.used = num, desc, avail, used
        self.last_avail_idx = 0
        self.used_idx = 0
        self.inuse = 0

    def _u16(self, addr: int) -> int:
        data = self.read(addr, 2)
        if data is None or len(data) != 2:
            raise VirtqError(f"Cannot read virtqueue ring at {addr:#x}")
        return int.from_bytes(data, "little")

    def _desc(self, table: int, i: int) -> VirtqDesc:
        self.tick(1, self.what)
        addr = table + VIRTQ_DESC_SIZE * i
        data = self.read(addr, VIRTQ_DESC_SIZE)
        if data is None or len(data) != VIRTQ_DESC_SIZE:
            raise VirtqError(f"Cannot map descriptor at {addr:#x}")
        return VirtqDesc(*_DESC.unpack(data))

    def pending(self) -> int:
        """Chains the driver made available and the device has not popped.

        Raises:
            VirtqError: the avail index moved more than ``num`` ahead (QEMU's
                ``virtqueue_num_heads`` check).
        """
        idx = self._u16(self.avail + 2)
        heads = (idx - self.last_avail_idx) & 0xFFFF
        if heads > self.num:
            raise VirtqError(f"Guest moved used index from {self.last_avail_idx} to {idx}")
        return heads

    def pop(self) -> DescChain | None:
        """The next available chain, or None when the avail ring is empty.

        Raises:
            VirtqError: a rule broken (head out of range, looped chain, ...).
            MachineHalt: the step budget ran out.
        """
        if not self.pending():
            return None
        if self.inuse >= self.num:
            raise VirtqError("Virtqueue size exceeded")
        slot = self.avail + 4 + 2 * (self.last_avail_idx % self.num)
        head = self._u16(slot)
        self.last_avail_idx = (self.last_avail_idx + 1) & 0xFFFF
        if head >= self.num:
            raise VirtqError(f"Guest says index {head} is available")
        chain = self.chain(head)
        self.inuse += 1
        return chain

    def chain(self, head: int) -> DescChain:
        """Walk the chain starting at descriptor ``head`` (following one indirect table).

        Raises:
            VirtqError: QEMU's errors: ``Invalid size for indirect buffer table``,
                ``Incorrect order for descriptors``, ``virtio: zero sized buffers are not
                allowed``, ``Looped descriptor``, ``Desc next is N``.
        """
        table, limit, i = self.desc, self.num, head
        d = self._desc(table, i)
        if d.flags & VRING_DESC_F_INDIRECT:
            if not d.len or d.len % VIRTQ_DESC_SIZE:
                raise VirtqError("Invalid size for indirect buffer table")
            table, limit, i = d.addr, d.len // VIRTQ_DESC_SIZE, 0
            d = self._desc(table, 0)
        out: list[Segment] = []
        in_: list[Segment] = []
        descs: list[VirtqDesc] = []
        while True:
            if table != self.desc and d.flags & VRING_DESC_F_INDIRECT:
                raise VirtqError("Indirect descriptor in an indirect table")
            if not d.len:
                raise VirtqError("virtio: zero sized buffers are not allowed")
            if d.flags & VRING_DESC_F_WRITE:
                in_.append(Segment(d.addr, d.len))
            elif in_:
                raise VirtqError("Incorrect order for descriptors")
            else:
                out.append(Segment(d.addr, d.len))
            descs.append(d)
            if len(descs) > limit:  # more descriptors than the table holds: a cycle
                raise VirtqError("Looped descriptor")
            if not d.flags & VRING_DESC_F_NEXT:
                return DescChain(head, tuple(out), tuple(in_), tuple(descs))
            i = d.next
            if i >= limit:
                raise VirtqError(f"Desc next is {i}")
            d = self._desc(table, i)

    def push(self, head: int, length: int) -> None:
        """Return a chain to the driver: fill the next used element and publish the index.

        Raises:
            VirtqError: no writer was given, or a used ring write failed.
        """
        if self.write is None:
            raise VirtqError("virtqueue has no writer for the used ring")
        elem = self.used + 4 + 8 * (self.used_idx % self.num)
        self.used_idx = (self.used_idx + 1) & 0xFFFF
        ok = self.write(elem, struct.pack("<II", head, length & 0xFFFF_FFFF))
        ok = self.write(self.used + 2, self.used_idx.to_bytes(2, "little")) and ok
        if not ok:
            raise VirtqError(f"Cannot write used ring at {self.used:#x}")
        self.inuse = max(0, self.inuse - 1)
