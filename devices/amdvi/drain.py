"""Invalidations racing in-flight DMA (scenario d): which live mappings still use a
translation an invalidation command removed, until the next COMPLETION_WAIT.

QEMU's COMPLETION_WAIT signals at once, although emulated devices may hold host pointers
they obtained through ``dma_memory_map`` before the invalidation (block AIO, USB packets):
the guest then reuses memory the device still writes. Hardware drains such transactions
before acknowledging the wait; fix ``iommu-inval-drain`` makes the model do the same.

Mappings are marked stale (``DmaMapping.stale``, which the DMA checker reports on use)
only when the COMPLETION_WAIT that follows the invalidation signals, since that is when
the guest is told the translation is gone: with the drain on, a signalling wait finds no
such mapping left, so no stale translation is ever used.
"""

from __future__ import annotations

from dmamon.memory import DmaMapping, DmaTracker

__all__ = ["InflightInvalidations"]


class InflightInvalidations:
    """Live DMA mappings whose translation was invalidated since the last COMPLETION_WAIT.

    Args:
        tracker: the machine's DMA mapping tracker.
    """

    def __init__(self, tracker: DmaTracker) -> None:
        self.tracker = tracker
        self.entries: dict[int, tuple[int, int | None]] = {}  # mapping id -> (cmd#, domain)

    def note(self, lo: int, hi: int, devices: set[str] | None, seq: int, domid: int | None) -> int:
        """An invalidation (command ``seq``) removed translations of IOVAs ``[lo, hi)``.

        Args:
            lo: first IOVA.
            hi: end of the range (exclusive).
            devices: names of the functions it concerns (None: every function).
            seq: the command's number.
            domid: its DomainID, when it names one.

        Returns:
            How many live mappings it concerns.
        """
        n = 0
        for m in self.tracker.mappings.values():
            if not m.live or m.translation is None:
                continue
            if devices is not None and m.device not in devices:
                continue
            if m.addr < hi and lo < m.addr + m.length:
                self.entries.setdefault(m.id, (seq, domid))
                n += 1
        return n

    def blocking(self) -> list[DmaMapping]:
        """The noted mappings that are still live (a drained wait waits for these)."""
        mappings = self.tracker.mappings
        out = []
        for mid in self.entries:
            m = mappings.get(mid)
            if m is not None and m.live:
                out.append(m)
        return out

    def domains(self) -> list[int]:
        """DomainIDs of the invalidations noted."""
        return sorted({d for _, d in self.entries.values() if d is not None})

    def complete(self) -> list[DmaMapping]:
        """A COMPLETION_WAIT signals: the mappings still live become stale, and the list
        starts over.

        Returns:
            The mappings made stale.
        """
        stale = self.blocking()
        for m in stale:
            m.stale = True
        if stale:
            self.tracker.generation += 1
        self.entries.clear()
        return stale

    def release(self, m: DmaMapping) -> bool:
        """A mapping was released; True when it was one of the noted ones."""
        return self.entries.pop(m.id, None) is not None

    def pending(self) -> list[tuple[DmaMapping, int, int | None]]:
        """``(mapping, cmd#, domain)`` for every noted mapping still live."""
        mappings = self.tracker.mappings
        out = []
        for mid, (seq, dom) in self.entries.items():
            m = mappings.get(mid)
            if m is not None and m.live:
                out.append((m, seq, dom))
        return out

    def clear(self) -> None:
        """Forget everything (reset)."""
        self.entries.clear()
