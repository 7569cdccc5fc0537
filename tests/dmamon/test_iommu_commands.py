"""The IOMMU commands (dmamon/plugins/amdvi/) and their renderers (views.py, lists.py),
through Monitor.execute: output, values, --json, and every one-line error."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from monitor_session import make_monitor, run_lines

from dmamon.commands import AREAS  # noqa: F401  (registers the commands)
from dmamon.monitor import COMMANDS, Monitor
from dmamon.plugins.amdvi.lists import command_lines
from dmamon.plugins.amdvi.views import (
    Node,
    perm_short,
    perm_word,
    render_tree,
    size_words,
)

DEVICES = ["amd-iommu", "edu,id=edu0"]
PTE = 0x7E08000  # the first leaf table the driver allocates (4 levels from 0x7e05000)
SEM = 0x7E04000


def make(devices: list[str] | None = None) -> tuple[Monitor, io.StringIO]:
    return make_monitor(DEVICES if devices is None else devices)


run = run_lines


def bus_master(mon: Monitor, buf: io.StringIO) -> None:
    """edu (00:02.0): BAR0 at 0xfe000000, memory and bus mastering on."""
    run(
        mon,
        buf,
        "outl 0xcf8 0x80001010",
        "outl 0xcfc 0xfe000000",
        "outl 0xcf8 0x80001004",
        "outw 0xcfc 0x6",
    )


def mapped(drain: bool = False, devices: list[str] | None = None) -> tuple[Monitor, io.StringIO]:
    """IOMMU set up, edu bus master, IOVA 0x1000000 -> GPA 0x100000 read/write."""
    mon, buf = make(devices)
    bus_master(mon, buf)
    if drain:
        run(mon, buf, "fix iommu-inval-drain on")
    run(mon, buf, "iommu setup", "iommu map edu0 0x1000000 0x100000 0x1000 rw")
    return mon, buf


def last_json(buf: io.StringIO) -> object:
    return json.loads(buf.getvalue().splitlines()[-1])


# -- errors ----------------------------------------------------------------------------------


def test_iommu_on_a_machine_without_one_says_how_to_add_it() -> None:
    mon, buf = make(["edu,id=edu0"])
    assert run(mon, buf, "iommu walk edu0 0") == "iommu: no IOMMU (start with -device amd-iommu)\n"


def test_info_iommu_on_a_machine_without_one_says_how_to_add_it() -> None:
    mon, buf = make(["edu,id=edu0"])
    assert run(mon, buf, "info iommu") == "info iommu: no IOMMU (start with -device amd-iommu)\n"


def test_info_iotlb_on_a_machine_without_one_says_how_to_add_it() -> None:
    mon, buf = make(["edu,id=edu0"])
    assert run(mon, buf, "info iotlb") == "info iotlb: no IOMMU (start with -device amd-iommu)\n"


def test_an_unknown_subcommand_lists_the_subcommands() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu frob") == (
        "iommu: unknown subcommand 'frob' (one of: on, off, setup, map, unmap, walk, flush, "
        "faults)\n"
    )


def test_map_before_setup_asks_for_iommu_setup() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu map edu0 0x1000000 0x100000 0x1000") == (
        "iommu map: the IOMMU is not set up (run: iommu setup)\n"
    )


def test_map_with_too_few_arguments_prints_its_usage() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu map edu0 0x1000000") == (
        "usage: iommu map DEV IOVA GPA LEN [r|w|rw] [--no-invalidate] [--page-size SIZE]\n"
    )


def test_map_rejects_an_unknown_permission() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu map edu0 0x1000000 0x100000 0x1000 x") == (
        "iommu map: permission must be r|w|rw, not 'x'\n"
    )


def test_map_rejects_an_unknown_option() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu map edu0 0 0 0x1000 --frob") == (
        "iommu map: unknown option '--frob' (usage: iommu map DEV IOVA GPA LEN [r|w|rw] "
        "[--no-invalidate] [--page-size SIZE])\n"
    )


def test_an_option_without_its_value_is_refused() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu map edu0 0 0 0x1000 --page-size") == (
        "iommu map: --page-size needs a value\n"
    )


def test_map_rejects_an_iova_beyond_what_the_table_maps() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu map edu0 0x1000000000000 0x100000 0x1000") == (
        "iommu map: IOVA range 0x1000000000000+0x1000 is outside what a 4-level table maps "
        "(0-0xffffffffffff)\n"
    )


def test_map_rejects_a_negative_gpa() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu map edu0 0x1000000 -0x1000 0x1000") == (
        "iommu map: GPA range 0xfffffffffffff000+0x1000 is beyond 52 bits\n"
    )


def test_map_rejects_a_zero_length() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu map edu0 0x1000000 0x100000 0") == (
        "iommu map: the length must be positive, not 0x0\n"
    )


def test_map_rejects_more_pages_than_it_maps_at_once() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu map edu0 0 0 1G") == (
        "iommu map: 262144 pages is more than 65536 at once (use --page-size 2M for large ranges)\n"
    )


def test_map_rejects_a_page_size_no_table_level_has() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu map edu0 0 0 0x1000 --page-size 8K") == (
        "iommu map: --page-size must be 4K, 2M or 1G, not 0x2000\n"
    )


def test_map_passes_on_the_drivers_alignment_error() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu map edu0 0x1000010 0x100000 0x1000") == (
        "iommu map: IOVA 0x1000010 and GPA 0x100000 must be 0x1000-aligned and the length "
        "positive\n"
    )


def test_map_of_an_unknown_device_uses_qemus_words() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu map nic0 0 0 0x1000") == "iommu map: Device 'nic0' not found\n"


def test_a_requester_id_with_a_slot_above_31_is_refused() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu walk 00:20.0 0") == (
        "iommu walk: '00:20.0' is not a requester ID (bus:dev.fn)\n"
    )


def test_walk_takes_r_or_w_only() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu walk edu0 0 rw") == "iommu walk: permission must be r|w, not 'rw'\n"


def test_setup_refuses_a_reserved_range_outside_ram() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu setup 0x10000000") == (
        "iommu setup: reserved range 0x10000000+0x200000 must be page aligned, at least 64 KiB "
        "and inside RAM below 0x8000000\n"
    )


def test_on_with_an_argument_reports_extraneous_characters() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu on now") == "iommu on: extraneous characters at the end of line\n"


def test_faults_with_an_argument_prints_its_usage() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu faults all") == "usage: iommu faults [--clear]\n"


def test_flush_of_a_device_without_a_domain_says_so() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu flush edu0") == "iommu flush: 00:02.0 has no domain\n"


def test_info_dma_takes_no_arguments() -> None:
    mon, buf = make()
    assert run(mon, buf, "info dma all") == "info dma: extraneous characters at the end of line\n"


def test_a_quoting_error_is_one_line() -> None:
    mon, buf = make()
    assert run(mon, buf, 'iommu walk "edu0 0') == "bad quoting: No closing quotation\n"


# -- iommu, on, off, setup -------------------------------------------------------------------


def test_bare_iommu_reports_translation_off_on_a_fresh_machine() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu") == (
        "device[0] (00:01.0): translation off, not set up by iommu setup, 0 domains, "
        "IOTLB 0 entries\n"
    )
    assert mon.value == "off"


def test_setup_programs_the_reserved_range_and_turns_translation_on() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu setup") == (
        "iommu setup: device table, command buffer and event log programmed; translation on; "
        "new domains get 4-level tables\n"
        "  reserved range (iommu setup): 0x7e00000-0x7ffffff (2 MiB)\n"
        "    device table    0x7e00000  256 entries\n"
        "    command buffer  0x7e02000  256 entries, head 0x0 tail 0x0\n"
        "    event log       0x7e03000  256 entries, head 0x0 tail 0x0\n"
        "    semaphore       0x7e04000  (COMPLETION_WAIT stores here)\n"
        "    page tables     0x7e05000  0 pages used\n"
    )
    assert mon.value == 0x7E00000


def test_setup_takes_a_base_a_size_and_levels() -> None:
    mon, buf = make()
    out = run(mon, buf, "iommu setup 0x400000 64K --levels 3 --no-enable")
    assert out.splitlines()[:2] == [
        "iommu setup: device table, command buffer and event log programmed; translation off; "
        "new domains get 3-level tables",
        "  reserved range (iommu setup): 0x400000-0x40ffff (64 KiB)",
    ]


def test_iommu_on_with_nothing_programmed_sets_up_first() -> None:
    mon, buf = make()
    out = run(mon, buf, "iommu on")
    assert out.splitlines()[0] == (
        "iommu on: nothing was programmed yet: set up as a guest driver would"
    )
    assert out.splitlines()[-1] == (
        "iommu: translation on (Control 0x1005); PCI DMA goes through the IOMMU"
    )
    assert mon.value == "on"


def test_iommu_off_clears_iommu_en_and_keeps_the_setup() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu off", "iommu") == (
        "iommu: translation off (Control 0x1004); PCI DMA passes untranslated\n"
        "device[0] (00:01.0): translation off, set up in 0x7e00000+0x200000 (iommu setup), "
        "0 domains, IOTLB 0 entries\n"
    )


def test_iommu_on_after_programming_by_hand_only_sets_iommu_en() -> None:
    mon, buf = make()
    run(
        mon,
        buf,
        "writeq 0xfed80000 0x400001",
        "writeq 0xfed80008 0x0800000000410000",
        "writeq 0xfed80018 0x1004",
    )
    assert run(mon, buf, "iommu on") == (
        "iommu: translation on (Control 0x1005); PCI DMA goes through the IOMMU\n"
    )


def test_iommu_on_runs_the_commands_queued_while_translation_was_off() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup --no-enable", "iommu flush")
    assert run(mon, buf, "iommu on") == (
        "iommu: translation on (Control 0x1005); PCI DMA goes through the IOMMU\n"
        "  cmd#1 INVALIDATE_IOMMU_ALL: 0 IOTLB entries dropped\n"
        "  cmd#2 COMPLETION_WAIT store=0x7e04000 data=1 S=1 I=0: stored 0x1 at 0x7e04000\n"
    )


def test_flush_while_translation_is_off_waits() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup --no-enable")
    assert run(mon, buf, "iommu flush") == (
        "iommu flush: every IOTLB entry (INVALIDATE_IOMMU_ALL)\n"
        "  queued INVALIDATE_IOMMU_ALL: not run yet\n"
        "  queued COMPLETION_WAIT store=0x7e04000 data=1 S=1 I=0: not run yet\n"
        "  waiting: translation is off: the commands run when it is turned on\n"
    )
    assert mon.value == "pending"


# -- map, unmap, flush -----------------------------------------------------------------------


def test_map_writes_the_leaf_and_completes_its_invalidation() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu map edu0 0x1000000 0x100000 0x1000 rw") == (
        "iommu map: edu0 (devid 00:02.0) domain 1: IOVA 0x1000000-0x1000fff -> GPA "
        "0x100000-0x100fff read/write, 4 KiB pages\n"
        "  DTE of 00:02.0 now points to domain 1's 4-level table at 0x7e05000\n"
        "  leaf PTE at 0x7e08000 = 0x6000000000100001 (IOVA 0x1000000)\n"
        "  3 page-table pages allocated\n"
        "  cmd#1 INVALIDATE_DEVTAB_ENTRY devid=0x10: devid 00:02.0: nothing flushed (QEMU keeps "
        "no DTE cache)\n"
        "  cmd#2 COMPLETION_WAIT store=0x7e04000 data=1 S=1 I=0: stored 0x1 at 0x7e04000\n"
        "  cmd#3 INVALIDATE_IOMMU_PAGES domain=1 addr=0x1000000 S=0 PDE=1: domain 1: 0 IOTLB "
        "entries dropped (QEMU drops the whole domain)\n"
        "  cmd#4 COMPLETION_WAIT store=0x7e04000 data=2 S=1 I=0: stored 0x2 at 0x7e04000\n"
        "  completed: the semaphore at 0x7e04000 reads 0x2\n"
    )
    assert mon.value == "completed"


def test_map_lists_at_most_four_leaves() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    out = run(mon, buf, "iommu map edu0 0x1000000 0x100000 6*0x1000 r")
    assert "  ... and 2 more leaf PTEs\n" in out
    assert "  leaf PTE at 0x7e08018 = 0x2000000000103001 (IOVA 0x1003000)\n" in out


def test_map_without_invalidation_queues_nothing() -> None:
    mon, buf = mapped()
    assert run(mon, buf, "iommu map edu0 0x1000000 0x200000 0x1000 --no-invalidate") == (
        "iommu map: edu0 (devid 00:02.0) domain 1: IOVA 0x1000000-0x1000fff -> GPA "
        "0x200000-0x200fff read/write, 4 KiB pages\n"
        "  leaf PTE at 0x7e08000 = 0x6000000000200001 (IOVA 0x1000000)\n"
        "  no invalidation queued (--no-invalidate): the IOTLB keeps what it cached for this "
        "range\n"
    )
    assert mon.value == "none"


def test_map_json_names_the_ptes_and_the_commands() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    run(mon, buf, "iommu map edu0 0x1000000 0x100000 4K r --json")
    data = last_json(buf)
    assert isinstance(data, dict)
    assert (data["ptes"], data["perm"], data["domain"], len(data["commands"])) == (
        [PTE],
        "read",
        1,
        4,
    )
    assert data["invalidation"]["completed"] is True


def test_map_of_a_requester_id_names_it() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    out = run(mon, buf, "iommu map 00:02.0 0x1000000 0x100000 0x1000")
    assert out.splitlines()[0].startswith("iommu map: devid 00:02.0 domain 1: IOVA 0x1000000")


def test_map_of_a_board_function_finds_it_by_name() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    out = run(mon, buf, "iommu map ich9-lpc 0x1000000 0x100000 0x1000")
    assert out.splitlines()[0].startswith("iommu map: ich9-lpc (devid 00:1f.0) domain 1")


def test_a_function_behind_a_bridge_maps_with_the_bridges_requester_id() -> None:
    mon, buf = make(["amd-iommu", "pci-bridge,chassis_nr=1,id=br0", "edu,id=edu1,bus=br0"])
    run(mon, buf, "iommu setup")
    out = run(mon, buf, "iommu map edu1 0x1000000 0x100000 0x1000")
    assert out.splitlines()[0].startswith(
        "iommu map: edu1 (devid 00:02.0, its bridge's requester ID) domain 1"
    )


def test_unmap_clears_the_leaf_and_invalidates() -> None:
    mon, buf = mapped()
    assert run(mon, buf, "iommu unmap edu0 0x1000000 0x1000") == (
        "iommu unmap: edu0 (devid 00:02.0) domain 1: IOVA 0x1000000-0x1000fff, 1 leaf PTE "
        "cleared\n"
        "  zeroed 0x7e08000\n"
        "  cmd#5 INVALIDATE_IOMMU_PAGES domain=1 addr=0x1000000 S=0 PDE=1: domain 1: 0 IOTLB "
        "entries dropped (QEMU drops the whole domain)\n"
        "  cmd#6 COMPLETION_WAIT store=0x7e04000 data=3 S=1 I=0: stored 0x3 at 0x7e04000\n"
        "  completed: the semaphore at 0x7e04000 reads 0x3\n"
    )


def test_unmap_of_an_unmapped_range_says_nothing_was_there() -> None:
    mon, buf = mapped()
    out = run(mon, buf, "iommu unmap edu0 0x5000000 0x1000 --no-invalidate")
    assert out.splitlines()[1:] == [
        "  nothing was mapped there",
        "  no invalidation queued (--no-invalidate): the IOTLB keeps what it cached for this range",
    ]


def test_flush_without_a_device_invalidates_everything() -> None:
    mon, buf = mapped()
    run(mon, buf, "dma read edu0 0x1000000 8")
    assert run(mon, buf, "iommu flush") == (
        "iommu flush: every IOTLB entry (INVALIDATE_IOMMU_ALL)\n"
        "  cmd#5 INVALIDATE_IOMMU_ALL: 1 IOTLB entries dropped\n"
        "  cmd#6 COMPLETION_WAIT store=0x7e04000 data=3 S=1 I=0: stored 0x3 at 0x7e04000\n"
        "  completed: the semaphore at 0x7e04000 reads 0x3\n"
    )


def test_flush_of_a_device_invalidates_its_domain() -> None:
    mon, buf = mapped()
    out = run(mon, buf, "iommu flush edu0")
    assert out.splitlines()[:2] == [
        "iommu flush: the domain of edu0 (devid 00:02.0)",
        "  cmd#5 INVALIDATE_IOMMU_PAGES domain=1 addr=0x7ffffffffffff000 S=1 PDE=1: domain 1: "
        "0 IOTLB entries dropped (QEMU drops the whole domain)",
    ]
    assert mon.value == "completed"


def start_mapped_dma(mon: Monitor, buf: io.StringIO) -> None:
    """edu (map_dma=on) maps IOVA 0x1000000 now and writes it 100 ms later."""
    run(
        mon,
        buf,
        "writeq edu0.dma_src 0x40000",
        "writeq edu0.dma_dst 0x1000000",
        "writeq edu0.dma_count 8",
        "writeq edu0.dma_cmd 3",
    )


def test_unmap_with_drain_on_names_the_mapping_the_wait_is_held_by() -> None:
    mon, buf = mapped(drain=True, devices=["amd-iommu", "edu,id=edu0,map_dma=on"])
    start_mapped_dma(mon, buf)
    out = run(mon, buf, "iommu unmap edu0 0x1000000 0x1000")
    assert out.splitlines()[3:] == [
        "  queued COMPLETION_WAIT store=0x7e04000 data=3 S=1 I=0: deferred, the head stays on it",
        "  waiting: COMPLETION_WAIT not signalled yet (in-flight DMA still draining)",
        "  held by mapping #1 of edu0 (IOVA 0x1000000+0x8): the wait completes when the device "
        "releases it (fix iommu-inval-drain on)",
    ]
    assert mon.value == "pending"


def test_unmap_with_drain_off_says_the_mapping_became_stale() -> None:
    mon, buf = mapped(devices=["amd-iommu", "edu,id=edu0,map_dma=on"])
    start_mapped_dma(mon, buf)
    out = run(mon, buf, "iommu unmap edu0 0x1000000 0x1000")
    assert (
        "  cmd#6 COMPLETION_WAIT store=0x7e04000 data=3 S=1 I=0: stored 0x3 at 0x7e04000, "
        "1 mapping(s) still in flight became stale\n"
    ) in out
    assert mon.value == "completed"


# -- walk ------------------------------------------------------------------------------------


def test_walk_value_is_the_translated_address() -> None:
    mon, buf = mapped()
    mon.execute("iommu walk edu0 0x1000123")
    assert mon.value == 0x100123


def test_walk_value_is_fault_when_the_tables_refuse() -> None:
    mon, buf = mapped()
    mon.execute("iommu walk edu0 0x2000000 w")
    assert mon.value == "fault"


def test_walk_draws_every_level_as_a_tree() -> None:
    mon, buf = mapped()
    assert run(mon, buf, "iommu walk edu0 0x1000000") == (
        "iommu walk: edu0 (devid 00:02.0) read at IOVA 0x1000000 (spec walk, fix "
        "amdvi-page-walk on)\n"
        "├── DTE of DeviceID 0x10: device table 0x7e00000 + 0x10 * 32 = 0x7e00200\n"
        "│   ├── raw     0x6000000007e05803 0x0000000000000001 0x0000000000000000 "
        "0x0000000000000000\n"
        "│   ├── fields  V=1 TV=1 Mode=4 PTRoot=0x7e05000 IR=1 IW=1 DomainID=1 IV=0\n"
        "│   ├── perm    grants read/write, needs read: ok\n"
        "│   └── means   4-level table at 0x7e05000, domain 1\n"
        "├── level 4: table 0x7e05000 + index 0x000 (IOVA bits 47:39) * 8 = 0x7e05000\n"
        "│   ├── raw     0x6000000007e06601\n"
        "│   ├── fields  PR=1 NextLevel=3 Addr=0x7e06000 IR=1 IW=1\n"
        "│   ├── perm    grants read/write, needs read: ok\n"
        "│   └── means   present, next level 3 table at 0x7e06000\n"
        "├── level 3: table 0x7e06000 + index 0x000 (IOVA bits 38:30) * 8 = 0x7e06000\n"
        "│   ├── raw     0x6000000007e07401\n"
        "│   ├── fields  PR=1 NextLevel=2 Addr=0x7e07000 IR=1 IW=1\n"
        "│   ├── perm    grants read/write, needs read: ok\n"
        "│   └── means   present, next level 2 table at 0x7e07000\n"
        "├── level 2: table 0x7e07000 + index 0x008 (IOVA bits 29:21) * 8 = 0x7e07040\n"
        "│   ├── raw     0x6000000007e08201\n"
        "│   ├── fields  PR=1 NextLevel=1 Addr=0x7e08000 IR=1 IW=1\n"
        "│   ├── perm    grants read/write, needs read: ok\n"
        "│   └── means   present, next level 1 table at 0x7e08000\n"
        "├── level 1: table 0x7e08000 + index 0x000 (IOVA bits 20:12) * 8 = 0x7e08000\n"
        "│   ├── raw     0x6000000000100001\n"
        "│   ├── fields  PR=1 NextLevel=0 Addr=0x100000 IR=1 IW=1\n"
        "│   ├── perm    grants read/write, needs read: ok\n"
        "│   └── means   present, maps a 4 KiB page at 0x100000\n"
        "├── result: IOVA 0x1000000 -> 0x100000 (4 KiB page, grants read/write)\n"
        "└── IOTLB miss: a device access walks the tables and caches the result\n"
    )


def test_walk_of_a_read_only_page_for_a_write_names_the_level_and_the_event() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup", "iommu map edu0 0x1000000 0x100000 0x1000 r")
    out = run(mon, buf, "iommu walk edu0 0x1000000 w")
    assert out.splitlines()[-7:] == [
        "│   ├── raw     0x2000000000100001",
        "│   ├── fields  PR=1 NextLevel=0 Addr=0x100000 IR=1 IW=0",
        "│   ├── perm    grants read, needs write: DENIED",
        "│   └── means   present, maps a 4 KiB page at 0x100000",
        "├── FAULT: level 1 entry at 0x7e08000 leaves read, not write (permissions are AND-ed "
        "down the walk)",
        "│   └── event   IO_PAGE_FAULT: a device access logs it (see iommu faults)",
        "└── IOTLB: no entry (a failed translation is not cached)",
    ]


def test_walk_shows_the_stale_iotlb_entry_a_device_access_meets_first() -> None:
    mon, buf = mapped()
    bus_master(mon, buf)
    run(mon, buf, "dma read edu0 0x1000000 8", f"writeq {PTE:#x} 0")
    out = run(mon, buf, "iommu walk edu0 0x1000000")
    assert out.splitlines()[-5:] == [
        "├── FAULT: level 1 entry at 0x7e08000 is zero",
        "│   └── event   IO_PAGE_FAULT: a device access logs it (see iommu faults)",
        "└── IOTLB hit: a device access uses this cached entry, not the tables above",
        "    ├── entry   0x1000000 -> 0x100000 (4 KiB, read/write, domain 1)",
        "    └── tables  STALE: now a fault (level 1 entry at 0x7e08000 is zero)",
    ]


def test_walk_with_translation_off_is_a_single_result() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu walk edu0 0x1234") == (
        "iommu walk: edu0 (devid 00:02.0) read at IOVA 0x1234 (spec walk, fix amdvi-page-walk "
        "on)\n"
        "└── result: IOVA 0x1234 passes untranslated (grants read/write)\n"
        "    └── note    the IOMMU is disabled (Control.IommuEn=0): DMA passes untranslated\n"
    )


def test_walk_of_a_device_without_a_dte_does_not_check_permissions() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    out = run(mon, buf, "iommu walk edu0 0x100000")
    assert "│   ├── perm    not checked: V=0 passes the access untranslated\n" in out
    assert mon.value == 0x100000


def test_walk_names_the_qemu_72_walk_when_the_fix_is_off() -> None:
    mon, buf = mapped()
    out = run(mon, buf, "fix amdvi-page-walk off", "iommu walk edu0 0x2000000")
    assert out.splitlines()[0] == (
        "iommu walk: edu0 (devid 00:02.0) read at IOVA 0x2000000 (QEMU 7.2 walk, fix "
        "amdvi-page-walk off)"
    )
    assert "│   └── event   none: the access fails without an event\n" in out


def test_walk_json_carries_the_steps_and_the_device() -> None:
    mon, buf = mapped()
    run(mon, buf, "iommu walk edu0 0x1000000 w --json")
    data = last_json(buf)
    assert isinstance(data, dict)
    assert (data["device"], data["devid"], data["perm"], data["translated_addr"]) == (
        "edu0",
        "00:02.0",
        "write",
        0x100000,
    )
    assert [s["kind"] for s in data["steps"]] == ["dte", "pde", "pde", "pde", "pte"]
    assert data["steps"][-1]["entry_addr"] == PTE


# -- faults ----------------------------------------------------------------------------------


def test_faults_decodes_the_event_log() -> None:
    mon, buf = mapped()
    bus_master(mon, buf)
    run(mon, buf, "dma read edu0 0x2000000 8")
    assert run(mon, buf, "iommu faults") == (
        "event log at 0x7e03000 (256 entries): head 0x0, tail 0x10, 1 unread\n"
        "  +0x000  IO_PAGE_FAULT devid 00:02.0 address 0x2000000 flags I,read\n"
        "          raw 0x2009000000000010 0x0000000002000000\n"
    )
    assert mon.value == 1


def test_faults_before_setup_says_the_log_is_not_programmed() -> None:
    mon, buf = make()
    assert run(mon, buf, "iommu faults") == (
        "event log: not programmed (iommu setup, or write the Event Log Base register)\n"
    )


def test_faults_lists_events_the_event_log_dropped() -> None:
    mon, buf = mapped()
    bus_master(mon, buf)
    run(mon, buf, "fix amdvi-event-log off", "dma read edu0 0x2000000 8")
    assert run(mon, buf, "iommu faults") == (
        "event log at 0x7e03000 (256 entries): head 0x0, tail 0x0, 0 unread\n"
        "events raised but not written to the log: 1\n"
        "  #1 at 0 ns  IO_PAGE_FAULT devid 00:02.0 address 0x2000000 flags I,read\n"
        "          dropped: QEMU 7.2 never writes events (fix amdvi-event-log)\n"
    )


def test_faults_clear_moves_the_head_past_the_entries() -> None:
    mon, buf = mapped()
    bus_master(mon, buf)
    run(mon, buf, "dma read edu0 0x2000000 8")
    assert run(mon, buf, "iommu faults --clear").splitlines()[-1] == (
        "  event log head moved to 0x10: 1 entry consumed"
    )
    mon.execute("iommu faults")
    assert mon.value == 0


def test_faults_json_lists_each_entry() -> None:
    mon, buf = mapped()
    bus_master(mon, buf)
    run(mon, buf, "dma write edu0 0x2000000 0x00", "iommu faults --json")
    data = last_json(buf)
    assert isinstance(data, dict)
    assert data["log"] == [
        {
            "offset": 0,
            "event": "IO_PAGE_FAULT",
            "devid": "00:02.0",
            "address": 0x2000000,
            "flags": 0xA,
            "raw": [0x200A000000000010, 0x2000000],
            "text": "IO_PAGE_FAULT devid 00:02.0 address 0x2000000 flags I,write",
        }
    ]


# -- info iommu, info iotlb, info dma --------------------------------------------------------


def test_info_iommu_before_setup_has_no_reserved_range() -> None:
    mon, buf = make()
    out = run(mon, buf, "info iommu").splitlines()
    assert out[0] == (
        "device[0]: amd-iommu at 00:01.0, MMIO 0xfed80000: translation off, command buffer "
        "off, event log off, IOTLB 0 entries"
    )
    assert out[2] == "reserved range: none (iommu setup allocates one in guest RAM)"
    assert "  00:02.0 edu0           untranslated (IOMMU disabled): no device table" in out


def test_info_iommu_decodes_registers_domains_and_devices() -> None:
    mon, buf = mapped()
    out = run(mon, buf, "info iommu").splitlines()
    assert out[1] == (
        "  fixes: amdvi-cmdbuf-head-wrap=on amdvi-event-log=on amdvi-page-walk=on "
        "amdvi-status-w1c=on iommu-inval-drain=off"
    )
    for line in (
        "  0x0000 devtab_base   0x0000000007e00001  size=1 base=0x7e00000",
        "  0x0018 control       0x0000000000001005  iommu_en event_log_en cmd_buf_en",
        "  0x2020 status        0x0000000000000018  event_log_run cmd_buf_run",
        "  domain 1: root 0x7e05000, devices 00:02.0, 0 IOTLB entries",
        "  00:02.0 edu0           translated: domain 1, 4-level table at 0x7e05000, IR=1 IW=1",
        "  00:01.0 device[0]      untranslated: DTE V=0",
        "  page tables     0x7e05000  4 pages used",
    ):
        assert line in out
    assert mon.value == "on"


def test_info_iommu_shows_a_deferred_completion_wait() -> None:
    mon, buf = mapped(drain=True, devices=["amd-iommu", "edu,id=edu0,map_dma=on"])
    bus_master(mon, buf)
    start_mapped_dma(mon, buf)
    run(mon, buf, "iommu unmap edu0 0x1000000 0x1000")
    assert run(mon, buf, "info iommu").splitlines()[-2:] == [
        "COMPLETION_WAIT deferred since 0 ns (fix iommu-inval-drain): waiting for 1 in-flight "
        "mapping",
        "  mapping #1 edu0 iova 0x1000000+0x8 still uses a translation that cmd#5 (domain 1) "
        "invalidated",
    ]


def test_info_iommu_json_has_registers_and_layout() -> None:
    mon, buf = mapped()
    run(mon, buf, "info iommu --json")
    data = last_json(buf)
    assert isinstance(data, dict)
    assert (data["registers"]["control"], data["layout"]["semaphore"], data["domains"]) == (
        0x1005,
        SEM,
        [{"domain": 1, "devids": ["00:02.0"], "roots": [0x7E05000], "iotlb_entries": 0}],
    )


def test_info_iotlb_lists_entries_in_a_table() -> None:
    mon, buf = mapped()
    bus_master(mon, buf)
    run(mon, buf, "dma read edu0 0x1000000 8")
    assert run(mon, buf, "info iotlb") == (
        "IOTLB: 1 entry (successful translations, keyed by DeviceID and 4 KiB page; QEMU "
        "empties it when 1024 are full)\n"
        "  devid    iova page          -> address         page    perm  domain  page tables now\n"
        "  00:02.0  0x0000000001000000 0x0000000000100000 4 KiB   rw    1       agree\n"
    )
    assert mon.value == 1


def test_info_iotlb_marks_an_entry_the_tables_no_longer_give() -> None:
    mon, buf = mapped()
    bus_master(mon, buf)
    run(
        mon,
        buf,
        "dma read edu0 0x1000000 8",
        "iommu map edu0 0x1000000 0x300000 0x1000 r --no-invalidate",
    )
    assert run(mon, buf, "info iotlb").splitlines()[-1].endswith("STALE: now 0x300000 r")


def test_info_iotlb_says_entries_are_unused_while_translation_is_off() -> None:
    mon, buf = mapped()
    bus_master(mon, buf)
    run(mon, buf, "dma read edu0 0x1000000 8", "iommu off")
    assert run(mon, buf, "info iotlb").splitlines()[-1].endswith("unused while translation is off")


def test_info_iotlb_json_adds_the_tables_verdict() -> None:
    mon, buf = mapped()
    bus_master(mon, buf)
    run(mon, buf, "dma read edu0 0x1000000 8", "info iotlb --json")
    assert last_json(buf) == [
        {
            "devid": "00:02.0",
            "iova": 0x1000000,
            "translated_addr": 0x100000,
            "page_size": 4096,
            "perm": "read/write",
            "domain_id": 1,
            "tables": "agree",
        }
    ]


def test_info_dma_without_mappings() -> None:
    mon, buf = make()
    assert run(mon, buf, "info dma") == "DMA mappings: 0 live\nDMA checker: no reports\n"
    assert mon.value == 0


def test_info_dma_lists_a_live_mapping_with_its_translation() -> None:
    mon, buf = mapped(devices=["amd-iommu", "edu,id=edu0,map_dma=on"])
    bus_master(mon, buf)
    start_mapped_dma(mon, buf)
    assert run(mon, buf, "info dma") == (
        "DMA mappings: 1 live\n"
        "  id   device     rid      dir         bus address  len     -> GPA       translation"
        "      refs gen state\n"
        "  #1   edu0       00:02.0  to-memory   0x1000000    0x8     0x100000     iommu rw 4 KiB"
        "   1    0   live\n"
        "DMA checker: no reports\n"
    )
    assert mon.value == 1


def test_info_dma_without_an_iommu_shows_direct_mappings() -> None:
    mon, buf = make(["edu,id=edu0,map_dma=on"])
    run(mon, buf, "outl 0xcf8 0x80000810", "outl 0xcfc 0xfe000000")
    run(mon, buf, "outl 0xcf8 0x80000804", "outw 0xcfc 0x6")
    start_mapped_dma(mon, buf)
    out = run(mon, buf, "info dma").splitlines()
    assert "none (direct)" in out[2]


def test_info_dma_reports_a_stale_mapping_and_then_the_checker() -> None:
    mon, buf = mapped(devices=["amd-iommu", "edu,id=edu0,map_dma=on"])
    bus_master(mon, buf)
    start_mapped_dma(mon, buf)
    run(mon, buf, "iommu unmap edu0 0x1000000 0x1000")
    out = run(mon, buf, "info dma").splitlines()
    assert out[2].endswith("STALE")
    assert out[3] == (
        "  #1: its translation was invalidated and COMPLETION_WAIT already signalled: the guest "
        "may reuse the memory this mapping still writes"
    )
    run(mon, buf, "clock_step 100000000")
    assert run(mon, buf, "info dma") == (
        "DMA mappings: 0 live\n"
        "DMA checker: 1 report\n"
        "  edu0: mapping #1 written through a translation the IOMMU already invalidated "
        "(iova 0x1000000)\n"
    )


def test_info_dma_json_lists_mappings_pending_and_reports() -> None:
    mon, buf = mapped(drain=True, devices=["amd-iommu", "edu,id=edu0,map_dma=on"])
    bus_master(mon, buf)
    start_mapped_dma(mon, buf)
    run(mon, buf, "iommu unmap edu0 0x1000000 0x1000", "info dma --json")
    data = last_json(buf)
    assert isinstance(data, dict)
    assert (data["pending"], data["drain"], data["reports"]) == (
        [{"mapping": 1, "command": 5, "domain": 1}],
        True,
        [],
    )
    assert data["mappings"][0]["gpa"] == 0x100000


# -- shell integration -----------------------------------------------------------------------


def test_the_iommu_commands_form_their_own_area() -> None:
    assert COMMANDS["iommu"].area == "IOMMU" and "IOMMU" in AREAS


def test_iommu_completes_subcommands_then_devices_then_symbols() -> None:
    assert COMMANDS["iommu"].complete == (
        "subcommand:on,off,setup,map,unmap,walk,flush,faults",
        "device",
        "symbol",
    )


def test_the_shell_completes_iommu_subcommands_and_devices() -> None:
    from dmamon.shell import DmamonShell

    mon, buf = make()
    shell = DmamonShell(mon, stdin=io.StringIO(), stdout=buf)
    spec = COMMANDS["iommu"]
    subs = shell.complete_args(spec, "wa", "iommu wa", 6, 8)
    devs = shell.complete_args(spec, "ed", "iommu walk ed", 11, 13)
    assert (list(subs.to_strings()), list(devs.to_strings())) == (["walk"], ["edu0"])


def test_help_iommu_shows_every_subcommand() -> None:
    mon, buf = make()
    out = run(mon, buf, "help iommu")
    assert out.splitlines()[0] == (
        "iommu [on|off|setup|map|unmap|walk|flush|faults] ... -- program the AMD IOMMU as a "
        "guest driver would, and explain its translations"
    )
    for sub in ("iommu on|off", "iommu setup", "iommu map", "iommu unmap", "iommu walk"):
        assert sub in out


# -- renderers -------------------------------------------------------------------------------


def test_render_tree_draws_guides_for_nested_nodes() -> None:
    tree = [Node("a", [Node("a1", []), Node("a2", [Node("x", [])])]), Node("b", [Node("b1", [])])]
    assert render_tree("root", tree) == [
        "root",
        "├── a",
        "│   ├── a1",
        "│   └── a2",
        "│       └── x",
        "└── b",
        "    └── b1",
    ]


def test_sizes_are_words_when_they_are_whole_units() -> None:
    assert [size_words(n) for n in (4096, 2 << 20, 1 << 30, 0x1800)] == [
        "4 KiB",
        "2 MiB",
        "1 GiB",
        "6 KiB",
    ] and size_words(100) == "0x64 bytes"


def test_permissions_have_words_and_short_forms() -> None:
    assert [(perm_word(p), perm_short(p)) for p in range(4)] == [
        ("none", "-"),
        ("read", "r"),
        ("write", "w"),
        ("read/write", "rw"),
    ]


def test_command_lines_without_an_invalidation_say_the_iotlb_stays() -> None:
    assert command_lines([], None) == [
        "  no invalidation queued (--no-invalidate): the IOTLB keeps what it cached for this range"
    ]


# -- robustness ------------------------------------------------------------------------------

_WORDS = st.sampled_from(
    [
        "on",
        "off",
        "setup",
        "map",
        "unmap",
        "walk",
        "flush",
        "faults",
        "edu0",
        "mch",
        "00:02.0",
        "ff:1f.7",
        "0",
        "-1",
        "0x1000",
        "0x1000000",
        "0x100000",
        "0xfee00000",
        "0xffffffffffff000",
        "4K",
        "2M",
        "1G",
        "99999999999999999999",
        "r",
        "w",
        "rw",
        "--no-invalidate",
        "--page-size",
        "--page-size=2M",
        "--levels",
        "1",
        "7",
        "--clear",
        "--no-enable",
        "--json",
        "'",
    ]
)
_LINES = st.builds(
    lambda head, args: " ".join([head, *args]),
    st.sampled_from(["iommu", "info iommu", "info iotlb", "info dma", "dma read edu0"]),
    st.lists(_WORDS, max_size=6),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINES, min_size=1, max_size=10))
def test_random_iommu_lines_never_show_an_internal_error(lines: list[str]) -> None:
    mon, buf = make(["amd-iommu", "edu,id=edu0,map_dma=on"])
    bus_master(mon, buf)
    buf.seek(0)
    buf.truncate()
    for line in ["iommu setup", *lines]:
        mon.execute(line)
    out = buf.getvalue()
    assert "internal error" not in out and "Traceback" not in out, out


# -- issue 9: nothing silent, plurals that agree ---------------------------------------------


def test_map_says_when_it_rounds_the_length_up_to_whole_pages() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    out = run(mon, buf, "iommu map edu0 0x1000000 0x100000 0x1800")
    assert out.splitlines()[1] == "  length 0x1800 rounded up to 0x2000 (whole 4 KiB pages)"


def test_unmap_says_when_it_rounds_the_length_up() -> None:
    mon, buf = mapped()
    out = run(mon, buf, "iommu unmap edu0 0x1000000 0x10")
    assert "  length 0x10 rounded up to 0x1000 (whole 4 KiB pages)" in out.splitlines()


def test_map_refuses_a_gpa_range_where_nothing_answers() -> None:
    mon, buf = make()
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu map edu0 0x1000000 0x7fff000 0x2000") == (
        "iommu map: nothing answers at GPA 0x8000000 (RAM is 0x8000000 bytes; map RAM or a "
        "device's MMIO)\n"
    )


def test_map_accepts_a_device_bar_as_its_target() -> None:
    mon, buf = make()
    bus_master(mon, buf)
    run(mon, buf, "iommu setup")
    assert run(mon, buf, "iommu map edu0 0x1000000 0xfe000000 0x1000").startswith("iommu map: edu0")


def test_counts_agree_with_their_nouns() -> None:
    mon, buf = mapped()
    assert "1 domain, IOTLB 0 entries" in run(mon, buf, "iommu")
