"""The front ends talk to :class:`Machine`, not to the kernel's engine behind it."""

from __future__ import annotations

from pathlib import Path

from dmamon.devices import Machine
from dmamon.memory import DmaTracker, EventBus, Fixes, Tracer, VirtualClock

DMAMON = Path(__file__).resolve().parents[2] / "dmamon"

# Where reaching the engine would be the point, not a shortcut (none today: ops.as_guest
# takes the engine as an argument to run an activation, which is not an attribute chain).
ALLOWED: set[str] = set()


def test_front_ends_do_not_reach_past_the_machine_into_its_engine() -> None:
    offenders = [
        f"{path.relative_to(DMAMON)}:{n}"
        for path in sorted(DMAMON.rglob("*.py"))
        if str(path.relative_to(DMAMON)) not in ALLOWED
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ".engine." in line
    ]
    assert offenders == []


def test_machine_exposes_the_engine_parts_typed() -> None:
    m = Machine()
    assert isinstance(m.clock, VirtualClock) and m.clock is m.engine.clock
    assert isinstance(m.tracer, Tracer) and m.tracer is m.engine.tracer
    assert isinstance(m.fixes, Fixes) and m.fixes is m.engine.fixes
    assert isinstance(m.events, EventBus) and m.events is m.engine.events
    assert isinstance(m.dma, DmaTracker) and m.halt is None
