"""Virtual clock and event scheduler: integer nanoseconds, nothing runs in the background.

Timers fire in (deadline, creation order of the arming) order; bottom halves run after
the command or callback that scheduled them. Time moves only through :meth:`step`,
:meth:`step_to_next` and :meth:`set` (QEMU qtest's ``clock_step``/``clock_set``), so a
script replays bit for bit.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import Any

from dmamon.memory.reentrancy import MemReentrancyGuard
from dmamon.memory.vmstate import StateError

__all__ = ["BottomHalf", "Timer", "VirtualClock"]

Callback = Callable[[], None]
# (callback, guard, name) -> None; the engine wraps callbacks (guards, watchdog, halts).
Activator = Callable[[Callback, "MemReentrancyGuard | None", str], None]


def _plain(cb: Callback, guard: MemReentrancyGuard | None, name: str) -> None:
    cb()


class Timer:
    """A one-shot timer on the virtual clock (QEMU ``QEMUTimer``); re-arm with :meth:`mod`."""

    __slots__ = ("_clock", "_seq", "callback", "deadline_ns", "guard", "name")

    def __init__(
        self,
        clock: VirtualClock,
        callback: Callback,
        name: str,
        guard: MemReentrancyGuard | None = None,
    ) -> None:
        self._clock = clock
        self.callback = callback
        self.name = name
        self.guard = guard
        self.deadline_ns: int | None = None
        self._seq = 0

    @property
    def pending(self) -> bool:
        """Whether the timer is armed."""
        return self.deadline_ns is not None

    def mod(self, deadline_ns: int) -> None:
        """Arm (or re-arm) the timer for an absolute virtual time."""
        self._clock._arm(self, max(deadline_ns, 0))

    def mod_in(self, delay_ns: int) -> None:
        """Arm the timer ``delay_ns`` from now."""
        self.mod(self._clock.now_ns + delay_ns)

    def cancel(self) -> None:
        """Disarm the timer; a cancelled timer never fires."""
        self.deadline_ns = None


class BottomHalf:
    """A callback that runs as soon as the current activation ends (QEMU ``QEMUBH``)."""

    __slots__ = ("_clock", "callback", "guard", "name", "scheduled")

    def __init__(
        self,
        clock: VirtualClock,
        callback: Callback,
        name: str,
        guard: MemReentrancyGuard | None = None,
    ) -> None:
        self._clock = clock
        self.callback = callback
        self.name = name
        self.guard = guard
        self.scheduled = False

    def schedule(self) -> None:
        """Queue the bottom half (scheduling a queued one again is a no-op)."""
        if not self.scheduled:
            self.scheduled = True
            self._clock._bhs.append(self)

    def cancel(self) -> None:
        """Unqueue the bottom half."""
        self.scheduled = False


class VirtualClock:
    """The machine's virtual time and its timers and bottom halves."""

    def __init__(self) -> None:
        self.now_ns = 0
        self._heap: list[tuple[int, int, Timer]] = []
        self._bhs: deque[BottomHalf] = deque()
        self._seq = 0
        self.stopped = False  # set while the machine is halted: time stands still
        self.activate: Activator = _plain
        # Every timer and bottom half by name, so a saved state can find them again.
        self._named: dict[str, Timer | BottomHalf] = {}

    # -- factories -------------------------------------------------------------------------

    def timer(
        self, callback: Callback, name: str, guard: MemReentrancyGuard | None = None
    ) -> Timer:
        """A new, disarmed timer (``name`` should be unique: a saved state refers to it)."""
        t = Timer(self, callback, name, guard)
        self._named[name] = t
        return t

    def bh(
        self, callback: Callback, name: str, guard: MemReentrancyGuard | None = None
    ) -> BottomHalf:
        """A new, unscheduled bottom half (``name`` should be unique, as for timers)."""
        b = BottomHalf(self, callback, name, guard)
        self._named[name] = b
        return b

    # -- scheduling ------------------------------------------------------------------------

    def _arm(self, timer: Timer, deadline_ns: int) -> None:
        self._seq += 1
        timer.deadline_ns = deadline_ns
        timer._seq = self._seq
        heapq.heappush(self._heap, (deadline_ns, self._seq, timer))

    def _prune(self) -> None:
        # Entries of cancelled or re-armed timers stay in the heap until they surface.
        heap = self._heap
        while heap:
            deadline, seq, t = heap[0]
            if t.deadline_ns == deadline and t._seq == seq:
                return
            heapq.heappop(heap)

    def next_deadline(self) -> int | None:
        """The earliest armed deadline, or None."""
        self._prune()
        return self._heap[0][0] if self._heap else None

    def has_due_work(self) -> bool:
        """Whether a bottom half is queued or a timer is due now (cheap: no pruning)."""
        heap = self._heap
        return bool(self._bhs) or (bool(heap) and heap[0][0] <= self.now_ns)

    @property
    def pending_bhs(self) -> int:
        """How many bottom halves are queued."""
        return sum(1 for b in self._bhs if b.scheduled)

    @property
    def pending_timers(self) -> list[Timer]:
        """Armed timers in firing order."""
        live = sorted((d, s, t) for d, s, t in self._heap if t.deadline_ns == d and t._seq == s)
        return [t for _, _, t in live]

    # -- running ---------------------------------------------------------------------------

    def run_bhs(self, budget: int) -> int:
        """Run queued bottom halves (including ones they queue) up to ``budget`` calls.

        Returns:
            How many ran.
        """
        ran = 0
        while self._bhs and ran < budget:
            bh = self._bhs.popleft()
            if not bh.scheduled:
                continue
            bh.scheduled = False
            ran += 1
            self.activate(bh.callback, bh.guard, bh.name)
        return ran

    def _fire_due(self, limit_ns: int, budget: int) -> int:
        ran = self.run_bhs(budget)
        while ran < budget and not self.stopped:
            self._prune()
            if not self._heap or self._heap[0][0] > limit_ns:
                break
            deadline, _, t = heapq.heappop(self._heap)
            t.deadline_ns = None
            if deadline > self.now_ns:
                self.now_ns = deadline
            ran += 1
            self.activate(t.callback, t.guard, t.name)
            ran += self.run_bhs(budget - ran)
        return ran

    def run_pending(self, budget: int) -> int:
        """Run queued bottom halves and due timers without moving time.

        Returns:
            How many callbacks ran (stops at ``budget``).
        """
        return self._fire_due(self.now_ns, budget)

    def step(self, delta_ns: int, budget: int) -> int:
        """Advance time by ``delta_ns``, firing timers in order on the way.

        Returns:
            How many callbacks ran. When ``budget`` runs out, time stops at the last
            callback's deadline rather than jumping past unfired timers.
        """
        target = self.now_ns + max(delta_ns, 0)
        ran = self._fire_due(target, budget)
        if ran < budget and not self.stopped:
            self.now_ns = max(self.now_ns, target)
        return ran

    def set(self, target_ns: int, budget: int) -> int:
        """Advance time to an absolute value (never backwards)."""
        return self.step(target_ns - self.now_ns, budget)

    def step_to_next(self, budget: int) -> int:
        """Advance to the next timer deadline (qtest ``clock_step`` without an argument)."""
        deadline = self.next_deadline()
        if deadline is None:
            return self.run_bhs(budget)
        return self.step(deadline - self.now_ns, budget)

    def clear(self) -> None:
        """Drop every timer and bottom half (machine reset keeps the time)."""
        self.stopped = False
        for _, _, t in self._heap:
            t.deadline_ns = None
        self._heap.clear()
        for b in self._bhs:
            b.scheduled = False
        self._bhs.clear()

    # -- save / restore (memory/vmstate.py) ------------------------------------------------

    def save_state(self) -> dict[str, Any]:
        """Time plus pending work by name: timers in firing order with their deadlines,
        queued bottom halves in queue order. Callbacks are not copied; loading finds
        them again by name among the timers and bottom halves of this clock."""
        timers = [(t.name, t.deadline_ns) for t in self.pending_timers]
        bhs = [b.name for b in self._bhs if b.scheduled]
        return {"name": "clock", "version": 1, "fields": {"now_ns": self.now_ns,
                "timers": timers, "bhs": bhs}}  # fmt: skip

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`save_state`'s output: time, then the same timers armed in the
        same order and the same bottom halves queued (everything else is disarmed).

        Raises:
            StateError: another section's state, or a name this clock does not know.
        """
        if state.get("name") != "clock" or state.get("version") != 1:
            raise StateError(f"state of {state.get('name')!r} cannot load into 'clock'")
        f = state["fields"]
        found = []
        for name, deadline in f["timers"]:
            t = self._named.get(name)
            if not isinstance(t, Timer):
                raise StateError(f"clock: no timer named {name!r}")
            found.append((t, int(deadline)))
        bhs = []
        for name in f["bhs"]:
            b = self._named.get(name)
            if not isinstance(b, BottomHalf):
                raise StateError(f"clock: no bottom half named {name!r}")
            bhs.append(b)
        self.clear()
        self.now_ns = int(f["now_ns"])
        for t, deadline in found:  # arming in firing order keeps the tie order
            self._arm(t, deadline)
        for b in bhs:
            b.schedule()
