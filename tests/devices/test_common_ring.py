"""The shared head/tail ring walker, its step budget, and unimp-tagged register fields."""

from __future__ import annotations

import pytest
from dmamon.devices.common import HeadTailRing, step_budget
from dmamon.devices.regs import Field, Reg, RegisterBank
from dmamon.memory import MachineHalt


class RingRegs(RegisterBank, size=0x20):
    lo = Reg(0x00)
    hi = Reg(0x04)
    length = Reg(0x08)
    head = Reg(0x0C)
    tail = Reg(0x10)
    ctl = Reg(0x14, fields=(Field("en", bit=0), Field("vfe", bit=1, unimp=True)))


def _ring(head: int, tail: int, length: int = 4 * 16) -> HeadTailRing:
    regs = RingRegs()
    for name, v in (("lo", 0x1000), ("hi", 1), ("length", length), ("head", head), ("tail", tail)):
        regs.poke(name, v)
    return HeadTailRing(regs, "lo", "hi", "length", "head", "tail")


def test_walk_yields_descriptors_and_wraps_the_head() -> None:
    ring = _ring(head=3, tail=1)
    assert ring.free_count() == 2
    addrs = list(ring.walk(step_budget(10), "test ring"))
    assert addrs == [(1 << 32) + 0x1000 + 48, (1 << 32) + 0x1000]
    assert ring.is_empty() and ring.state().head == 1


def test_a_tail_beyond_the_ring_counts_as_empty() -> None:
    assert _ring(head=0, tail=9).is_empty()


def test_a_ring_the_guest_keeps_full_ends_as_a_modelled_hang() -> None:
    ring = _ring(head=0, tail=1)

    def endless() -> None:
        for _ in ring.walk(step_budget(5), "endless ring"):
            ring.regs.poke("tail", (ring.state().head + 2) % 4)  # the guest refills it

    with pytest.raises(MachineHalt) as e:
        endless()
    assert e.value.kind == "hung"


def test_unimp_field_writes_are_logged_by_the_owner() -> None:
    class Owner:
        name = "dev0"

        def __init__(self) -> None:
            self.logged: list[str] = []

        def unimp(self, text: str) -> None:
            self.logged.append(text)

    owner = Owner()
    regs = RingRegs(owner)
    regs.write(0x14, 0x3, 4)
    regs.write(0x14, 0x1, 4)
    assert regs.peek("ctl") == 0x1
    assert owner.logged == ["dev0: ctl.vfe = 0x1 written (not modelled)"]
    assert RingRegs.lookup("ctl") is not None and RingRegs.lookup("ctl").unimp_mask == 0x2  # type: ignore[union-attr]


def test_every_name_the_walker_package_exports_loads_on_first_use() -> None:
    import dmamon.devices.common as common

    assert all(getattr(common, name) is not None for name in common.__all__)
