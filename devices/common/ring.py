"""Head/tail descriptor rings whose base, length, head and tail are device registers.

The e1000 family's rings (and many NICs'): the guest programs a base address (split in a
low and a high register), a length in bytes, and moves the tail to hand descriptors to the
device; the device consumes from the head and writes the head back. The registers are read
afresh on every step, because a descriptor's DMA may re-enter the device and move them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from dmamon.devices.common.budget import Tick

__all__ = ["HeadTailRing", "RegAccess", "RingState"]

U64 = (1 << 64) - 1


class RegAccess(Protocol):
    """Device-side register access (a `RegisterBank` has it)."""

    def peek(self, name: str) -> int:
        """A register's stored value."""
        ...

    def poke(self, name: str, value: int) -> None:
        """Store a register value from the device side."""
        ...


@dataclass(frozen=True, slots=True)
class RingState:
    """A ring's registers at one moment.

    Attributes:
        base: Bus address of descriptor 0.
        length: Ring length in bytes, as the guest programmed it.
        head: Index of the next descriptor the device consumes.
        tail: Index one past the last descriptor the guest handed over.
    """

    base: int
    length: int
    head: int
    tail: int


class HeadTailRing:
    """A ring described by five registers of a bank.

    Args:
        regs: The register bank (``peek``/``poke``).
        base_lo: Register holding bits 31:0 of the base address.
        base_hi: Register holding bits 63:32.
        length: Register holding the ring length in bytes.
        head: Head index register (written back by `advance`).
        tail: Tail index register.
        desc_size: Bytes per descriptor.
        head_bits: Width of the head register field the device writes.
    """

    __slots__ = ("regs", "names", "desc_size", "head_mask")

    def __init__(
        self,
        regs: RegAccess,
        base_lo: str,
        base_hi: str,
        length: str,
        head: str,
        tail: str,
        desc_size: int = 16,
        head_bits: int = 16,
    ) -> None:
        self.regs = regs
        self.names = (base_lo, base_hi, length, head, tail)
        self.desc_size = desc_size
        self.head_mask = (1 << head_bits) - 1

    def state(self) -> RingState:
        """The registers as they are now."""
        p = self.regs.peek
        lo, hi, length, head, tail = (p(n) for n in self.names)
        return RingState(((hi << 32) + lo) & U64, length, head, tail)

    def is_empty(self) -> bool:
        """Nothing to consume: head == tail, or a tail beyond the ring (e1000e counts that as
        empty too, so a bad tail cannot send the device past the ring)."""
        s = self.state()
        return s.head == s.tail or s.tail >= s.length // self.desc_size

    def head_addr(self) -> int:
        """Bus address of the descriptor at the head."""
        s = self.state()
        return (s.base + self.desc_size * s.head) & U64

    def advance(self, count: int = 1) -> None:
        """Move the head on, wrapping to 0 at the end of the ring."""
        s = self.state()
        head = s.head + count
        if head * self.desc_size >= s.length:
            head = 0
        self.regs.poke(self.names[3], head & self.head_mask)

    def free_count(self) -> int:
        """Descriptors the guest has handed over and the device has not consumed."""
        s = self.state()
        if s.head <= s.tail:
            return s.tail - s.head
        return s.length // self.desc_size + s.tail - s.head

    def walk(self, tick: Tick, what: str) -> Iterator[int]:
        """Yield the head descriptor's address until the ring is empty, advancing the head
        after the consumer is done with each one.

        Args:
            tick: The step budget (``Engine.tick``); called once per descriptor.
            what: Label for the watchdog message.

        Yields:
            Bus addresses of descriptors, in ring order.

        Raises:
            MachineHalt: The budget ran out (a guest that keeps the ring full forever).
        """
        while not self.is_empty():
            tick(1, what)
            yield self.head_addr()
            self.advance(1)
