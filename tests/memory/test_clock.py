"""Virtual clock, timers and bottom halves (memory/clock.py)."""

from __future__ import annotations

from collections.abc import Callable

from dmamon.memory import VirtualClock

BUDGET = 1000


def recorder(clock: VirtualClock, log: list[tuple[str, int]], name: str) -> Callable[[], None]:
    def cb() -> None:
        log.append((name, clock.now_ns))

    return cb


def test_time_starts_at_zero_and_moves_only_when_stepped() -> None:
    clock = VirtualClock()
    assert clock.now_ns == 0
    clock.step(1500, BUDGET)
    assert clock.now_ns == 1500


def test_a_timer_fires_at_its_deadline_with_now_equal_to_the_deadline() -> None:
    clock = VirtualClock()
    log: list[tuple[str, int]] = []
    t = clock.timer(recorder(clock, log, "t"), "t")
    t.mod(700)
    assert clock.step(699, BUDGET) == 0 and log == []
    assert clock.step(10, BUDGET) == 1
    assert log == [("t", 700)] and clock.now_ns == 709
    assert not t.pending


def test_timers_fire_by_deadline_then_by_arming_order() -> None:
    clock = VirtualClock()
    log: list[tuple[str, int]] = []
    for name, deadline in (("c", 300), ("a", 100), ("b2", 200), ("b1", 200)):
        clock.timer(recorder(clock, log, name), name).mod(deadline)
    clock.step(1000, BUDGET)
    assert [n for n, _ in log] == ["a", "b2", "b1", "c"]


def test_rearming_a_timer_replaces_its_deadline_and_its_place() -> None:
    clock = VirtualClock()
    log: list[tuple[str, int]] = []
    first = clock.timer(recorder(clock, log, "first"), "first")
    second = clock.timer(recorder(clock, log, "second"), "second")
    first.mod(100)
    second.mod(100)
    first.mod(100)  # armed again: now after second
    first.mod(50)
    first.mod(100)
    clock.step(200, BUDGET)
    assert log == [("second", 100), ("first", 100)]


def test_a_cancelled_timer_never_fires() -> None:
    clock = VirtualClock()
    log: list[tuple[str, int]] = []
    t = clock.timer(recorder(clock, log, "t"), "t")
    t.mod(10)
    t.cancel()
    clock.step(100, BUDGET)
    assert log == [] and not t.pending and clock.next_deadline() is None


def test_mod_in_is_relative_to_now_and_past_deadlines_fire_at_the_next_step() -> None:
    clock = VirtualClock()
    clock.step(1000, BUDGET)
    log: list[tuple[str, int]] = []
    t = clock.timer(recorder(clock, log, "t"), "t")
    t.mod_in(5)
    assert t.deadline_ns == 1005
    t.mod(-20)
    assert t.deadline_ns == 0
    clock.step(0, BUDGET)
    assert log == [("t", 1000)]  # time never goes back to the stale deadline


def test_a_timer_armed_by_a_callback_inside_the_window_fires_in_the_same_step() -> None:
    clock = VirtualClock()
    log: list[tuple[str, int]] = []
    later = clock.timer(recorder(clock, log, "later"), "later")

    def first() -> None:
        log.append(("first", clock.now_ns))
        later.mod_in(30)

    clock.timer(first, "first").mod(10)
    clock.step(100, BUDGET)
    assert log == [("first", 10), ("later", 40)]


def test_step_to_next_lands_exactly_on_the_next_deadline() -> None:
    clock = VirtualClock()
    log: list[tuple[str, int]] = []
    clock.timer(recorder(clock, log, "a"), "a").mod(250)
    clock.timer(recorder(clock, log, "b"), "b").mod(900)
    assert clock.step_to_next(BUDGET) == 1
    assert clock.now_ns == 250 and log == [("a", 250)]


def test_step_to_next_without_timers_only_runs_bottom_halves() -> None:
    clock = VirtualClock()
    ran: list[int] = []
    clock.bh(lambda: ran.append(1), "bh").schedule()
    assert clock.step_to_next(BUDGET) == 1
    assert ran == [1] and clock.now_ns == 0


def test_set_never_moves_time_backwards() -> None:
    clock = VirtualClock()
    clock.set(5000, BUDGET)
    clock.set(100, BUDGET)
    assert clock.now_ns == 5000


def test_a_bottom_half_runs_once_however_often_it_is_scheduled() -> None:
    clock = VirtualClock()
    ran: list[str] = []
    bh = clock.bh(lambda: ran.append("bh"), "bh")
    bh.schedule()
    bh.schedule()
    assert clock.pending_bhs == 1
    assert clock.run_pending(BUDGET) == 1
    assert ran == ["bh"] and not bh.scheduled


def test_a_cancelled_bottom_half_does_not_run() -> None:
    clock = VirtualClock()
    ran: list[str] = []
    bh = clock.bh(lambda: ran.append("bh"), "bh")
    bh.schedule()
    bh.cancel()
    assert clock.run_pending(BUDGET) == 0 and ran == []


def test_bottom_halves_scheduled_by_bottom_halves_run_in_the_same_pass() -> None:
    clock = VirtualClock()
    ran: list[str] = []
    second = clock.bh(lambda: ran.append("second"), "second")

    def first() -> None:
        ran.append("first")
        second.schedule()

    clock.bh(first, "first").schedule()
    assert clock.run_pending(BUDGET) == 2
    assert ran == ["first", "second"]


def test_a_bottom_half_scheduled_by_a_timer_runs_before_the_next_timer() -> None:
    clock = VirtualClock()
    log: list[tuple[str, int]] = []
    bh = clock.bh(recorder(clock, log, "bh"), "bh")

    def t1() -> None:
        log.append(("t1", clock.now_ns))
        bh.schedule()

    clock.timer(t1, "t1").mod(10)
    clock.timer(recorder(clock, log, "t2"), "t2").mod(20)
    clock.step(100, BUDGET)
    assert log == [("t1", 10), ("bh", 10), ("t2", 20)]


def test_when_the_budget_runs_out_time_stops_at_the_last_callback() -> None:
    clock = VirtualClock()
    log: list[tuple[str, int]] = []
    for i in range(5):
        clock.timer(recorder(clock, log, f"t{i}"), f"t{i}").mod(100 * (i + 1))
    assert clock.step(10_000, 3) == 3
    assert clock.now_ns == 300 and len(clock.pending_timers) == 2


def test_pending_timers_are_listed_in_firing_order() -> None:
    clock = VirtualClock()
    a, b, c = (clock.timer(lambda: None, n) for n in "abc")
    c.mod(30)
    a.mod(10)
    b.mod(10)
    b.cancel()
    b.mod(40)
    assert [t.name for t in clock.pending_timers] == ["a", "c", "b"]
    assert clock.next_deadline() == 10


def test_clear_drops_timers_and_bottom_halves_but_keeps_the_time() -> None:
    clock = VirtualClock()
    clock.step(77, BUDGET)
    t = clock.timer(lambda: None, "t")
    t.mod(100)
    b = clock.bh(lambda: None, "b")
    b.schedule()
    clock.clear()
    assert clock.now_ns == 77 and not t.pending and not b.scheduled
    assert clock.pending_timers == [] and clock.pending_bhs == 0
