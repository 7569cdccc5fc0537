"""Flattening a region tree into sorted, non-overlapping ranges (QEMU ``FlatView``).

The rendering follows QEMU's ``render_memory_region``: subregions are rendered in
priority order (highest first, newest first among equals) and only fill what is still
free; a region with its own contents (RAM, ROM, I/O, IOMMU) then fills the gaps its
subregions left; a container fills nothing, so lower-priority siblings show through.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from dmamon.memory.region import MemoryRegion, RegionKind

__all__ = ["FlatRange", "FlatView"]


@dataclass(frozen=True, slots=True)
class FlatRange:
    """``[start, end)`` of the address space is served by ``region`` from ``offset_in_region``.

    Attributes:
        start: first address (inclusive).
        end: last address + 1.
        region: the terminal region (RAM, ROM, I/O or IOMMU).
        offset_in_region: region offset that ``start`` maps to.
        priority: priority of the subregion that put it there (for ``info mtree -f``).
        readonly: writes are dropped (ROM).
    """

    start: int
    end: int
    region: MemoryRegion
    offset_in_region: int
    priority: int
    readonly: bool


class FlatView:
    """An immutable rendering of one root region."""

    __slots__ = ("_starts", "ranges", "root")

    def __init__(self, root: MemoryRegion | None) -> None:
        self.root = root
        out: list[FlatRange] = []
        if root is not None:
            _render(root, 0, 0, root.size, root.priority, out)
        self.ranges = _simplify(out)
        self._starts = [r.start for r in self.ranges]

    def lookup(self, addr: int) -> FlatRange | None:
        """The range containing ``addr``, or None where nothing is mapped."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0:
            r = self.ranges[i]
            if addr < r.end:
                return r
        return None

    def next_start_after(self, addr: int) -> int | None:
        """Start of the first range beginning above ``addr`` (end of an unassigned hole)."""
        i = bisect.bisect_right(self._starts, addr)
        return self._starts[i] if i < len(self._starts) else None


def _insert_gaps(
    out: list[FlatRange], lo: int, hi: int, mr: MemoryRegion, base: int, prio: int
) -> None:
    """Add ``mr`` over ``[lo, hi)`` wherever ``out`` has nothing yet (out stays sorted)."""
    starts = [r.start for r in out]
    i = bisect.bisect_right(starts, lo) - 1
    if i < 0:
        i = 0
    pos = lo
    pieces: list[FlatRange] = []
    while pos < hi:
        # skip ranges that end before pos
        while i < len(out) and out[i].end <= pos:
            i += 1
        if i < len(out) and out[i].start <= pos:
            pos = out[i].end
            i += 1
            continue
        gap_end = hi if i >= len(out) else min(hi, out[i].start)
        if gap_end > pos:
            pieces.append(FlatRange(pos, gap_end, mr, pos - base, prio, mr.kind is RegionKind.ROM))
        pos = gap_end
    for p in pieces:
        bisect.insort(out, p, key=lambda r: r.start)


def _render(
    mr: MemoryRegion, base: int, clip_lo: int, clip_hi: int, prio: int, out: list[FlatRange]
) -> None:
    if not mr.enabled:
        return
    lo = max(base, clip_lo)
    hi = min(base + mr.size, clip_hi)
    if lo >= hi:
        return
    if mr.kind is RegionKind.ALIAS:
        assert mr.alias is not None
        _render(mr.alias, base - mr.alias_offset, lo, hi, prio, out)
        return
    for sub in mr.subregions:
        _render(sub, base + sub.addr, lo, hi, sub.priority, out)
    if mr.kind is not RegionKind.CONTAINER:
        _insert_gaps(out, lo, hi, mr, base, mr.priority)


def _simplify(ranges: list[FlatRange]) -> list[FlatRange]:
    """Merge neighbours that continue the same region (QEMU ``flatview_simplify``)."""
    merged: list[FlatRange] = []
    for r in ranges:
        if merged:
            p = merged[-1]
            if (
                p.region is r.region
                and p.end == r.start
                and p.offset_in_region + (p.end - p.start) == r.offset_in_region
                and p.readonly == r.readonly
                and p.priority == r.priority
            ):
                merged[-1] = FlatRange(
                    p.start, r.end, p.region, p.offset_in_region, p.priority, p.readonly
                )
                continue
        merged.append(r)
    return merged
