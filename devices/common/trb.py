"""xHCI Transfer Request Block rings: cycle bits, Link TRBs, chained TDs.

A TRB is 16 bytes: ``parameter`` u64, ``status`` u32, ``control`` u32; the type is in
control bits 15:10, the cycle bit C is control bit 0. A TRB belongs to the consumer only
while C equals the ring's Consumer Cycle State (CCS). A Link TRB (type 6) sends the
dequeue pointer to the address in its parameter and, with Toggle Cycle (control bit 1),
flips CCS. :class:`TrbRing` follows QEMU's ``xhci_ring_fetch`` (with its Link TRB limit)
and ``xhci_ring_chain_length`` (Setup..Status bundled into one TD; the 2022 fix for
CVE-2020-14394 as switches).

Every TRB read is one tick of the step budget. A ring the guest built without an end (only
Link TRBs pointing at each other, or chained TRBs running off the end of RAM with the DMA
result ignored) therefore ends as a modelled hang whose report names the dequeue pointer,
the iteration count and the Link TRB addresses of the loop. Without a Link TRB limit, a
walk that comes back to a Link TRB with the same CCS and nothing counted in between can
never end: it is charged as endless at once (one lap, not a million reads).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dmamon.devices.common.budget import Tick
from dmamon.devices.common.reader import Reader, WalkFault
from dmamon.memory import MachineHalt

__all__ = [
    "MAX_TD_TRBS",
    "TRB_C",
    "TRB_CH",
    "TRB_IOC",
    "TRB_LINK",
    "TRB_LINK_LIMIT",
    "TRB_SETUP",
    "TRB_SIZE",
    "TRB_STATUS",
    "TRB_TC",
    "Trb",
    "TrbChain",
    "TrbRing",
]

TRB_SIZE = 16
TRB_C = 1 << 0  # cycle bit
TRB_TC = 1 << 1  # Toggle Cycle, on a Link TRB
TRB_CH = 1 << 4  # chain bit, on a transfer TRB
TRB_IOC = 1 << 5  # interrupt on completion
TRB_SETUP = 2
TRB_STATUS = 4
TRB_LINK = 6
TRB_LINK_LIMIT = 32  # QEMU: Link TRBs followed in one fetch before it gives up
MAX_TD_TRBS = TRB_LINK_LIMIT * 65536 // TRB_SIZE  # QEMU's 2022 bound on one TD walk
U64 = (1 << 64) - 1
_TRB = struct.Struct("<QII")
_SHOWN_LINKS = 8  # Link TRB addresses a hang report lists
_TRACKED_LINKS = 4096  # Link TRBs remembered per walk to find a loop
_FOREVER = 1 << 62  # the work of a walk that never ends, charged at once


@dataclass(frozen=True, slots=True)
class Trb:
    """One TRB as read from guest memory.

    Attributes:
        addr: Bus address it was read from.
        parameter: Bytes 0-7 (a buffer or segment pointer, or immediate data).
        status: Bytes 8-11.
        control: Bytes 12-15 (C, TC/ENT, CH, IOC, type ...).
    """

    addr: int
    parameter: int
    status: int
    control: int

    @classmethod
    def unpack(cls, addr: int, raw: bytes) -> Trb:
        """Decode 16 little-endian bytes read at ``addr``."""
        return cls(addr, *_TRB.unpack(raw))

    @property
    def type(self) -> int:
        """TRB type, control bits 15:10."""
        return (self.control >> 10) & 0x3F

    @property
    def cycle(self) -> bool:
        """The C bit."""
        return bool(self.control & TRB_C)

    @property
    def chain(self) -> bool:
        """CH: the TD goes on in the next TRB."""
        return bool(self.control & TRB_CH)

    @property
    def toggle(self) -> bool:
        """TC (on a Link TRB): following it flips the consumer cycle state."""
        return bool(self.control & TRB_TC)


@dataclass(frozen=True, slots=True)
class TrbChain:
    """What :meth:`TrbRing.chain_length` found.

    Attributes:
        length: TRBs counted (Link TRBs not included).
        end: ``"td"`` (a complete TD), ``"empty"`` (a cycle bit mismatch first),
            ``"link-limit"`` (more than ``link_limit`` Link TRBs), ``"dma-failed"`` (a read
            failed, with ``check_dma``), or ``"too-long"`` (past ``max_trbs``).
        addr: The dequeue pointer where the walk stopped.
    """

    length: int
    end: str
    addr: int

    @property
    def complete(self) -> bool:
        """A whole TD is ready (QEMU's positive return value)."""
        return self.end == "td"


class _Trail:
    """The walk so far, for the hang report: TRBs read and the Link TRBs followed."""

    __slots__ = ("steps", "dequeue", "ccs", "order", "first", "loop_at")

    def __init__(self, dequeue: int, ccs: bool) -> None:
        self.steps = 0
        self.dequeue = dequeue
        self.ccs = ccs
        self.order: list[int] = []
        self.first: dict[tuple[int, bool], tuple[int, int]] = {}
        self.loop_at = -1

    def link(self, addr: int, ccs: bool, counted: int) -> bool:
        """Note a Link TRB followed after ``counted`` TRBs; True when the walk has come
        back to it with the same CCS and nothing counted in between: a loop made only of
        Link TRBs, which goes on for ever."""
        if self.loop_at >= 0:
            return False
        key = (addr, ccs)
        seen = self.first.get(key)
        if seen is not None:
            self.loop_at, was = seen  # the same Link TRB with the same CCS: a loop
            return was == counted
        if len(self.order) < _TRACKED_LINKS:
            self.first[key] = (len(self.order), counted)
            self.order.append(addr)
        return False

    def report(self) -> tuple[str, ...]:
        lines = [
            f"  TRB walk: {self.steps} TRBs read, dequeue {self.dequeue:#x}, ccs {int(self.ccs)}"
        ]
        if self.loop_at >= 0:
            loop = self.order[self.loop_at :]
            shown = " -> ".join(f"{a:#x}" for a in loop[:_SHOWN_LINKS])
            more = f" ... ({len(loop)} Link TRBs)" if len(loop) > _SHOWN_LINKS else ""
            lines.append(f"  Link TRB loop: {shown}{more} -> {loop[0]:#x}")
        return tuple(lines)


class TrbRing:
    """A consumer's view of a TRB ring: dequeue pointer and consumer cycle state.

    Args:
        read: DMA-capable reader (:func:`~dmamon.devices.common.reader.dma_reader`).
        tick: Step budget (``Engine.tick``); one unit per TRB read.
        dequeue: Bus address of the next TRB.
        ccs: Consumer Cycle State.
        link_limit: Link TRBs one :meth:`fetch` or :meth:`chain_length` follows before it
            gives up (QEMU's ``TRB_LINK_LIMIT``); None removes the limit.
        what: Label for the watchdog message.
    """

    __slots__ = ("read", "tick", "dequeue", "ccs", "link_limit", "what")

    def __init__(
        self,
        read: Reader,
        tick: Tick,
        dequeue: int,
        ccs: bool = True,
        *,
        link_limit: int | None = TRB_LINK_LIMIT,
        what: str = "TRB ring walk",
    ) -> None:
        self.read = read
        self.tick = tick
        self.dequeue = dequeue
        self.ccs = ccs
        self.link_limit = link_limit
        self.what = what

    def fetch(self) -> Trb | None:
        """The next TRB for the consumer, following Link TRBs (``xhci_ring_fetch``).

        Returns:
            The TRB (the dequeue pointer moves past it), or None when the TRB at the
            dequeue pointer is not the consumer's (cycle mismatch) or more than
            ``link_limit`` Link TRBs were followed.

        Raises:
            WalkFault: a TRB read failed.
            MachineHalt: the step budget ran out (the report names the loop).
        """
        trail = _Trail(self.dequeue, self.ccs)
        try:
            return self._fetch(trail)
        except MachineHalt as h:
            raise MachineHalt(h.kind, h.summary, h.details + trail.report()) from None

    def _fetch(self, trail: _Trail) -> Trb | None:
        links = 0
        while True:
            self.tick(1, self.what)
            trail.steps += 1
            addr = trail.dequeue = self.dequeue
            raw = self.read(addr, TRB_SIZE)
            if raw is None:
                raise WalkFault("TRB", addr, TRB_SIZE)
            trb = Trb.unpack(addr, raw)
            if trb.cycle != self.ccs:
                return None
            if trb.type != TRB_LINK:
                self.dequeue = (addr + TRB_SIZE) & U64
                return trb
            links += 1
            if self.link_limit is not None and links > self.link_limit:
                return None
            if trail.link(addr, self.ccs, 0) and self.link_limit is None:
                self.tick(_FOREVER, self.what)  # only Link TRBs, round and round
            self.dequeue = trb.parameter
            if trb.toggle:
                self.ccs = trail.ccs = not self.ccs

    def chain_length(
        self, *, check_dma: bool = True, max_trbs: int | None = MAX_TD_TRBS
    ) -> TrbChain:
        """Count the TRBs of the next TD without consuming them (``xhci_ring_chain_length``).

        Setup..Status stage TRBs count as one TD, as in QEMU.

        Args:
            check_dma: Stop with ``"dma-failed"`` when a read fails (QEMU since 2022).
                False is the earlier loop: the failed read leaves the previous TRB's
                contents in place and the walk goes on.
            max_trbs: Stop with ``"too-long"`` once this many iterations were counted
                (QEMU since 2022: ``TRB_LINK_LIMIT * 64 KiB / 16``); None: no bound but
                the step budget.

        Returns:
            A :class:`TrbChain`.

        Raises:
            MachineHalt: the step budget ran out (the report names the loop).
        """
        trail = _Trail(self.dequeue, self.ccs)
        try:
            return self._chain(trail, check_dma, max_trbs)
        except MachineHalt as h:
            raise MachineHalt(h.kind, h.summary, h.details + trail.report()) from None

    def _chain(self, trail: _Trail, check_dma: bool, max_trbs: int | None) -> TrbChain:
        dequeue, ccs = self.dequeue, self.ccs
        length = links = 0
        raw = bytes(TRB_SIZE)  # QEMU's uninitialised local TRB: C=0, so "not ours"
        control_td = False
        while max_trbs is None or length < max_trbs:
            self.tick(1, self.what)
            trail.steps += 1
            trail.dequeue = dequeue
            data = self.read(dequeue, TRB_SIZE)
            if data is not None:
                raw = data
            elif check_dma:
                return TrbChain(length, "dma-failed", dequeue)
            parameter, _, control = _TRB.unpack(raw)
            if bool(control & TRB_C) != ccs:
                return TrbChain(length, "empty", dequeue)
            kind = (control >> 10) & 0x3F
            if kind == TRB_LINK:
                links += 1
                if self.link_limit is not None and links > self.link_limit:
                    return TrbChain(length, "link-limit", dequeue)
                if trail.link(dequeue, ccs, length) and self.link_limit is None:
                    self.tick(_FOREVER, self.what)  # only Link TRBs, round and round
                dequeue = parameter
                ccs = trail.ccs = ccs != bool(control & TRB_TC)
                continue
            length += 1
            dequeue = (dequeue + TRB_SIZE) & U64
            if kind == TRB_SETUP:
                control_td = True
            elif kind == TRB_STATUS:
                control_td = False
            if not control_td and not control & TRB_CH:
                return TrbChain(length, "td", dequeue)
        return TrbChain(length, "too-long", dequeue)
