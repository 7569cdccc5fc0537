"""Activations, the watchdog and MachineHalt handling (memory/engine.py)."""

from __future__ import annotations

from dmamon.memory import (
    AddressSpace,
    Engine,
    MachineHalt,
    MemoryRegion,
    MemReentrancyGuard,
    MemTxResult,
    MmioOps,
)


class Owner:
    def __init__(self, name: str) -> None:
        self.name = name
        self.guard = MemReentrancyGuard()


def warnings(engine: Engine) -> list[str]:
    return [r.text for r in engine.tracer.ring if r.kind == "warning"]


def test_a_halt_inside_an_activation_is_recorded_and_does_not_escape() -> None:
    engine = Engine()
    seen: list[MachineHalt] = []
    engine.halt_listeners.append(seen.append)

    def crash() -> None:
        raise MachineHalt("crashed", "SIM-UAF: boom", ("  at here",))

    assert engine.run_activation(crash) is False
    assert engine.halt is not None and engine.halt.kind == "crashed"
    assert engine.halt.report() == ["SIM-UAF: boom", "  at here"]
    assert seen == [engine.halt]
    assert engine.active == 0


def test_a_successful_activation_returns_true() -> None:
    engine = Engine()
    ran: list[int] = []
    assert engine.run_activation(lambda: ran.append(1)) is True
    assert ran == [1]


def test_the_first_halt_is_kept_when_another_follows() -> None:
    engine = Engine()
    engine.halted(MachineHalt("hung", "first"))
    engine.halted(MachineHalt("crashed", "second"))
    assert engine.halt is not None and engine.halt.summary == "first"


def test_the_watchdog_turns_an_endless_device_loop_into_a_hang() -> None:
    engine = Engine(watchdog_steps=1000)

    def endless() -> None:
        while True:
            engine.tick(1, "edu factorial")

    assert engine.run_activation(endless) is False
    assert engine.halt is not None and engine.halt.kind == "hung"
    assert engine.halt.summary == "watchdog: edu factorial did not finish within 1000 steps"


def test_the_watchdog_budget_is_per_activation() -> None:
    engine = Engine(watchdog_steps=10)
    for _ in range(5):
        assert engine.run_activation(lambda: engine.tick(8)) is True
    assert engine.halt is None


def test_a_hang_inside_mmio_names_the_dispatch_it_happened_in() -> None:
    engine = Engine(watchdog_steps=50)

    def spin(off: int, size: int) -> int:
        while True:
            engine.tick()

    root = MemoryRegion.container("system")
    root.add_subregion(
        0x1000, MemoryRegion.io_region("spin-mmio", 0x10, MmioOps(read=spin), Owner("dev0"))
    )
    space = AddressSpace("memory", root, engine)
    assert space.load(0x1004, 4) == (MemTxResult.ERROR, 0)
    assert engine.halt is not None
    assert engine.halt.report() == [
        "watchdog: device loop did not finish within 50 steps",
        "  in dev0 spin-mmio+0x4 read (4 bytes)",
    ]
    assert engine.active == 0 and engine.io_chain == []


def test_a_timer_that_crashes_halts_the_machine_and_time_stops() -> None:
    engine = Engine()

    def crash() -> None:
        raise MachineHalt("crashed", "boom")

    engine.clock.timer(crash, "t").mod(100)
    assert engine.step(1000) == 1
    assert engine.halt is not None
    now = engine.clock.now_ns
    ran: list[int] = []
    engine.clock.timer(lambda: ran.append(1), "later").mod(now + 1)
    assert engine.step(1000) == 0 and engine.step_to_next() == 0 and engine.run_pending() == 0
    assert ran == [] and engine.clock.now_ns == now


def test_callbacks_that_never_go_idle_end_as_a_hang() -> None:
    engine = Engine(callback_budget=100)
    t = engine.clock.timer(lambda: t.mod(engine.clock.now_ns), "edu0.dma")
    t.mod(10)
    assert engine.step(1_000_000) == 100
    assert engine.halt is not None and engine.halt.kind == "hung"
    assert engine.halt.report() == [
        "watchdog: clock step fired 100 callbacks without going idle",
        "  still pending: edu0.dma",
    ]
    assert engine.clock.now_ns == 10


def test_bottom_halves_that_reschedule_forever_end_as_a_hang() -> None:
    engine = Engine(callback_budget=50)
    b = engine.clock.bh(lambda: b.schedule(), "loop")
    b.schedule()
    assert engine.run_pending() == 50
    assert engine.halt is not None
    assert engine.halt.report() == [
        "watchdog: pending bottom halves and timers fired 50 callbacks without going idle",
        "  still pending: bottom halves",
    ]


def test_a_nested_activation_just_runs() -> None:
    engine = Engine()
    depth: list[int] = []
    engine.run_activation(lambda: engine.run_activation(lambda: depth.append(engine.active)))
    assert depth == [1]


def test_reset_forgets_the_halt_and_scheduled_work_but_keeps_the_time() -> None:
    engine = Engine()
    engine.step(500)
    engine.clock.timer(lambda: None, "t").mod(900)
    engine.halted(MachineHalt("hung", "x"))
    engine.tracer.warn_once("k", "once")
    engine.reset()
    assert engine.halt is None and engine.clock.pending_timers == []
    assert engine.clock.now_ns == 500
    engine.tracer.warn_once("k", "once")
    assert warnings(engine) == ["warning: once", "warning: once"]


def test_virtual_time_shows_in_trace_records() -> None:
    engine = Engine()
    engine.step(1234)
    engine.tracer.warn("hello")
    (rec,) = engine.tracer.ring
    assert rec.time_ns == 1234
