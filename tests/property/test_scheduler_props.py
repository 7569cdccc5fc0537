"""Property: the virtual clock fires timers by (deadline, arming order), time never goes
backwards, and a cancelled timer never fires (memory/clock.py), checked against a model."""

from __future__ import annotations

from dataclasses import dataclass

from dmamon.memory import Timer, VirtualClock
from hypothesis import given
from hypothesis import strategies as st

N_TIMERS = 6
BUDGET = 10_000


@dataclass(frozen=True)
class Arm:
    timer: int
    at: int  # absolute deadline (may lie in the past)


@dataclass(frozen=True)
class Cancel:
    timer: int


@dataclass(frozen=True)
class Step:
    delta: int


@dataclass(frozen=True)
class SetTime:
    target: int


@dataclass(frozen=True)
class StepToNext:
    pass


Op = Arm | Cancel | Step | SetTime | StepToNext

ops = st.lists(
    st.one_of(
        st.builds(Arm, st.integers(0, N_TIMERS - 1), st.integers(0, 3000)),
        st.builds(Cancel, st.integers(0, N_TIMERS - 1)),
        st.builds(Step, st.integers(0, 800)),
        st.builds(SetTime, st.integers(0, 3000)),
        st.just(StepToNext()),
    ),
    max_size=40,
)


class Model:
    """Armed timers as timer -> (deadline, arming sequence)."""

    def __init__(self) -> None:
        self.now = 0
        self.seq = 0
        self.armed: dict[int, tuple[int, int]] = {}

    def advance(self, target: int) -> list[tuple[int, int]]:
        """Fire everything due by ``target``; returns (timer, time it fired at)."""
        due = sorted((d, s, t) for t, (d, s) in self.armed.items() if d <= target)
        fired = []
        for d, _, t in due:
            del self.armed[t]
            self.now = max(self.now, d)
            fired.append((t, self.now))
        self.now = max(self.now, target)
        return fired


def run(program: list[Op]) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[int]]:
    """Run the program on the clock and on the model: (clock fires, model fires, nows)."""
    clock = VirtualClock()
    fired: list[tuple[int, int]] = []
    nows: list[int] = []

    def callback(i: int) -> None:
        fired.append((i, clock.now_ns))
        nows.append(clock.now_ns)

    timers: list[Timer] = [
        clock.timer(lambda i=i: callback(i), f"t{i}")  # type: ignore[misc]
        for i in range(N_TIMERS)
    ]
    model = Model()
    expected: list[tuple[int, int]] = []
    for op in program:
        if isinstance(op, Arm):
            timers[op.timer].mod(op.at)
            model.seq += 1
            model.armed[op.timer] = (max(op.at, 0), model.seq)
        elif isinstance(op, Cancel):
            timers[op.timer].cancel()
            model.armed.pop(op.timer, None)
        elif isinstance(op, Step):
            clock.step(op.delta, BUDGET)
            expected += model.advance(model.now + op.delta)
        elif isinstance(op, SetTime):
            clock.set(op.target, BUDGET)
            expected += model.advance(max(op.target, model.now))
        else:
            clock.step_to_next(BUDGET)
            if model.armed:
                expected += model.advance(max(model.now, min(d for d, _ in model.armed.values())))
        nows.append(clock.now_ns)
        assert clock.now_ns == model.now
    return fired, expected, nows


@given(ops)
def test_timers_fire_in_deadline_then_arming_order(program: list[Op]) -> None:
    fired, expected, _ = run(program)
    assert fired == expected


@given(ops)
def test_now_never_goes_backwards(program: list[Op]) -> None:
    _, _, nows = run(program)
    assert nows == sorted(nows)


@given(ops)
def test_a_cancelled_timer_never_fires(program: list[Op]) -> None:
    clock = VirtualClock()
    armed: set[int] = set()
    wrong: list[int] = []

    def callback(i: int) -> None:
        if i not in armed:
            wrong.append(i)
        armed.discard(i)

    timers = [clock.timer(lambda i=i: callback(i), f"t{i}") for i in range(N_TIMERS)]  # type: ignore[misc]
    for op in [*program, Step(10_000)]:
        if isinstance(op, Arm):
            timers[op.timer].mod(op.at)
            armed.add(op.timer)
        elif isinstance(op, Cancel):
            timers[op.timer].cancel()
            armed.discard(op.timer)
        elif isinstance(op, Step):
            clock.step(op.delta, BUDGET)
        elif isinstance(op, SetTime):
            clock.set(op.target, BUDGET)
        else:
            clock.step_to_next(BUDGET)
    assert wrong == [] and armed == set()


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=20))
def test_timers_with_equal_deadlines_fire_in_the_order_they_were_armed(
    deadlines: list[int],
) -> None:
    clock = VirtualClock()
    order: list[int] = []
    for i, d in enumerate(deadlines):
        clock.timer(lambda i=i: order.append(i), f"t{i}").mod(d)  # type: ignore[misc]
    clock.step(2000, BUDGET)
    assert order == sorted(range(len(deadlines)), key=lambda i: (deadlines[i], i))
