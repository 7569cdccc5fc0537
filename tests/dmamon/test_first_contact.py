"""Issue 9 ("first contact"): the traps a newcomer meets in the monitor, one test each.

QEMU 7.2.22 output quoted here was recorded from ``qemu-system-x86_64 -M q35 -display none
-monitor stdio -nodefaults -device edu`` and is kept as data.
"""

from __future__ import annotations

from dmamon.memory.errors import fold_frame_lines
from monitor_session import make_monitor, run_lines

MAP_EDU0 = ("o /w 0xcf8 0x80000810", "o /w 0xcfc 0xfe000000", "o /w 0xcf8 0x80000804")
ENABLE = "o /h 0xcfc 6"

# QEMU 7.2.22: `help info mtree`
QEMU_HELP_INFO_MTREE = (
    "info mtree [-f][-d][-o][-D] -- show memory tree (-f: dump flat view for address spaces;"
    "-d: dump dispatch tree, valid with -f only);-o: dump region owners/parents;"
    "-D: dump disabled regions\n"
)


def test_help_info_sub_shows_that_subcommand_as_qemu_does() -> None:
    mon, buf = make_monitor()
    assert run_lines(mon, buf, "help info mtree") == QEMU_HELP_INFO_MTREE
    assert run_lines(mon, buf, "help info nosuch") == "unknown command: 'info nosuch'\n"


def test_sum_reads_mmio_one_byte_at_a_time_as_qemu() -> None:
    # QEMU 7.2.22 with edu's BAR0 at 0xfe000000: `sum 0xfe000000 4` prints 00000 (edu refuses
    # 1-byte accesses), while `xp /4bx` shows ed 00 00 01.
    mon, buf = make_monitor()
    run_lines(mon, buf, *MAP_EDU0, ENABLE)
    assert run_lines(mon, buf, "sum 0xfe000000 4") == "00000\n"
    assert run_lines(mon, buf, "sum 0 0x1000") == "00000\n"  # QEMU: 00000 on zeroed RAM


def test_sum_over_ram_still_sums_the_bytes() -> None:
    mon, buf = make_monitor()
    run_lines(mon, buf, "write 0x1000 2 0x0102")
    assert run_lines(mon, buf, "sum 0x1000 2") == f"{((1 << 15) + 2) & 0xFFFF:05d}\n"


def test_size_suffix_after_hex_digits_is_an_error() -> None:
    # QEMU 7.2.22: `p 0xfg` -> "print|p: extraneous characters at the end of line"
    mon, buf = make_monitor()
    assert run_lines(mon, buf, "p 0xfg") == "print|p: extraneous characters at the end of line\n"
    assert mon.failed
    assert run_lines(mon, buf, "p 4k") == "0x1000\n"


def test_qtest_errors_carry_one_prefix_in_the_monitor() -> None:
    mon, buf = make_monitor()
    out = run_lines(mon, buf, "writel 0x1000")
    assert out == "writel: missing VALUE (usage: writel ADDR VALUE)\n"


def test_clock_set_to_the_past_says_so() -> None:
    mon, buf = make_monitor()
    run_lines(mon, buf, "clock_step 100")
    out = run_lines(mon, buf, "clock_set 50")
    assert out.splitlines() == [
        "100",
        "clock_set: 50 ns is in the past (virtual time is 100 ns); time never goes back",
    ]
    assert mon.value == 100


def _crash(mon, buf) -> None:  # type: ignore[no-untyped-def]
    run_lines(
        mon,
        buf,
        "fix reentrancy-guard off",
        *MAP_EDU0,
        ENABLE,
        "write 0x100000 8 0x0300000000000000",
        "writeq edu0.dma_src 0x100000",
        "writeq edu0.dma_dst 0x40000",
        "writeq edu0.dma_count 8",
        "writeq edu0.dma_cmd 1",
        "writeq edu0.dma_src 0x40000",
        "writeq edu0.dma_dst edu0.dma_cmd",
        "writeq edu0.dma_count 8",
        "writeq edu0.dma_cmd 3",
    )
    assert mon.machine.run_state == "crashed"


def test_clock_step_after_a_crash_says_how_to_recover() -> None:
    mon, buf = make_monitor(["edu,id=edu0,dma_inline=on,busy_check=off,dma_mask=0xffffffff"])
    _crash(mon, buf)
    out = run_lines(mon, buf, "clock step 1ms")
    assert mon.failed
    assert "crashed" in out and "system_reset" in out
    out = run_lines(mon, buf, "clock_step 100")
    assert "crashed" in out and "system_reset" in out


def test_crash_report_folds_repeated_frames() -> None:
    mon, buf = make_monitor(["edu,id=edu0,dma_inline=on,busy_check=off,dma_mask=0xffffffff"])
    _crash(mon, buf)
    out = run_lines(mon, buf, "info status")
    assert "  #0..#64 (65×) edu0 edu-mmio+0x98 write 0x3 (8 bytes)\n" in out
    assert "#1 " not in out


def test_fold_frames_keeps_distinct_frames() -> None:
    lines = ["head", "#0 a", "#1 a", "#2 b", "tail"]
    assert fold_frame_lines(lines) == ["head", "#0..#1 (2×) a", "#2 b", "tail"]


def test_reg_with_swapped_arguments_suggests_the_swap() -> None:
    mon, buf = make_monitor()
    out = run_lines(mon, buf, "reg read ident edu0")
    assert out == (
        "reg: 'ident' is a register of edu0, not a device: did you mean 'reg read edu0 ident'?\n"
    )
    assert run_lines(mon, buf, "reg read nosuch ident") == "reg: device 'nosuch' not found\n"


def test_reg_write_to_read_only_bits_says_so_and_acts_as_a_guest() -> None:
    mon, buf = make_monitor()
    out = run_lines(mon, buf, "reg write edu0 ident 5")
    assert out == "reg: edu0.ident is read-only: the write was ignored, as a guest's is\n"
    assert not mon.failed
    assert run_lines(mon, buf, "reg read edu0 ident --peek") == "edu0.ident = 0x010000ed\n"
    out = run_lines(mon, buf, "reg write edu0 status 0x81")
    assert out == "reg: bits 0x1 of edu0.status are read-only: they were not written\n"
    assert run_lines(mon, buf, "reg write edu0 liveness 5") == ""


def test_plural_counts() -> None:
    from dmamon.render import plural

    assert plural(1, "device") == "1 device"
    assert plural(2, "device") == "2 devices"
    assert plural(1, "entry") == "1 entry"
    assert plural(0, "entry") == "0 entries"
    assert plural(3, "day") == "3 days"


def test_info_fixes_fits_100_columns_and_keeps_references() -> None:
    mon, buf = make_monitor()
    out = run_lines(mon, buf, "info fixes")
    assert max(len(line) for line in out.splitlines()) <= 100
    words = out.split()
    assert "CVE-2023-0330" in words and "a2e1753b8054" in words


def test_info_devices_shows_bar_and_bus_master_state() -> None:
    mon, buf = make_monitor()
    out = run_lines(mon, buf, "info devices")
    assert "  pci: COMMAND 0x0000: memory off, bus master off\n" in out
    assert "  BAR0: 32 bit memory, 1 MiB, not mapped\n" in out
    assert "'pci map edu0' sets both" in out


def test_pci_map_issues_only_the_guest_config_writes_and_prints_them() -> None:
    mon, buf = make_monitor()
    out = run_lines(mon, buf, "pci map edu0")
    assert out.splitlines() == [
        "# pci map edu0: the config writes a guest makes (00:01.0)",
        "outl 0xcf8 0x80000810",
        "outl 0xcfc 0xfe000000",
        "outl 0xcf8 0x80000804",
        "outw 0xcfc 0x6",
    ]
    assert run_lines(mon, buf, "readl edu0.ident") == "0x00000000010000ed\n"
    out = run_lines(mon, buf, "info devices")
    assert "  pci: COMMAND 0x0006: memory on, bus master on\n" in out
    assert "  BAR0: 32 bit memory, 1 MiB, at 0xfe000000\n" in out
    # the printed lines replay to the same state on a fresh machine
    other, obuf = make_monitor()
    run_lines(other, obuf, *out_lines_of_map())
    assert run_lines(other, obuf, "info devices") == out


def out_lines_of_map() -> list[str]:
    mon, buf = make_monitor()
    return run_lines(mon, buf, "pci map edu0").splitlines()


def test_pci_map_refuses_bad_addresses() -> None:
    mon, buf = make_monitor()
    out = run_lines(mon, buf, "pci map edu0 0xfe000001")
    assert out == "pci map: edu0: 0xfe000001 is not aligned to BAR0's size 0x100000\n"
    out = run_lines(mon, buf, "pci map edu0 0x100000000")
    assert out == "pci map: edu0: BAR0 is a 32-bit BAR: 0x100000000 is above 4 GiB\n"
    assert run_lines(mon, buf, "pci map nosuch") == "pci map: device 'nosuch' not found\n"
    assert run_lines(mon, buf, "pci") == "usage: pci map DEV [ADDR]\n"


def test_sum_over_a_large_hole_and_ram_finishes() -> None:
    mon, buf = make_monitor()
    run_lines(mon, buf, "write 0x7fffffe 2 0x0102")
    expected = f"{((1 << 15) + 2) & 0xFFFF:05d}\n"  # the two bytes, then 16 MiB of zeros
    assert run_lines(mon, buf, "sum 0x7fffffe 0x1000002") == expected


def test_info_devices_json_carries_the_pci_state() -> None:
    import json

    mon, buf = make_monitor()
    run_lines(mon, buf, "pci map edu0")
    (edu,) = json.loads(run_lines(mon, buf, "info devices --json"))
    assert edu["command"] == 6 and edu["bus_master"] is True and edu["bars"] == {"0": 0xFE000000}


def test_counts_agree_with_their_nouns_in_the_toolbar_and_the_run_summary() -> None:
    import io

    from dmamon.devices import Machine

    from dmamon.monitor import Monitor
    from dmamon.plugins.amdvi.views import count
    from dmamon.runner import summary_line
    from dmamon.shell import DmamonShell

    buf = io.StringIO()
    shell = DmamonShell(Monitor(Machine(), buf, buf), stdin=io.StringIO(), stdout=buf)
    assert "| 1 device " in shell.get_bottom_toolbar()  # was "1 devices"
    assert summary_line([], 0.0).startswith("0 files, 0 assertions,")
    assert count(1, "entry") == "1 entry" and count(256, "entry") == "256 entries"


def test_help_texts_carry_no_rst_markup() -> None:
    import re

    from dmamon.monitor import COMMANDS, INFO, SUBCOMMANDS

    markup = re.compile(r"``|:(func|class|meth|mod|data|attr):`")
    specs = [*COMMANDS.values(), *INFO.values()]
    specs += [s for subs in SUBCOMMANDS.values() for s in subs.values()]
    bad = [s.name for s in specs if markup.search(s.summary + s.details + s.params)]
    assert bad == []
