"""The sticky gdb-style /fmt argument (dmamon/dumpfmt.py).

"run1"/"run4" are quoted inline from recorded QEMU 7.2 sessions (q35 with intel-iommu;
pmemsave and print on edu); "observed" means checked against qemu-system-x86_64 7.2.22.
"""

from __future__ import annotations

import pytest

from dmamon.dumpfmt import DumpFormat, FormatState, split_format
from dmamon.hmpexpr import HmpError


def test_the_initial_defaults_are_hex_and_four_bytes() -> None:
    assert FormatState().parse(None) == DumpFormat(count=1, format="x", size=4)


def test_a_full_spec_gives_count_format_and_size() -> None:
    assert FormatState().parse("/4xw") == DumpFormat(4, "x", 4)
    assert FormatState().parse("/16xb") == DumpFormat(16, "x", 1)
    assert FormatState().parse("/2xg") == DumpFormat(2, "x", 8)
    assert FormatState().parse("/3uh") == DumpFormat(3, "u", 2)


def test_capital_l_is_an_eight_byte_size() -> None:
    assert FormatState().parse("/2dL") == DumpFormat(2, "d", 8)


def test_letters_may_come_in_any_order_and_the_last_of_a_kind_wins() -> None:
    assert FormatState().parse("/2wx") == DumpFormat(2, "x", 4)  # observed
    assert FormatState().parse("/xbw") == DumpFormat(1, "x", 4)  # observed
    assert FormatState().parse("/dx") == DumpFormat(1, "x", 4)


def test_a_bare_slash_and_a_bare_count_use_the_defaults() -> None:
    state = FormatState()
    assert state.parse("/") == DumpFormat(1, "x", 4)  # observed: xp / 0
    assert state.parse("/2") == DumpFormat(2, "x", 4)  # observed: xp /2 0


def test_a_count_of_zero_is_allowed() -> None:
    assert FormatState().parse("/0x") == DumpFormat(0, "x", 4)  # observed: xp /0x 0 prints nothing


def test_format_and_size_stick_across_commands() -> None:
    # run1: `xp /3uh ...`, then `xp /2c` prints 4 characters, then `xp /x` and a bare `xp`
    # each print one 2-byte value 0x5bea.
    state = FormatState()
    state.parse("/3uh")
    assert state.parse("/2c") == DumpFormat(2, "c", 2)
    assert state.parse("/x") == DumpFormat(1, "x", 2)
    assert state.parse(None) == DumpFormat(1, "x", 2)


def test_print_and_xp_share_the_sticky_format() -> None:
    # observed: after `p /d -1`, `print 0xffffffffffffffff / 16` prints in decimal
    state = FormatState()
    state.parse("/d")
    assert state.parse(None).format == "d"


def test_an_empty_spec_is_the_same_as_none() -> None:
    state = FormatState()
    state.parse("/3ob")
    assert state.parse("") == DumpFormat(1, "o", 1)


@pytest.mark.parametrize(
    ("spec", "bad"),
    [
        ("/s", "s"),  # run1: xp /s
        ("/8xq", "q"),  # run1: xp /8xq 0
        ("/t", "t"),  # run4: p /t 5
        ("/l", "l"),  # run1: o /l 0xcf8 and i /l 0xcfc
        ("/x4", "4"),  # observed: xp /x4 0
        ("/4xw0", "0"),  # observed: xp /4xw0 0
        ("/4 x", " "),
    ],
)
def test_an_unknown_letter_is_an_invalid_char_in_format(spec: str, bad: str) -> None:
    with pytest.raises(HmpError) as info:
        FormatState().parse(spec)
    assert str(info.value) == f"invalid char in format: '{bad}'"


def test_a_bad_spec_leaves_the_sticky_state_alone() -> None:
    state = FormatState()
    state.parse("/ob")
    with pytest.raises(HmpError):
        state.parse("/dq")
    assert (state.format, state.size) == ("o", 1)


def test_trailing_whitespace_in_a_spec_is_ignored() -> None:
    assert FormatState().parse("/4xb ") == DumpFormat(4, "x", 1)


def test_a_spec_without_a_slash_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        FormatState().parse("4xw")


def test_format_i_without_a_size_has_size_minus_one_and_keeps_the_sticky_size() -> None:
    # QEMU: "for 'i', not specifying a size gives -1 as size"; observed: `xp /i 0` then
    # `xp /x 0` prints a 4-byte value again.
    state = FormatState()
    assert state.parse("/4i") == DumpFormat(4, "i", -1)
    assert state.parse(None) == DumpFormat(1, "i", -1)
    assert state.parse("/x") == DumpFormat(1, "x", 4)


def test_format_i_with_a_size_does_not_change_the_sticky_size() -> None:
    state = FormatState()
    assert state.parse("/ib") == DumpFormat(1, "i", 1)
    assert state.parse("/x") == DumpFormat(1, "x", 4)  # observed: xp /ib 0, then xp /x 0


def test_dump_commands_refuse_format_i_because_there_is_no_cpu() -> None:
    state = FormatState()
    with pytest.raises(HmpError) as info:
        state.parse("/4i", dump_command="xp")
    assert str(info.value) == "xp: format 'i' needs a CPU; dmamon has none"
    assert (state.format, state.size) == ("x", 4)


def test_a_sticky_format_i_is_refused_by_a_later_dump() -> None:
    state = FormatState()
    state.parse("/i")  # print /i is allowed: it prints in decimal
    with pytest.raises(HmpError, match=r"^x: format 'i' needs a CPU; dmamon has none$"):
        state.parse(None, dump_command="x")


def test_reset_restores_the_start_up_defaults() -> None:
    state = FormatState()
    state.parse("/3og")
    state.reset()
    assert state.parse(None) == DumpFormat(1, "x", 4)


def test_nbytes_is_count_times_size_even_for_characters() -> None:
    assert DumpFormat(4, "x", 4).nbytes == 16
    assert DumpFormat(2, "c", 2).nbytes == 4  # run1: xp /2c after /3uh printed 4 chars
    assert DumpFormat(4, "i", -1).nbytes == 0


def test_split_format_takes_a_leading_spec_off_the_arguments() -> None:
    assert split_format("/4xw 0xfed90000") == ("/4xw", "0xfed90000")
    assert split_format("  /x   0 + 1") == ("/x", "0 + 1")
    assert split_format("/4xw") == ("/4xw", "")


def test_split_format_leaves_arguments_without_a_spec_alone() -> None:
    assert split_format("0xfed90000") == (None, "0xfed90000")
    assert split_format("16 /2") == (None, "16 /2")
    assert split_format("") == (None, "")


def test_split_format_keeps_junk_in_the_spec_for_parse_to_reject() -> None:
    # observed: xp /4xw0 0 -> invalid char in format: '0'
    spec, rest = split_format("/4xw0 0")
    assert (spec, rest) == ("/4xw0", "0")
    with pytest.raises(HmpError, match=r"^invalid char in format: '0'$"):
        FormatState().parse(spec)
