"""The per-device re-entrancy guard and its fix switches (memory/reentrancy.py and the
guard in AddressSpace dispatch; QEMU a2e1753b8054 and 9c86c97f12c0)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dmamon.memory import (
    BH_GUARD,
    REENTRANCY_GUARD,
    AddressSpace,
    Engine,
    MemoryRegion,
    MemReentrancyGuard,
    MemTxResult,
    MmioOps,
)

OK = MemTxResult.OK
ACCESS = MemTxResult.ACCESS_ERROR
SELF = 0x1000  # dev0's region
OTHER = 0x2000  # dev1's region


@dataclass
class Dev:
    name: str
    guard: MemReentrancyGuard = field(default_factory=MemReentrancyGuard)
    writes: list[tuple[int, int]] = field(default_factory=list)
    nested: list[MemTxResult] = field(default_factory=list)
    engaged_after_nested: list[bool] = field(default_factory=list)


def rig(*, recurse: bool = False, target: int = SELF + 4) -> tuple[AddressSpace, Engine, Dev, Dev]:
    """dev0's write at offset 0 stores to ``target`` (its own register by default)."""
    engine = Engine()
    root = MemoryRegion.container("system")
    space = AddressSpace("memory", root, engine)
    dev0, dev1 = Dev("dev0"), Dev("dev1")

    def write0(off: int, value: int, size: int) -> None:
        dev0.writes.append((off, value))
        if off == 0 or recurse:
            dest = SELF if recurse else target
            dev0.nested.append(space.store(dest, 4, value))
            dev0.engaged_after_nested.append(dev0.guard.engaged_in_io)

    def write1(off: int, value: int, size: int) -> None:
        dev1.writes.append((off, value))

    root.add_subregion(
        SELF, MemoryRegion.io_region("self-mmio", 0x100, MmioOps(write=write0), dev0)
    )
    root.add_subregion(
        OTHER, MemoryRegion.io_region("other-mmio", 0x100, MmioOps(write=write1), dev1)
    )
    return space, engine, dev0, dev1


def warnings(engine: Engine) -> list[str]:
    return [r.text for r in engine.tracer.ring if r.kind == "warning"]


def test_a_device_re_entering_its_own_mmio_is_blocked_with_an_access_error() -> None:
    space, engine, dev0, _ = rig()
    assert space.store(SELF, 4, 1) == OK
    assert dev0.nested == [ACCESS]
    assert dev0.writes == [(0, 1)]
    assert warnings(engine) == [
        "warning: Blocked re-entrant IO on MemoryRegion: self-mmio at addr: 0x4"
    ]


def test_the_blocked_warning_is_given_once() -> None:
    space, engine, dev0, _ = rig()
    space.store(SELF, 4, 1)
    space.store(SELF, 4, 2)
    assert dev0.nested == [ACCESS, ACCESS]
    assert len(warnings(engine)) == 1


def test_a_device_may_access_another_device_from_its_handler() -> None:
    space, engine, dev0, dev1 = rig(target=OTHER + 8)
    space.store(SELF, 4, 7)
    assert dev0.nested == [OK] and dev1.writes == [(8, 7)]
    assert warnings(engine) == []


def test_the_flag_stays_set_after_a_blocked_access_and_is_cleared_by_its_setter() -> None:
    space, _, dev0, _ = rig()
    space.store(SELF, 4, 1)
    assert dev0.engaged_after_nested == [True]
    assert dev0.guard.engaged_in_io is False


def test_a_region_that_opts_out_of_the_guard_is_re_entered() -> None:
    space, engine, dev0, _ = rig()
    lookup = space.lookup(SELF)
    assert lookup is not None
    lookup.region.disable_reentrancy_guard = True
    space.store(SELF, 4, 1)
    assert dev0.nested == [OK] and dev0.writes == [(0, 1), (4, 1)]
    assert warnings(engine) == []


def test_switching_the_guard_off_lets_the_nested_handler_run() -> None:
    space, engine, dev0, _ = rig()
    engine.fixes.set(REENTRANCY_GUARD.name, False)
    space.store(SELF, 4, 1)
    assert dev0.nested == [OK] and dev0.writes == [(0, 1), (4, 1)]
    assert dev0.engaged_after_nested == [True] and dev0.guard.engaged_in_io is False


def test_endless_re_entry_without_the_guard_crashes_the_machine_not_python() -> None:
    space, engine, dev0, _ = rig(recurse=True)
    engine.max_io_depth = 8
    engine.fixes.set("reentrancy-guard", False)
    assert space.store(SELF, 4, 1) == MemTxResult.ERROR
    halt = engine.halt
    assert halt is not None and halt.kind == "crashed"
    assert halt.summary == (
        "stack overflow: 9 nested MMIO dispatches into dev0 (QEMU dies here with SIGSEGV: "
        "the handler recursed until the stack ran out)"
    )
    assert halt.details[0] == "  #0 dev0 self-mmio+0x0 write 0x1 (4 bytes)"
    assert len(halt.details) == 9
    assert len(dev0.writes) == 8
    assert dev0.guard.engaged_in_io is False and engine.io_chain == [] and engine.active == 0


def test_the_default_depth_limit_is_reached_long_before_pythons_recursion_limit() -> None:
    space, engine, _, _ = rig(recurse=True)
    engine.fixes.set("reentrancy-guard", False)
    assert space.store(SELF, 4, 1) == MemTxResult.ERROR
    assert engine.halt is not None and engine.halt.summary.startswith("stack overflow: 65 nested")


def test_a_guarded_timer_marks_its_device_engaged_so_its_mmio_is_blocked() -> None:
    space, engine, dev0, _ = rig()
    results: list[MemTxResult] = []
    t = engine.clock.timer(
        lambda: results.append(space.store(SELF + 8, 4, 3)), "dev0.dma", dev0.guard
    )
    t.mod(10)
    engine.step(10)
    assert results == [ACCESS] and dev0.writes == []
    assert dev0.guard.engaged_in_io is False


def test_without_the_bh_guard_a_timer_may_enter_its_own_device() -> None:
    space, engine, dev0, _ = rig()
    engine.fixes.set(BH_GUARD.name, False)
    results: list[MemTxResult] = []
    t = engine.clock.timer(
        lambda: results.append(space.store(SELF + 8, 4, 3)), "dev0.dma", dev0.guard
    )
    t.mod(10)
    engine.step(10)
    assert results == [OK] and dev0.writes == [(8, 3)]


def test_a_guarded_bottom_half_running_while_its_device_is_engaged_traces_reentrant_aio() -> None:
    _, engine, dev0, _ = rig()
    engine.tracer.set_state("reentrant_aio", True)
    seen: list[bool] = []
    engine.clock.bh(lambda: seen.append(dev0.guard.engaged_in_io), "dev0.bh", dev0.guard).schedule()
    dev0.guard.engaged_in_io = True
    engine.run_pending()
    assert seen == [True]
    assert [r.text for r in engine.tracer.ring] == ["reentrant_aio ctx 0x1 name dev0.bh"]
    assert dev0.guard.engaged_in_io is True  # restored to what it was


def test_the_fix_switches_default_to_upstream_behaviour() -> None:
    engine = Engine()
    assert engine.fixes[REENTRANCY_GUARD] is True and engine.fixes[BH_GUARD] is True
