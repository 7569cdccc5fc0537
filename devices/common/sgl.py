"""NVMe Scatter Gather Lists (SGL): Data Block, Bit Bucket, Segment and Last Segment
descriptors.

An SGL descriptor is 16 bytes: ``addr`` u64, ``len`` u32, three reserved bytes and an
identifier byte (type in bits 7:4). A command's SGL1 is either a Data Block (the whole
transfer) or a (Last) Segment descriptor pointing at a segment of descriptors in guest
memory; a segment's last descriptor may chain to the next segment, except in a Last
Segment. :func:`sgl_segments` follows QEMU's ``nvme_map_sgl``: the same checks and status
codes, segments read in chunks of 256 descriptors. A segment that chains back to itself
forever is a modelled hang (the step budget counts every descriptor).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dmamon.devices.common.budget import Tick
from dmamon.devices.common.prp import NVME_DATA_TRAS_ERROR
from dmamon.devices.common.reader import Reader

__all__ = [
    "NVME_DATA_SGL_LEN_INVALID",
    "NVME_INVALID_SGL_SEG_DESCR",
    "NVME_SGL_DESCR_TYPE_INVALID",
    "SGL_BIT_BUCKET",
    "SGL_DATA_BLOCK",
    "SGL_LAST_SEGMENT",
    "SGL_SEGMENT",
    "SglDesc",
    "SglError",
    "SglPiece",
    "sgl_segments",
]

SGL_DATA_BLOCK, SGL_BIT_BUCKET, SGL_SEGMENT, SGL_LAST_SEGMENT = 0, 1, 2, 3
NVME_INVALID_SGL_SEG_DESCR = 0x000D
NVME_DATA_SGL_LEN_INVALID = 0x000F
NVME_SGL_DESCR_TYPE_INVALID = 0x0011
_NAMES = {
    NVME_INVALID_SGL_SEG_DESCR: "INVALID_SGL_SEG_DESCR",
    NVME_DATA_SGL_LEN_INVALID: "DATA_SGL_LEN_INVALID",
    NVME_SGL_DESCR_TYPE_INVALID: "SGL_DESCR_TYPE_INVALID",
}
_DESC = struct.Struct("<QI3xB")
_CHUNK = 256  # descriptors read per DMA (QEMU's SEG_CHUNK_SIZE)


class SglError(Exception):
    """The SGL describes no valid transfer; ``status`` is the NVMe status to complete with.

    Args:
        status: One of the ``NVME_*`` codes (a failed read: ``NVME_DATA_TRAS_ERROR``).
        addr: The offending descriptor's or segment's address.
    """

    def __init__(self, status: int, addr: int) -> None:
        name = _NAMES.get(status, "DATA_TRAS_ERROR")  # the one other status: a failed read
        super().__init__(f"{name} (status {status:#x}) at SGL {addr:#x}")
        self.status = status
        self.addr = addr


@dataclass(frozen=True, slots=True)
class SglDesc:
    """One SGL descriptor.

    Attributes:
        addr: Address (a data buffer or the next segment).
        length: Bytes (of data, or of the next segment).
        type: Descriptor type, identifier bits 7:4.
    """

    addr: int
    length: int
    type: int

    @classmethod
    def unpack(cls, raw: bytes) -> SglDesc:
        """Decode 16 little-endian bytes."""
        addr, length, ident = _DESC.unpack(raw)
        return cls(addr, length, ident >> 4)


@dataclass(frozen=True, slots=True)
class SglPiece:
    """A piece of the transfer: a buffer, or bytes a Bit Bucket discards.

    Attributes:
        addr: Bus address (meaningless for a bit bucket).
        length: Bytes.
        bit_bucket: The bytes are skipped, not transferred.
    """

    addr: int
    length: int
    bit_bucket: bool = False


def _read_descs(read: Reader, tick: Tick, addr: int, count: int, what: str) -> list[SglDesc]:
    data = read(addr, 16 * count)
    if data is None or len(data) != 16 * count:
        raise SglError(NVME_DATA_TRAS_ERROR, addr)
    tick(count, what)
    return [SglDesc.unpack(data[i : i + 16]) for i in range(0, len(data), 16)]


def _map_data(descs: list[SglDesc], left: int, out: list[SglPiece], excess_ok: bool) -> int:
    """Append Data Block/Bit Bucket pieces; returns the bytes still wanted."""
    for d in descs:
        if d.type not in (SGL_DATA_BLOCK, SGL_BIT_BUCKET):
            raise SglError(NVME_SGL_DESCR_TYPE_INVALID, d.addr)
        if not d.length:
            continue
        if not left:
            if excess_ok:
                break
            raise SglError(NVME_DATA_SGL_LEN_INVALID, d.addr)
        n = min(left, d.length)
        out.append(SglPiece(d.addr, n, d.type == SGL_BIT_BUCKET))
        left -= n
    return left


def sgl_segments(
    read: Reader,
    tick: Tick,
    sgl1: SglDesc,
    length: int,
    *,
    excess_ok: bool = False,
    what: str = "SGL walk",
) -> list[SglPiece]:
    """The pieces of guest memory an SGL describes, in order.

    Args:
        read: DMA-capable reader (segments are read through it).
        tick: Step budget; one unit per descriptor.
        sgl1: The command's SGL1 descriptor (from the DPTR field).
        length: Transfer length in bytes.
        excess_ok: The controller reports SGL excess length support (Identify SGLS
            bit 18): descriptors beyond ``length`` are allowed.
        what: Label for the watchdog message.

    Raises:
        SglError: a descriptor of the wrong type, a bad segment, an SGL shorter (or,
            without ``excess_ok``, longer) than ``length``, or a failed segment read
            (status ``NVME_DATA_TRAS_ERROR``).
        MachineHalt: the step budget ran out (segments that chain forever).
    """
    out: list[SglPiece] = []
    left = length
    seg = sgl1
    if seg.type == SGL_DATA_BLOCK:
        tick(1, what)
        left = _map_data([seg], left, out, excess_ok)
    else:
        while True:
            if seg.type not in (SGL_SEGMENT, SGL_LAST_SEGMENT):
                raise SglError(NVME_INVALID_SGL_SEG_DESCR, seg.addr)
            if not seg.length or seg.length & 0xF:
                raise SglError(NVME_INVALID_SGL_SEG_DESCR, seg.addr)
            count, addr = seg.length // 16, seg.addr
            while count > _CHUNK:
                left = _map_data(_read_descs(read, tick, addr, _CHUNK, what), left, out, excess_ok)
                count, addr = count - _CHUNK, addr + 16 * _CHUNK
            descs = _read_descs(read, tick, addr, count, what)
            if descs[-1].type in (SGL_DATA_BLOCK, SGL_BIT_BUCKET):
                left = _map_data(descs, left, out, excess_ok)
                break
            if seg.type == SGL_LAST_SEGMENT:
                raise SglError(NVME_INVALID_SGL_SEG_DESCR, seg.addr)
            left = _map_data(descs[:-1], left, out, excess_ok)
            seg = descs[-1]
    if left:
        raise SglError(NVME_DATA_SGL_LEN_INVALID, sgl1.addr)
    return out
