"""QEMU 7.2's ``amd-iommu`` against dmamon's (devices/amdvi/), with edu DMA through it.

The programs are in ``amd_iommu_programs.py``; they run on ``-device amd-iommu -device
edu`` (IOMMU at 00:01.0, edu at 00:02.0) in a run of their own, in small batches so the
programs that wait for edu's DMA overlap. The seeded random programs are named
``amdvi-random-SEED``; ``DMAMON_CONFORMANCE_AMDVI_RANDOM`` sets their count (default 64)
and ``DMAMON_CONFORMANCE_AMDVI_SEED`` the first seed (default 7000).

Where QEMU 7.2 is buggy dmamon's fix switches (default on) do what upstream QEMU or the
hardware does. Each such program runs twice: with the switch off every reply must match
QEMU 7.2; with it on the replies differ exactly where the switch says, and dmamon's
replies there are checked against the documented behaviour:

* ``amdvi-event-log``: 7.2 never writes an event (amdvi_test_mask() ORs, so EventOverflow
  always looks set) and keeps the event log head and tail on a base write.
* ``amdvi-status-w1c``: 7.2 ignores Status writes, so ComWaitInt never clears.
* ``amdvi-cmdbuf-head-wrap``: 7.2 publishes the head as the buffer's length after the last
  entry.
* ``amdvi-page-walk``: 7.2 does not check the leaf, lets DTE[TV]=0 through untranslated,
  stops silently at a zero entry, ignores IOVA bits above what the table maps, and lets
  the DTE's IR/IW refuse a Mode 0 access without a fault.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conformance_harness import QEMU, Conformance, Program

pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")


def _load_programs() -> ModuleType:
    name = "conformance_amd_iommu_programs"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent / "amd_iommu_programs.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


amd = _load_programs()
PROGRAMS = amd.all_programs()
# The QEMU side sleeps through every edu DMA in real time (about 80 DMAs here, 0.25 s
# each): many small batches, more of them at a time (QEMU idles in hlt meanwhile).
BATCH = 2
WORKERS = 6


@pytest.fixture(scope="module")
def run() -> Any:
    """Every AMD IOMMU program's outcome (all of them run on first use)."""
    return Conformance(PROGRAMS, batch=BATCH, workers=WORKERS)


def _compared(names: list[str]) -> list[str]:
    """Programs whose every reply must match QEMU (not the ``-on`` variants)."""
    switched = {f"{stem}-{s}" for stem in amd.SWITCHED for s in ("off", "on")}
    return [n for n in names if n not in switched]


def _differences(outcome: Any) -> list[tuple[str, str, str]]:
    """``(request, QEMU's reply, dmamon's reply)`` for every step where they differ."""
    return [
        (q.request, q.reply, d.reply)
        for q, d in zip(outcome.qemu, outcome.dmamon, strict=True)
        if (q.irqs, q.reply) != (d.irqs, d.reply)
    ]


def _q(value: int) -> str:
    return f"OK 0x{value:016x}"


EVT_HEAD = amd.r(amd.EVT_HEAD)
EVT_TAIL = amd.r(amd.EVT_TAIL)
STATUS = amd.r(amd.STATUS)
CMD_HEAD = amd.r(amd.CMD_HEAD)
IOMMU_STATUS = "inl 0xcfc"  # after selecting 00:01.0 COMMAND/STATUS
NO_ABORT = "OK 0x100000"  # the IOMMU's PCI status: capability list
TARGET_ABORT = "OK 0x8100000"  # ... and Signaled Target Abort
RUN_BITS = 0x18  # Status: CmdBufRun | EventLogRun


def _event(code: int, devid: int, flags: int, addr: int) -> tuple[int, int]:
    """An event log entry as the AMD IOMMU writes it: DeviceID 15:0, code and flags in
    63:48, the address in the second quadword."""
    return devid | (code << 12 | flags) << 48, addr


# --- replies that must match QEMU 7.2 ------------------------------------------------------


def test_amd_iommu_registers_after_reset_match_qemu(run: Any) -> None:
    assert run.outcome("amdvi-registers-after-reset").mismatches() == []


@pytest.mark.parametrize("name", _compared([p.name for p in amd.register_write_programs()]))
def test_amd_iommu_register_writes_read_back_as_in_qemu(run: Any, name: str) -> None:
    assert run.outcome(name).mismatches() == []


def test_amd_iommu_access_sizes_match_qemu(run: Any) -> None:
    assert run.outcome("amdvi-access-sizes").mismatches() == []


@pytest.mark.parametrize("name", _compared([p.name for p in amd.command_programs()]))
def test_amd_iommu_commands_run_as_in_qemu(run: Any, name: str) -> None:
    assert run.outcome(name).mismatches() == []


@pytest.mark.parametrize(
    "name", _compared([p.name for p in (*amd.dma_programs(), *amd.fault_programs())])
)
def test_edu_dma_through_the_amd_iommu_matches_qemu(run: Any, name: str) -> None:
    assert run.outcome(name).mismatches() == []


@pytest.mark.parametrize("seed", range(amd.RANDOM_SEED, amd.RANDOM_SEED + amd.RANDOM_COUNT))
def test_random_amd_iommu_register_traffic_matches_qemu(run: Any, seed: int) -> None:
    assert run.outcome(f"amdvi-random-{seed}").mismatches() == []


@pytest.mark.parametrize("stem", sorted(amd.SWITCHED))
def test_with_the_fix_switch_off_every_reply_matches_qemu_7_2(run: Any, stem: str) -> None:
    outcome = run.outcome(f"{stem}-off")
    assert outcome.program.fixes == ((amd.SWITCHED[stem], False),)
    assert outcome.mismatches() == []


# --- fix switches on: dmamon differs from QEMU 7.2 exactly where the switch says -----------


def test_a_base_write_resets_the_event_log_head_and_tail_with_amdvi_event_log_on(
    run: Any,
) -> None:
    o = run.outcome("amdvi-evtlog-base-write-keeps-head-and-tail-on")
    assert _differences(o) == [(EVT_HEAD, _q(0x40), _q(0)), (EVT_TAIL, _q(0x1230), _q(0))]


def test_status_writes_clear_w1c_bits_and_store_the_rest_with_amdvi_status_w1c_on(
    run: Any,
) -> None:
    # upstream amdvi_mmio_reg_write with romask 0x98 (run bits) and w1cmask 0x67
    o = run.outcome("amdvi-status-writes-on")
    assert _differences(o) == [
        (STATUS, _q(0), _q(0xFFFF_FFFF_FFFF_FF00)),  # all ones written, IOMMU off
        (STATUS, _q(RUN_BITS), _q(0xFFFF_FFFF_FFFF_FF00 | RUN_BITS)),  # Control enables
        (STATUS, _q(RUN_BITS), _q(0xFFFF_FFFF_FFFF_FF00 | RUN_BITS)),  # all ones again
    ]  # writing 0 then stores 0 in bits 63:8: the sides agree again


def test_writing_com_wait_int_clears_it_with_amdvi_status_w1c_on(run: Any) -> None:
    o = run.outcome("amdvi-completion-wait-interrupt-status-on")
    assert _differences(o) == [(STATUS, _q(RUN_BITS | 4), _q(RUN_BITS))]


def test_illegal_commands_are_written_to_the_event_log_with_amdvi_event_log_on(
    run: Any,
) -> None:
    illegal = 0x5  # ILLEGAL_COMMAND_ERROR: DeviceID 0, the opcode QEMU saw, the address
    events = [
        _event(illegal, 0, 0x0, amd.CMDBUF),  # opcode 0
        _event(illegal, 0, 0x9, amd.CMDBUF + 0x10),  # 9, as QEMU reads it from qword 1
        _event(illegal, 0, 0x0, amd.CMDBUF + 0x20),  # 0xF: qword 1 says 0
        _event(illegal, 0, 0x1, amd.CMDBUF + 0x30),  # COMPLETION_WAIT with reserved bits
        _event(illegal, 0, 0x8, amd.CMDBUF + 0x40),  # INVALIDATE_IOMMU_ALL, reserved bits
    ]
    o = run.outcome("amdvi-illegal-commands-on")
    assert _differences(o) == [
        (EVT_TAIL, _q(0), _q(0x50)),
        (f"read {amd.EVTLOG:#x} 80", amd.le(*[0] * 10), amd.le(*sum(events, ()))),
    ]


def test_the_command_head_wraps_to_zero_with_amdvi_cmdbuf_head_wrap_on(run: Any) -> None:
    o = run.outcome("amdvi-command-head-wrap-on")
    assert _differences(o) == [(CMD_HEAD, _q(0x20), _q(0))]


def test_an_iova_beyond_what_the_mode_maps_faults_with_amdvi_page_walk_on(run: Any) -> None:
    # 7.2 drops the IOVA bits above the table and reads page 0; the spec's walk faults
    o = run.outcome("amdvi-dma-iova-beyond-the-mode-on")
    assert _differences(o) == [
        (f"read {amd.DATA + 0x10:#x} 16", "OK 0x0807060504030201" + "c1" * 8, "OK 0x" + "00" * 16),
        (IOMMU_STATUS, NO_ABORT, TARGET_ABORT),
    ]


def test_a_write_through_a_mode_0_dte_without_iw_faults_with_amdvi_page_walk_on(
    run: Any,
) -> None:
    # the write is still refused on both sides; the spec's walk reports it
    o = run.outcome("amdvi-dma-dte-mode-0-without-iw-on")
    assert _differences(o) == [(IOMMU_STATUS, NO_ABORT, TARGET_ABORT)]


def test_a_zero_leaf_faults_with_amdvi_page_walk_on(run: Any) -> None:
    o = run.outcome("amdvi-dma-zero-leaf-on")
    assert _differences(o) == [(IOMMU_STATUS, NO_ABORT, TARGET_ABORT)]


def test_a_transfer_that_reaches_a_zero_entry_faults_with_amdvi_page_walk_on(run: Any) -> None:
    # the part before the zero entry lands on both sides
    o = run.outcome("amdvi-dma-across-pages-on")
    assert _differences(o) == [(IOMMU_STATUS, NO_ABORT, TARGET_ABORT)]


def test_a_write_to_a_read_only_leaf_faults_with_amdvi_page_walk_on(run: Any) -> None:
    o = run.outcome("amdvi-dma-write-to-read-only-leaf-on")
    assert _differences(o) == [(IOMMU_STATUS, NO_ABORT, TARGET_ABORT)]


def test_a_not_present_leaf_faults_instead_of_translating_with_amdvi_page_walk_on(
    run: Any,
) -> None:
    # 7.2 reads the page the entry names; the spec's walk faults and edu gets zeros
    o = run.outcome("amdvi-dma-not-present-leaf-on")
    assert _differences(o) == [
        (f"read {amd.DATA + 0x10:#x} 16", "OK 0x" + "c1" * 16, "OK 0x" + "00" * 16),
        (IOMMU_STATUS, NO_ABORT, TARGET_ABORT),
    ]


def test_a_dte_with_tv_0_stops_dma_without_an_event_with_amdvi_page_walk_on(run: Any) -> None:
    # 7.2 passes both transfers untranslated; with the switch on neither reaches memory
    o = run.outcome("amdvi-dma-dte-tv-0-on")
    assert _differences(o) == [
        (f"read {amd.IOVA + 0x800:#x} 16", "OK 0x" + "d2" * 16, "OK 0x" + "d3" * 16),
    ]


def test_io_page_faults_are_written_to_the_event_log_with_amdvi_event_log_on(run: Any) -> None:
    page_fault = 0x2  # IO_PAGE_FAULT: edu's devfn, I (0x8) | read 1 / write 2, the IOVA
    events = (
        *_event(page_fault, amd.EDU_DEVID, 0x9, amd.IOVA + 0x40),
        *_event(page_fault, amd.EDU_DEVID, 0xA, amd.IOVA + 0x80),
    )
    o = run.outcome("amdvi-io-page-fault-events-on")
    assert _differences(o) == [
        (EVT_TAIL, _q(0), _q(0x20)),
        (STATUS, _q(RUN_BITS), _q(RUN_BITS | 0x2)),  # EventLogInt: EventIntEn is set
        (f"read {amd.EVTLOG:#x} 48", amd.le(0, 0, 0, 0, 0, 0), amd.le(*events, 0, 0)),
    ]


def test_a_write_the_dte_denies_is_written_to_the_event_log_with_amdvi_event_log_on(
    run: Any,
) -> None:
    o = run.outcome("amdvi-io-page-fault-dte-without-iw-on")
    event = _event(0x2, amd.EDU_DEVID, 0xA, amd.IOVA + 0x90)
    assert _differences(o) == [
        (EVT_TAIL, _q(0), _q(0x10)),
        (f"read {amd.EVTLOG:#x} 32", amd.le(0, 0, 0, 0), amd.le(*event, 0, 0)),
    ]


ON_CHECKED = (
    "amdvi-evtlog-base-write-keeps-head-and-tail",
    "amdvi-status-writes",
    "amdvi-completion-wait-interrupt-status",
    "amdvi-illegal-commands",
    "amdvi-command-head-wrap",
    "amdvi-dma-iova-beyond-the-mode",
    "amdvi-dma-dte-mode-0-without-iw",
    "amdvi-dma-zero-leaf",
    "amdvi-dma-across-pages",
    "amdvi-dma-write-to-read-only-leaf",
    "amdvi-dma-not-present-leaf",
    "amdvi-dma-dte-tv-0",
    "amdvi-io-page-fault-events",
    "amdvi-io-page-fault-dte-without-iw",
)


def test_every_program_about_a_fix_switch_is_checked_with_the_switch_on() -> None:
    assert sorted(ON_CHECKED) == sorted(amd.SWITCHED)


def test_a_program_takes_its_fix_switches_as_a_mapping_or_as_pairs() -> None:
    as_mapping = Program("a", (), amd.DEVICES, fixes={"b-fix": True, "a-fix": False})
    as_pairs = Program("b", (), amd.DEVICES, fixes=(("a-fix", False), ("b-fix", True)))
    assert as_mapping.fixes == (("a-fix", False), ("b-fix", True))
    assert as_mapping.batch_key == as_pairs.batch_key
