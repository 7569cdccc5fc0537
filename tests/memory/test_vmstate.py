"""Per-object state declarations, and the kernel objects that use them (memory/vmstate.py)."""

from __future__ import annotations

from typing import Any

import pytest
from dmamon.memory import (
    Fixes,
    MemoryRegion,
    StateError,
    StateField,
    Stateful,
    Tracer,
    VirtualClock,
    VMStateDescription,
    load_ram,
    save_ram,
)
from dmamon.memory import trace_events as ev


class Counter(Stateful):
    VMSTATE = VMStateDescription(
        "counter",
        version=2,
        fields=(StateField("count"), StateField("log"), StateField("extra", since=2)),
        post_load="_loaded",
    )

    def __init__(self) -> None:
        self.count = 0
        self.log: list[int] = []
        self.extra = "new"
        self.loads = 0

    def _loaded(self) -> None:
        self.loads += 1


def test_save_is_a_deep_copy_and_load_restores_it() -> None:
    c = Counter()
    c.count, c.log = 3, [1, 2]
    saved = c.save_state()
    c.log.append(9)
    assert saved == {"name": "counter", "version": 2, "fields": {"count": 3, "log": [1, 2],
                     "extra": "new"}}  # fmt: skip
    c.count = 7
    c.load_state(saved)
    assert (c.count, c.log, c.loads) == (3, [1, 2], 1)
    c.log.append(5)
    assert saved["fields"]["log"] == [1, 2]


def test_an_older_version_loads_and_leaves_later_fields_alone() -> None:
    c = Counter()
    c.extra = "kept"
    c.load_state({"name": "counter", "version": 1, "fields": {"count": 1, "log": []}})
    assert (c.count, c.extra) == (1, "kept")


@pytest.mark.parametrize(
    "state",
    [
        {"name": "other", "version": 1, "fields": {}},
        {"name": "counter", "version": 3, "fields": {}},
        {"name": "counter", "version": 0, "fields": {}},
        {"name": "counter", "version": 2, "fields": {"count": 1, "log": []}},
    ],
)
def test_a_state_that_does_not_fit_is_refused(state: dict[str, Any]) -> None:
    with pytest.raises(StateError):
        Counter().load_state(state)


def test_the_clock_restores_time_pending_timers_and_bottom_halves_by_name() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    a = clock.timer(lambda: fired.append("a"), "dev.a")
    b = clock.timer(lambda: fired.append("b"), "dev.b")
    bh = clock.bh(lambda: fired.append("bh"), "dev.bh")
    clock.step(100, 1000)
    b.mod(500)
    a.mod(500)  # same deadline, armed later: fires after b
    bh.schedule()
    saved = clock.save_state()
    clock.step(1000, 1000)
    assert fired == ["bh", "b", "a"] and clock.now_ns == 1100
    fired.clear()
    clock.load_state(saved)
    assert clock.now_ns == 100 and [t.name for t in clock.pending_timers] == ["dev.b", "dev.a"]
    clock.step(1000, 1000)
    assert fired == ["bh", "b", "a"]


def test_the_clock_refuses_a_state_naming_an_unknown_timer() -> None:
    clock = VirtualClock()
    state = {"name": "clock", "version": 1, "fields": {"now_ns": 0, "timers": [("x", 1)],
             "bhs": []}}  # fmt: skip
    with pytest.raises(StateError):
        clock.load_state(state)


def test_fixes_and_tracer_round_trip() -> None:
    fixes = Fixes()
    fixes.set("reentrancy-guard", False)
    saved = fixes.save_state()
    fixes.set("reentrancy-guard", True)
    fixes.load_state(saved)
    assert fixes.get("reentrancy-guard") is False
    t = Tracer(now=lambda: 0)
    t.set_state("dma_*", True)
    t.set_log_items(["guest_errors"])
    saved = t.save_state()
    t.set_state("*", False)
    t.set_log_items([])
    t.load_state(saved)
    assert ev.dma_read in t.enabled and ev.timer_fire not in t.enabled
    assert t.log_items == {"guest_errors"}


def test_ram_keeps_only_pages_that_are_not_zero() -> None:
    ram = MemoryRegion.ram_region("ram", 0x4000 + 12).ram
    assert ram is not None
    ram[0x1000:0x1004] = b"abcd"
    ram[0x4008:0x400C] = b"tail"
    pages = save_ram(ram)
    assert sorted(pages) == [1, 4] and len(pages[4]) == 12
    ram[0x1000:0x1004] = b"\0\0\0\0"
    ram[0x2000] = 0x55
    load_ram(ram, pages)
    assert ram[0x1000:0x1004] == b"abcd" and ram[0x2000] == 0 and ram[0x4008:0x400C] == b"tail"
    with pytest.raises(StateError):
        load_ram(ram, {9: bytes(4096)})
