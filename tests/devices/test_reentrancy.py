"""DMA into MMIO with real device models: the re-entrancy guard around edu, Li Qiang's
three cases with two edu devices, the bottom-half guard on edu's DMA timer, the modelled
stack overflow and the sim heap (kernel-level guard tests are in tests/memory)."""

from __future__ import annotations

import re

import pytest
from dmamon.devices import Device, Machine
from dmamon.devices.edu import Edu
from dmamon.memory import MemoryRegion, MemTxResult, MmioOps

A, B = 0xFE000000, 0xFE100000  # BAR0 of edu0 (00:01.0) and edu1 (00:02.0)
CMD, LIVENESS = 0x98, 0x04
RUN_TO_RAM = 0x3
EDU = "edu,dma_inline={inline},busy_check={busy},dma_mask=0xffffffffffffffff"
WARN_98 = "warning: Blocked re-entrant IO on MemoryRegion: edu-mmio at addr: 0x98"
OVERFLOW = (
    "stack overflow: 65 nested MMIO dispatches into {dev} (QEMU dies here with SIGSEGV: "
    "the handler recursed until the stack ran out)"
)


def edus(n: int = 1, inline: bool = True, busy: bool = False) -> Machine:
    """``n`` edu devices with BAR0 at 0xfe000000, 0xfe100000, ..., memory and bus master on."""
    spec = EDU.format(inline="on" if inline else "off", busy="on" if busy else "off")
    m = Machine(devices=[f"{spec},id=edu{i}" for i in range(n)])
    io = m.io_as
    for i in range(n):
        cfg = 0x80000000 | (i + 1) << 11
        io.store(0xCF8, 4, cfg | 0x10)
        io.store(0xCFC, 4, A + i * 0x100000)
        io.store(0xCF8, 4, cfg | 0x04)
        io.store(0xCFC, 2, 0x0006)
    return m


def edu0(m: Machine) -> Edu:
    d = m.device("edu0")
    assert isinstance(d, Edu)
    return d


def load_buffer(m: Machine, bar: int, value: int) -> None:
    """Put ``value`` (8 bytes) at the start of an edu's DMA buffer with a RAM -> edu DMA."""
    m.memory.write(0x100000, value.to_bytes(8, "little"))
    dma(m, bar, 0x100000, 0x40000, 8, 0x1)
    m.step(200_000_000)


def dma(m: Machine, bar: int, src: int, dst: int, count: int, cmd: int) -> MemTxResult:
    mem = m.memory
    mem.store(bar + 0x80, 8, src)
    mem.store(bar + 0x88, 8, dst)
    mem.store(bar + 0x90, 8, count)
    return mem.store(bar + CMD, 8, cmd)


def lines(m: Machine) -> list[str]:
    """Trace and warning lines, with the region numbers (creation order) blanked out."""
    return [re.sub(r" mr 0x[0-9a-f]+ ", " mr _ ", r.text) for r in m.engine.tracer.ring]


def warnings(m: Machine) -> list[str]:
    return [r.text for r in m.engine.tracer.ring if r.kind == "warning"]


# -- A -> A: a DMA into the device's own command register (Lab A1) ------------------------


def self_dma(m: Machine) -> MemTxResult:
    load_buffer(m, A, RUN_TO_RAM)
    return dma(m, A, 0x40000, A + CMD, 8, RUN_TO_RAM)


def test_a_dma_into_its_own_command_register_is_blocked_with_qemus_warning() -> None:
    m = edus()
    assert self_dma(m) == MemTxResult.OK
    assert warnings(m) == [WARN_98]
    assert m.run_state == "running"


def test_the_blocked_dma_fails_with_access_error_and_edu_finishes_with_run_clear() -> None:
    m = edus()
    m.engine.tracer.set_state("edu_dma_done", True)
    self_dma(m)
    assert lines(m)[-1] == "edu_dma_done dev edu0 dir edu->ram count 0x8 result MEMTX_ACCESS_ERROR"
    assert m.memory.load(A + CMD, 8) == (MemTxResult.OK, RUN_TO_RAM & ~1)


def test_without_the_guard_self_dma_recurses_until_the_machine_crashes() -> None:
    m = edus()
    m.engine.fixes.set("reentrancy-guard", False)
    assert self_dma(m) == MemTxResult.ERROR
    assert m.run_state == "crashed" and m.status() == "crashed"
    halt = m.engine.halt
    assert halt is not None and halt.summary == OVERFLOW.format(dev="edu0")
    assert len(halt.details) == 65
    assert halt.details == tuple(
        f"  #{i} edu0 edu-mmio+0x98 write 0x3 (8 bytes)" for i in range(65)
    )


def test_the_crash_report_is_also_given_as_warnings() -> None:
    m = edus()
    m.engine.fixes.set("reentrancy-guard", False)
    self_dma(m)
    # issue 9: the 65 identical frames fold into one line, as `info status` shows them
    assert warnings(m) == [
        "warning: machine crashed: " + OVERFLOW.format(dev="edu0"),
        "warning: #0..#64 (65×) edu0 edu-mmio+0x98 write 0x3 (8 bytes)",
    ]
    assert len(m.engine.halt.details) == 65  # the data keeps every frame


def test_a_smaller_depth_limit_crashes_sooner() -> None:
    m = edus()
    m.engine.max_io_depth = 4
    m.engine.fixes.set("reentrancy-guard", False)
    self_dma(m)
    assert m.engine.halt is not None
    assert m.engine.halt.summary.startswith("stack overflow: 5 nested MMIO dispatches into edu0")


def test_after_the_crash_the_guard_flags_are_clear_and_system_reset_recovers() -> None:
    m = edus()
    m.engine.fixes.set("reentrancy-guard", False)
    self_dma(m)
    assert not m.device("edu0").guard.engaged_in_io and m.engine.io_chain == []
    m.system_reset()
    assert m.run_state == "running" and m.engine.halt is None


def test_the_busy_check_alone_drops_the_nested_command_without_any_warning() -> None:
    m = edus(busy=True)
    m.engine.fixes.set("reentrancy-guard", False)
    assert self_dma(m) == MemTxResult.OK
    assert m.run_state == "running" and warnings(m) == []


# -- the DMA timer: only the bottom-half guard covers it ---------------------------------


def timer_self_dma(m: Machine) -> None:
    load_buffer(m, A, RUN_TO_RAM)
    m.engine.tracer.set_state("memory_region_ops_write", True)
    dma(m, A, 0x40000, A + CMD, 8, RUN_TO_RAM)
    m.engine.tracer.ring.clear()
    m.step(100_000_000)


def test_a_timer_dma_into_its_own_register_is_blocked_by_the_bh_guard() -> None:
    m = edus(inline=False)
    timer_self_dma(m)
    assert lines(m) == [WARN_98]
    assert not edu0(m).dma_timer.pending


def test_without_the_bh_guard_the_timer_dma_writes_the_command_register() -> None:
    m = edus(inline=False)
    m.engine.fixes.set("bh-guard", False)
    timer_self_dma(m)
    assert lines(m) == [
        "memory_region_ops_write cpu -1 mr _ addr 0xfe000098 value 0x3 size 8 name 'edu-mmio'"
    ]
    # The device re-armed its own DMA timer: a command nobody in the guest issued.
    assert edu0(m).dma_timer.pending


def test_the_bh_guard_only_marks_the_device_the_reentrancy_guard_does_the_blocking() -> None:
    m = edus(inline=False)
    m.engine.fixes.set("reentrancy-guard", False)
    timer_self_dma(m)
    assert warnings(m) == [] and len(lines(m)) == 1


# -- Li Qiang's cases with two devices ----------------------------------------------------


def test_a_dma_from_one_device_into_another_is_allowed() -> None:
    m = edus(2)
    load_buffer(m, A, 0x12345678)
    assert dma(m, A, 0x40000, B + LIVENESS, 4, RUN_TO_RAM) == MemTxResult.OK
    assert m.memory.load(B + LIVENESS, 4) == (MemTxResult.OK, 0xEDCBA987)
    assert warnings(m) == []


def ping_pong(m: Machine) -> MemTxResult:
    """edu0 DMAs RUN|TO_RAM into edu1's command; edu1 DMAs it back into edu0's."""
    load_buffer(m, A, RUN_TO_RAM)
    load_buffer(m, B, RUN_TO_RAM)
    mem = m.memory
    for reg, value in ((0x80, 0x40000), (0x88, A + CMD), (0x90, 8)):
        mem.store(B + reg, 8, value)
    m.engine.tracer.ring.clear()
    return dma(m, A, 0x40000, B + CMD, 8, RUN_TO_RAM)


def test_a_to_b_to_a_is_blocked_because_a_is_still_engaged() -> None:
    m = edus(2)
    assert ping_pong(m) == MemTxResult.OK
    assert warnings(m) == [WARN_98]
    assert m.run_state == "running"


def test_the_trace_shows_the_chain_of_devices() -> None:
    m = edus(2)
    m.engine.tracer.set_state("memory_region_ops_write", True)
    m.engine.tracer.set_state("edu_*", True)
    ping_pong(m)
    w = "memory_region_ops_write cpu -1 mr _ addr {:#x} value 0x3 size 8 name 'edu-mmio'"
    assert lines(m)[-7:] == [
        w.format(A + CMD),
        "edu_dma_start dev edu0 dir edu->ram src 0x40000 dst 0xfe100098 count 0x8",
        w.format(B + CMD),
        "edu_dma_start dev edu1 dir edu->ram src 0x40000 dst 0xfe000098 count 0x8",
        WARN_98,
        "edu_dma_done dev edu1 dir edu->ram count 0x8 result MEMTX_ACCESS_ERROR",
        "edu_dma_done dev edu0 dir edu->ram count 0x8 result MEMTX_OK",
    ]


def test_without_the_guard_a_to_b_to_a_ping_pongs_until_the_machine_crashes() -> None:
    m = edus(2)
    m.engine.fixes.set("reentrancy-guard", False)
    assert ping_pong(m) == MemTxResult.ERROR
    halt = m.engine.halt
    assert halt is not None and halt.summary == OVERFLOW.format(dev="edu0")
    assert halt.details[:3] == (
        "  #0 edu0 edu-mmio+0x98 write 0x3 (8 bytes)",
        "  #1 edu1 edu-mmio+0x98 write 0x3 (8 bytes)",
        "  #2 edu0 edu-mmio+0x98 write 0x3 (8 bytes)",
    )


# -- regions that opt out, and who clears the flag ---------------------------------------


class TwoRegions(Device):
    """A device with a guarded register window and a RAM-like scratch window that opts
    out of the guard (as lsi53c895a's script RAM does in QEMU)."""

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine, "dev0", {})
        self.results: list[tuple[str, MemTxResult, bool]] = []
        self.scratch_writes: list[int] = []
        self.regs_mr = MemoryRegion.io_region(
            "dev0-regs", 0x100, MmioOps(write=self._regs_write), owner=self
        )
        self.scratch = MemoryRegion.io_region(
            "dev0-scratch", 0x100, MmioOps(write=self._scratch_write), owner=self
        )
        self.scratch.disable_reentrancy_guard = True
        machine.system.add_subregion(0xFD000000, self.regs_mr)
        machine.system.add_subregion(0xFD001000, self.scratch)

    def _regs_write(self, off: int, value: int, size: int) -> None:
        if off:
            return
        mem = self.machine.memory
        for what, addr in (("scratch", 0xFD001000), ("regs", 0xFD000004)):
            r = mem.store(addr, 4, value)
            self.results.append((what, r, self.guard.engaged_in_io))

    def _scratch_write(self, off: int, value: int, size: int) -> None:
        self.scratch_writes.append(value)


def test_a_region_that_opts_out_is_reached_while_its_device_is_engaged() -> None:
    m = Machine(devices=[])
    d = TwoRegions(m)
    m.memory.store(0xFD000000, 4, 9)
    assert d.scratch_writes == [9]
    assert d.results[0] == ("scratch", MemTxResult.OK, True)


def test_an_opted_out_access_does_not_clear_the_flag_only_its_setter_does() -> None:
    m = Machine(devices=[])
    d = TwoRegions(m)
    m.memory.store(0xFD000000, 4, 9)
    assert d.results[1] == ("regs", MemTxResult.ACCESS_ERROR, True)
    assert not d.guard.engaged_in_io
    assert warnings(m) == ["warning: Blocked re-entrant IO on MemoryRegion: dev0-regs at addr: 0x4"]


# -- the sim heap --------------------------------------------------------------------------


def test_touching_a_freed_object_crashes_the_machine_with_sim_uaf() -> None:
    m = Machine()
    heap = m.device("edu0").heap

    def body() -> None:
        obj = heap.alloc("transfer", "edu_dma_begin")
        heap.use(obj, "edu_dma_timer")
        heap.free(obj, "edu_reset")
        heap.use(obj, "edu_dma_timer")

    assert m.engine.run_activation(body) is False
    assert m.run_state == "crashed"
    assert m.engine.halt is not None
    assert m.engine.halt.summary == (
        "SIM-UAF: edu0 transfer#1 freed at edu_reset, used at edu_dma_timer"
    )


def test_freeing_an_object_twice_is_reported_as_a_use_after_free() -> None:
    m = Machine()
    heap = m.device("edu0").heap

    def body() -> None:
        obj = heap.alloc("packet", "rx")
        heap.free(obj, "rx_done")
        heap.free(obj, "reset")

    assert m.engine.run_activation(body) is False
    assert m.engine.halt is not None
    assert m.engine.halt.summary == "SIM-UAF: edu0 packet#1 freed at rx_done, used at reset"


def test_live_objects_are_tracked_until_freed_and_forgotten_on_reset() -> None:
    m = Machine()
    heap = m.device("edu0").heap
    a = heap.alloc("packet", "rx")
    b = heap.alloc("packet", "rx")
    heap.free(a, "rx_done")
    assert list(heap.live.values()) == [b] and b.label == "packet#2"
    m.system_reset()
    assert heap.live == {}


@pytest.mark.parametrize("name", ["reentrancy-guard", "bh-guard"])
def test_both_switches_are_on_by_default_and_can_be_turned_off(name: str) -> None:
    m = Machine()
    fixes = m.engine.fixes
    assert fixes.get(name) is True
    fixes.set(name, False)
    assert fixes.get(name) is False
    assert Machine().engine.fixes.get(name) is True  # the state belongs to one machine
