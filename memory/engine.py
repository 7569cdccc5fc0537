"""The per-machine execution context shared by the kernel.

It holds the virtual clock, the tracer, the fix-switch states, the DMA mapping tracker
and the state of the current *activation* — one top-level piece of work: a monitor
access, a timer or a bottom half. Device models run inside activations; a model that
reaches a modelled fatal state raises :class:`~dmamon.memory.errors.MachineHalt`, which
the activation boundary catches: the machine becomes ``hung`` or ``crashed`` and the
caller gets an error result, never an exception.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from dmamon.memory import trace_events as ev
from dmamon.memory.clock import Callback, VirtualClock
from dmamon.memory.dma import DmaTracker
from dmamon.memory.errors import DispatchFrame, MachineHalt, describe_frame
from dmamon.memory.events import EventBus, MachineEvent, MachineHalted, Subscription
from dmamon.memory.fixes import Fixes
from dmamon.memory.reentrancy import BH_GUARD, MemReentrancyGuard
from dmamon.memory.region import MemoryRegion
from dmamon.memory.trace import Tracer

__all__ = ["Engine"]

DEFAULT_WATCHDOG_STEPS = 1_000_000
DEFAULT_MAX_IO_DEPTH = 64
DEFAULT_CALLBACK_BUDGET = 100_000
FRAMES_PER_IO_LEVEL = 40  # Python frames one nested dispatch may take (kernel + device)


@dataclass
class Engine:
    """Clock, tracer, fixes, watchdog and halt state of one machine.

    Attributes:
        watchdog_steps: work units one activation may do before it is a modelled hang.
        max_io_depth: nested MMIO dispatch levels before it is a modelled stack overflow.
        callback_budget: timers/bottom halves one run may fire before it is a hang.
    """

    watchdog_steps: int = DEFAULT_WATCHDOG_STEPS
    max_io_depth: int = DEFAULT_MAX_IO_DEPTH
    callback_budget: int = DEFAULT_CALLBACK_BUDGET
    clock: VirtualClock = field(default_factory=VirtualClock)
    fixes: Fixes = field(default_factory=Fixes)
    dma: DmaTracker = field(default_factory=DmaTracker)
    halt: MachineHalt | None = None
    halt_listeners: list[Callable[[MachineHalt], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tracer = Tracer(now=lambda: self.clock.now_ns)
        # Machine events (halts, run-state changes, blocked re-entrancy, faults, ...).
        self.events = EventBus(on_error=self._subscriber_failed)
        self.clock.activate = self._run_callback
        self.active = 0
        self.regions_numbered = 0
        self.steps = 0
        self.io_chain: list[DispatchFrame] = []
        # The modelled stack overflow (max_io_depth) must come before Python's own.
        need = (self.max_io_depth + 1) * FRAMES_PER_IO_LEVEL + 1000
        if sys.getrecursionlimit() < need:
            sys.setrecursionlimit(need)

    def number_region(self, mr: MemoryRegion) -> int:
        """Give a region the stable number traces print where QEMU prints its pointer:
        numbered in the order this machine first traces them, so output is identical
        run after run."""
        self.regions_numbered += 1
        mr.trace_id = self.regions_numbered
        return mr.trace_id

    # -- activations -----------------------------------------------------------------------

    def run_activation(self, fn: Callable[[], None]) -> bool:
        """Run ``fn`` as a top-level activation (nested calls just run it).

        Returns:
            False when the machine halted inside it.
        """
        if self.active:
            fn()
            return True
        self.active = 1
        self.steps = 0
        try:
            fn()
            return True
        except MachineHalt as h:
            self.halted(h)
            return False
        finally:
            self.active = 0
            self.io_chain.clear()

    def _run_callback(self, cb: Callback, guard: MemReentrancyGuard | None, name: str) -> None:
        """Run a timer or bottom half; a guarded one marks its device engaged (QEMU
        ``aio_bh_call``: it traces ``reentrant_aio`` when the device already was)."""
        if guard is not None and self.fixes[BH_GUARD]:
            was = guard.engaged_in_io
            if was:
                self.tracer.emit(ev.reentrant_aio, ctx=1, name=name)
            guard.engaged_in_io = True

            def guarded() -> None:
                try:
                    cb()
                finally:
                    guard.engaged_in_io = was

            self.run_activation(guarded)
        else:
            self.run_activation(cb)

    def tick(self, n: int = 1, what: str = "device loop") -> None:
        """Count ``n`` units of device work; past the budget the activation is a hang.

        Raises:
            MachineHalt: the watchdog fired (caught at the activation boundary).
        """
        self.steps += n
        if self.steps > self.watchdog_steps:
            raise MachineHalt(
                "hung",
                f"watchdog: {what} did not finish within {self.watchdog_steps} steps",
                tuple(f"  in {describe_frame(f)}" for f in self.io_chain),
            )

    def halted(self, h: MachineHalt) -> None:
        """Record a modelled fatal state and tell the listeners (the machine)."""
        if self.halt is None:
            self.halt = h
        self.clock.stopped = True
        for cb in list(self.halt_listeners):
            cb(h)
        self.events.emit(MachineHalted(h))

    def _subscriber_failed(self, exc: Exception, sub: Subscription, event: MachineEvent) -> None:
        """A bus subscriber raised: say so and keep going (publishers are device models
        in the middle of an access; they must not see a front end's bug)."""
        who = getattr(sub.callback, "__qualname__", repr(sub.callback))
        self.tracer.warn(f"event {event.name}: subscriber {who} failed: {exc!r}")

    # -- time ------------------------------------------------------------------------------

    def step(self, delta_ns: int) -> int:
        """Advance virtual time (nothing happens while halted). Returns callbacks run."""
        if self.halt is not None:
            return 0
        ran = self.clock.step(delta_ns, self.callback_budget)
        self._check_budget(ran, "clock step")
        return ran

    def step_to_next(self) -> int:
        """Advance to the next timer deadline (qtest ``clock_step`` without argument)."""
        if self.halt is not None:
            return 0
        ran = self.clock.step_to_next(self.callback_budget)
        self._check_budget(ran, "clock step")
        return ran

    def run_pending(self) -> int:
        """Run queued bottom halves and due timers without moving time."""
        if self.halt is not None:
            return 0
        ran = self.clock.run_pending(self.callback_budget)
        self._check_budget(ran, "pending bottom halves and timers")
        return ran

    def _check_budget(self, ran: int, what: str) -> None:
        if ran >= self.callback_budget:
            pending = [t.name for t in self.clock.pending_timers[:4]]
            self.halted(
                MachineHalt(
                    "hung",
                    f"watchdog: {what} fired {ran} callbacks without going idle",
                    (f"  still pending: {', '.join(pending) or 'bottom halves'}",),
                )
            )

    def reset(self) -> None:
        """Forget the halt and all scheduled work (machine reset; time keeps going)."""
        self.halt = None
        self.clock.clear()
        self.io_chain.clear()
        self.tracer.reset_warnings()
        self.dma.clear()
