"""The machine's event bus (memory/events.py) and the kernel events published on it."""

from __future__ import annotations

from dmamon.memory import (
    AddressSpace,
    DmaFailed,
    DmaPort,
    Engine,
    EventBus,
    MachineEvent,
    MachineHalt,
    MachineHalted,
    MemoryRegion,
    MemReentrancyGuard,
    MemTxResult,
    MmioOps,
    NamedEvent,
    ReentrancyBlocked,
    RunStateChanged,
)


def test_subscribers_are_called_synchronously_in_subscription_order() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe(lambda e: seen.append(f"a:{e.name}"))
    bus.subscribe(lambda e: seen.append(f"b:{e.name}"))
    bus.emit(RunStateChanged("running", "paused"))
    assert seen == ["a:DMAMON_RUN_STATE", "b:DMAMON_RUN_STATE"]


def test_a_subscription_with_kinds_gets_only_those() -> None:
    bus = EventBus()
    seen: list[MachineEvent] = []
    bus.subscribe(seen.append, RunStateChanged)
    bus.publish("DMAMON_TEST", {"x": 1})
    bus.emit(RunStateChanged("paused", "running"))
    assert seen == [RunStateChanged("paused", "running")]


def test_publish_makes_a_named_event() -> None:
    bus = EventBus()
    seen: list[MachineEvent] = []
    bus.subscribe(seen.append)
    bus.publish("DMAMON_TEST", {"x": 1})
    assert seen == [NamedEvent("DMAMON_TEST", {"x": 1})]
    assert seen[0].name == "DMAMON_TEST"


def test_unsubscribe_by_handle_or_callback_and_twice_is_harmless() -> None:
    bus = EventBus()
    seen: list[MachineEvent] = []
    sub = bus.subscribe(seen.append)
    assert bus.unsubscribe(sub) and not bus.unsubscribe(sub)
    bus.subscribe(seen.append)
    assert bus.unsubscribe(seen.append)
    bus.publish("X")
    assert seen == [] and not bus.has_subscribers


def test_changes_during_delivery_take_effect_for_the_next_event() -> None:
    bus = EventBus()
    seen: list[str] = []

    def late(e: MachineEvent) -> None:
        seen.append("late")

    def first(e: MachineEvent) -> None:
        seen.append("first")
        bus.subscribe(late)
        bus.unsubscribe(second)

    def second(e: MachineEvent) -> None:
        seen.append("second")

    bus.subscribe(first)
    bus.subscribe(second)
    bus.publish("A")
    assert seen == ["first"]
    bus.unsubscribe(first)
    bus.publish("B")
    assert seen == ["first", "late"]


def test_the_engine_reports_a_failing_subscriber_as_a_warning_and_carries_on() -> None:
    engine = Engine()
    seen: list[MachineEvent] = []

    def broken(e: MachineEvent) -> None:
        raise ValueError("boom")

    engine.events.subscribe(broken)
    engine.events.subscribe(seen.append)
    engine.events.publish("DMAMON_TEST")
    assert len(seen) == 1
    (rec,) = engine.tracer.ring
    assert rec.kind == "warning" and "DMAMON_TEST" in rec.text and "boom" in rec.text


def test_a_halt_is_published_after_the_halt_listeners() -> None:
    engine = Engine()
    order: list[str] = []
    engine.halt_listeners.append(lambda h: order.append("listener"))
    engine.events.subscribe(lambda e: order.append(e.name), MachineHalted)
    halt = MachineHalt("hung", "watchdog")

    def work() -> None:
        raise halt

    assert not engine.run_activation(work)
    assert order == ["listener", "DMAMON_MACHINE_HALT"]


class Dev:
    def __init__(self) -> None:
        self.name = "dev0"
        self.guard = MemReentrancyGuard()


def test_a_blocked_reentrant_access_is_published() -> None:
    engine = Engine()
    dev = Dev()
    root = MemoryRegion.container("system")
    space = AddressSpace("memory", root, engine)

    def write(off: int, value: int, size: int) -> None:
        if off == 0:
            space.store(0x1004, 4, 1)  # into itself

    root.add_subregion(0x1000, MemoryRegion.io_region("dev-mmio", 0x10, MmioOps(write=write), dev))
    seen: list[MachineEvent] = []
    engine.events.subscribe(seen.append, ReentrancyBlocked)
    space.store(0x1000, 4, 1)
    assert seen == [ReentrancyBlocked("dev0", "dev-mmio", 4, True)]


def test_a_failed_dma_is_published_with_where_it_failed() -> None:
    engine = Engine()
    root = MemoryRegion.container("bus master container")
    root.add_subregion(0, MemoryRegion.ram_region("ram", 0x1000))
    dma = DmaPort(engine, AddressSpace("edu", root, engine), 0x0008, "edu0")
    seen: list[MachineEvent] = []
    engine.events.subscribe(seen.append)
    assert dma.read(0x800, 8).ok and dma.write(0, b"x").ok
    assert seen == []
    dma.write(0xFFC, b"12345678")
    assert seen == [DmaFailed("edu0", 0x0008, 0xFFC, 8, True, MemTxResult.DECODE_ERROR, 0x1000)]
