"""NVMe Physical Region Page (PRP) lists: PRP1, PRP2, and list pages that chain.

A command's data is described by PRP1 (any offset inside a page) and PRP2: nothing when
PRP1's page holds it all, a second page when two pages do, otherwise the address of a PRP
list, a page of 8-byte page pointers whose last entry chains to the next list page while
more than one page remains. :func:`prp_segments` follows QEMU's ``nvme_map_prp``: the
same reads (one per list page), the same checks and the same status codes.
"""

from __future__ import annotations

import struct

from dmamon.devices.common.budget import Tick
from dmamon.devices.common.reader import Reader, Segment

__all__ = [
    "NVME_DATA_TRAS_ERROR",
    "NVME_INVALID_FIELD",
    "NVME_INVALID_PRP_OFFSET",
    "PrpError",
    "prp_segments",
]

NVME_INVALID_FIELD = 0x0002
NVME_DATA_TRAS_ERROR = 0x0004
NVME_INVALID_PRP_OFFSET = 0x0013
_NAMES = {
    NVME_INVALID_FIELD: "INVALID_FIELD",
    NVME_DATA_TRAS_ERROR: "DATA_TRAS_ERROR",
    NVME_INVALID_PRP_OFFSET: "INVALID_PRP_OFFSET",
}


class PrpError(Exception):
    """The PRPs describe no valid transfer; ``status`` is the NVMe status code to complete with.

    Args:
        status: ``NVME_INVALID_FIELD`` (PRP2 missing), ``NVME_INVALID_PRP_OFFSET`` (a list
            entry or PRP2 not page aligned) or ``NVME_DATA_TRAS_ERROR`` (a list read failed).
        addr: The offending PRP or list address.
    """

    def __init__(self, status: int, addr: int) -> None:
        super().__init__(f"{_NAMES[status]} (status {status:#x}) at PRP {addr:#x}")
        self.status = status
        self.addr = addr


def _read_list(read: Reader, addr: int, count: int) -> list[int]:
    data = read(addr, 8 * count)
    if data is None or len(data) != 8 * count:
        raise PrpError(NVME_DATA_TRAS_ERROR, addr)
    return list(struct.unpack(f"<{count}Q", data))


def prp_segments(
    read: Reader,
    tick: Tick,
    prp1: int,
    prp2: int,
    length: int,
    page_size: int = 4096,
    *,
    what: str = "PRP list walk",
) -> list[Segment]:
    """The pieces of guest memory a PRP pair describes, in order.

    Args:
        read: DMA-capable reader (list pages are read through it).
        tick: Step budget; one unit per page mapped.
        prp1: PRP entry 1 (may have an offset into its page).
        prp2: PRP entry 2 (a page, a list pointer, or unused).
        length: Transfer length in bytes (the device checks MDTS first).
        page_size: The controller's memory page size (CC.MPS), a power of two.
        what: Label for the watchdog message.

    Returns:
        Segments covering ``length`` bytes, the first one from PRP1.

    Raises:
        PrpError: an invalid PRP2, a misaligned entry, or a failed list read.
        MachineHalt: the step budget ran out.
    """
    mask = page_size - 1
    first = min(length, page_size - (prp1 & mask))
    tick(1, what)
    out = [Segment(prp1, first)] if first else []
    left = length - first
    if not left:
        return out
    if not prp2:
        raise PrpError(NVME_INVALID_FIELD, prp2)
    if left <= page_size:
        if prp2 & mask:
            raise PrpError(NVME_INVALID_PRP_OFFSET, prp2)
        tick(1, what)
        return [*out, Segment(prp2, left)]
    return out + _walk_list(read, tick, prp2, left, page_size, what)


def _walk_list(
    read: Reader, tick: Tick, prp2: int, left: int, page_size: int, what: str
) -> list[Segment]:
    """The pages of a PRP list at ``prp2`` for the ``left`` bytes after PRP1's part."""
    mask = page_size - 1
    if prp2 & 7:  # a list pointer is qword aligned (QEMU would read stack garbage here)
        raise PrpError(NVME_INVALID_PRP_OFFSET, prp2)
    nents = (page_size - (prp2 & mask)) >> 3
    entries = _read_list(read, prp2, min(nents, -(-left // page_size)))
    out: list[Segment] = []
    i = 0
    while left:
        ent = entries[i]
        if i == nents - 1 and left > page_size:
            # The last entry of a list page points at the next list page.
            if ent & mask:
                raise PrpError(NVME_INVALID_PRP_OFFSET, ent)
            nents = min(-(-left // page_size), page_size >> 3)
            entries = _read_list(read, ent, nents)
            i = 0
            ent = entries[0]
        if ent & mask:
            raise PrpError(NVME_INVALID_PRP_OFFSET, ent)
        tick(1, what)
        chunk = min(left, page_size)
        out.append(Segment(ent, chunk))
        left -= chunk
        i += 1
    return out
