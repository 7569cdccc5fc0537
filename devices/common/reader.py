"""How walkers touch guest memory: only through a DMA-capable reader (or writer) callback.

A device passes :func:`dma_reader` of its :class:`~dmamon.memory.DmaPort`, so every
descriptor fetch goes through the IOMMU and the bus as the device's own DMA would, faults
and traces included. Tests pass a closure over a ``bytearray``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dmamon.memory import DmaPort

__all__ = ["Reader", "Segment", "WalkFault", "Writer", "dma_reader", "dma_writer", "read_exact"]

Reader = Callable[[int, int], bytes | None]
"""``read(addr, length)``: the bytes at bus address ``addr``, or None when the DMA failed."""

Writer = Callable[[int, bytes], bool]
"""``write(addr, data)``: True when the DMA succeeded."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of a scatter-gather list.

    Attributes:
        addr: Bus address.
        length: Bytes.
    """

    addr: int
    length: int


class WalkFault(Exception):
    """A walker's DMA read failed (unassigned memory, an IOMMU fault).

    Args:
        what: What was being read (``"PRP list"``).
        addr: Bus address of the read.
        length: Its size in bytes.
    """

    def __init__(self, what: str, addr: int, length: int) -> None:
        super().__init__(f"{what}: DMA read of {length} bytes at {addr:#x} failed")
        self.what = what
        self.addr = addr
        self.length = length


def dma_reader(port: DmaPort) -> Reader:
    """A reader over a device's DMA port: None when any piece of the read failed."""

    def read(addr: int, length: int) -> bytes | None:
        res = port.read(addr, length)
        return res.data if res.ok else None

    return read


def dma_writer(port: DmaPort) -> Writer:
    """A writer over a device's DMA port: False when any piece of the write failed."""

    def write(addr: int, data: bytes) -> bool:
        return port.write(addr, data).ok

    return write


def read_exact(read: Reader, addr: int, length: int, what: str) -> bytes:
    """``read(addr, length)``, raising :class:`WalkFault` when it fails.

    Raises:
        WalkFault: the DMA failed.
    """
    data = read(addr, length)
    if data is None or len(data) != length:
        raise WalkFault(what, addr, length)
    return data
