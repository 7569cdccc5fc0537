"""The edu device's registers, interrupts and DMA against QEMU 7.2.

QEMU 7.2 ends with ``qemu: hardware error: EDU: DMA range ... out of bounds`` (abort) on
any DMA not strictly inside edu's 4 KiB buffer: its check also refuses a transfer that
ends at the buffer's end and one of 0 bytes. dmamon's fix switch ``edu-dma-bounds``
(default on) checks as upstream does now, refusing only ranges that leave the buffer and
carrying on; switched off, 7.2's check applies and the machine stops as ``crashed``, its
stand-in for QEMU's abort. Both settings are checked.
"""

from __future__ import annotations

from typing import Any

import pytest
from conformance_harness import QEMU, is_pause
from conformance_programs import (
    OUT_OF_RANGE,
    edu_dma_programs,
    edu_register_programs,
)

pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")

QEMU_ABORT = (-6, 134)  # SIGABRT from hw_error()


@pytest.mark.parametrize("name", [p.name for p in edu_register_programs()])
def test_edu_register_replies_match_qemu(conformance: Any, name: str) -> None:
    assert conformance.outcome(name).mismatches() == []


@pytest.mark.parametrize("name", [p.name for p in edu_dma_programs()])
def test_edu_dma_replies_match_qemu(conformance: Any, name: str) -> None:
    assert conformance.outcome(name).mismatches() == []


@pytest.mark.xfail(
    strict=True,
    reason="edu's factorial takes fact_delay_ns of virtual time in dmamon; QEMU computes "
    "it on a thread, so a client that never steps the clock sees it done (devices/edu.py)",
)
def test_a_factorial_completes_without_the_clock_moving_as_in_qemu(conformance: Any) -> None:
    assert conformance.outcome("edu-factorial-without-time").mismatches() == []


def _before_the_dma(outcome: Any) -> list[int]:
    lines = list(outcome.program.lines)
    return list(range(lines.index(next(ln for ln in lines if is_pause(ln)))))


OUTSIDE = ["edu-dma-out-of-range-to-ram", "edu-dma-out-of-range-from-ram"]
# QEMU 7.2's within() test also refuses these (off-by-one fixed upstream, QEMU issue 1254)
BOUNDARY = ["edu-dma-ending-at-the-buffer-end", "edu-dma-of-zero-bytes"]


def _after_the_dma(outcome: Any) -> list[tuple[str, str]]:
    return [(s.request, s.reply) for s in outcome.dmamon[len(_before_the_dma(outcome)) :]]


@pytest.mark.parametrize("name", OUTSIDE + BOUNDARY)
def test_a_dma_qemu_7_2_refuses_crashes_dmamon_as_it_aborts_qemu_with_edu_dma_bounds_off(
    conformance: Any, name: str
) -> None:
    o = conformance.outcome(f"{name}-bounds-off")
    assert o.mismatches(only=_before_the_dma(o)) == []
    assert o.qemu_exit in QEMU_ABORT
    assert "qemu: hardware error: EDU: DMA range 0x" in o.qemu_stderr
    assert o.machine.run_state == "crashed"


@pytest.mark.parametrize("name", OUTSIDE)
def test_an_out_of_range_dma_is_refused_and_the_machine_runs_on_with_edu_dma_bounds_on(
    conformance: Any, name: str
) -> None:
    o = conformance.outcome(f"{name}-bounds-on")
    assert o.mismatches(only=_before_the_dma(o)) == []
    assert o.qemu_exit in QEMU_ABORT
    cmd = OUT_OF_RANGE[name][3]
    assert _after_the_dma(o) == [
        ("readq 0xfe000098", f"OK 0x{cmd & ~1:016x}"),  # RUN cleared
        ("read 0x1200000 16", "OK 0x" + "ee" * 16),  # nothing copied
    ]
    assert o.machine.run_state == "running"


def test_a_dma_of_the_whole_buffer_runs_with_edu_dma_bounds_on(conformance: Any) -> None:
    # upstream's check takes the full 4 KiB; QEMU 7.2 aborted (checked above)
    o = conformance.outcome("edu-dma-ending-at-the-buffer-end-bounds-on")
    assert o.mismatches(only=_before_the_dma(o)) == []
    assert _after_the_dma(o) == [
        ("readq 0xfe000098", "OK 0x0000000000000002"),
        ("read 0x1200000 16", "OK 0x" + "00" * 16),  # the (fresh, zero) buffer arrived
    ]


def test_a_dma_of_zero_bytes_copies_nothing_with_edu_dma_bounds_on(conformance: Any) -> None:
    o = conformance.outcome("edu-dma-of-zero-bytes-bounds-on")
    assert o.mismatches(only=_before_the_dma(o)) == []
    assert _after_the_dma(o) == [
        ("readq 0xfe000098", "OK 0x0000000000000002"),
        ("read 0x1200000 16", "OK 0x" + "ee" * 16),
    ]


def test_unmasking_intx_delivers_a_pending_interrupt_as_in_qemu(conformance: Any) -> None:
    assert conformance.outcome("edu-intx-unmask-delivers-pending").mismatches() == []
