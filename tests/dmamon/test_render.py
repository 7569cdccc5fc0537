"""x/xp/print/i/sum renderers (dmamon/render.py), byte for byte against QEMU 7.2.

Expected text is quoted inline from recorded QEMU 7.2 sessions: run1 (q35 with
intel-iommu), run2 (trace and log), run4 (pmemsave and print on edu) and run6 (log mask
and sum). "observed" lines were produced by qemu-system-x86_64 7.2.22
(Debian) through human-monitor-command while this module was written.
"""

from __future__ import annotations

import pytest

from dmamon.dumpfmt import DumpFormat, FormatState
from dmamon.hmpexpr import HmpError
from dmamon.render import (
    bsd_checksum,
    checksum_line,
    dump_chunks,
    memory_dump,
    port_value,
    print_value,
)

# The 16 bytes of the BIOS reset vector, from run1 `xp /16xb 0xfffffff0` (also at 0xffff0).
RESET_VECTOR = bytes.fromhex("ea5be000f030362f32332f393900fc00")
# observed: xp /2xg 0xfffe0020 -> 0xc70000a638e80000 0x535f000000802484
HIGH_BIT = bytes.fromhex("0000e838a60000c78424800000005f53")
# The intel_iommu VER and CAP registers, run1 `xp /2xg 0xfed90000`.
IOMMU_REGS = (0x10).to_bytes(8, "little") + (0x00D2008C22260206).to_bytes(8, "little")


def dump(spec: str, addr: int, data: bytes) -> list[str]:
    return memory_dump(addr, data, FormatState().parse(spec))


# --- xp lines from the transcripts ------------------------------------------------------


def test_bytes_print_eight_to_a_line() -> None:
    # run1: xp /16xb 0xfffffff0
    assert dump("/16xb", 0xFFFFFFF0, RESET_VECTOR) == [
        "00000000fffffff0: 0xea 0x5b 0xe0 0x00 0xf0 0x30 0x36 0x2f",
        "00000000fffffff8: 0x32 0x33 0x2f 0x39 0x39 0x00 0xfc 0x00",
    ]


def test_zero_bytes_at_address_zero() -> None:
    # run1: xp /8xb 0
    assert dump("/8xb", 0, bytes(8)) == [
        "0000000000000000: 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00"
    ]


def test_words_print_as_little_endian_hex() -> None:
    # run1 and run2: xp /4xw 0xfed90000
    assert dump("/4xw", 0xFED90000, IOMMU_REGS) == [
        "00000000fed90000: 0x00000010 0x00000000 0x22260206 0x00d2008c"
    ]


def test_giant_words_print_sixteen_hex_digits() -> None:
    # run1 and run2: xp /2xg 0xfed90000
    assert dump("/2xg", 0xFED90000, IOMMU_REGS) == [
        "00000000fed90000: 0x0000000000000010 0x00d2008c22260206"
    ]


def test_all_ones_from_an_edu_bar() -> None:
    # run4: xp /4xw, /2xg and /8xb of 0xfea00000
    ones = b"\xff" * 16
    assert dump("/4xw", 0xFEA00000, ones) == [
        "00000000fea00000: 0xffffffff 0xffffffff 0xffffffff 0xffffffff"
    ]
    assert dump("/2xg", 0xFEA00000, ones) == [
        "00000000fea00000: 0xffffffffffffffff 0xffffffffffffffff"
    ]
    assert dump("/8xb", 0xFEA00000, ones[:8]) == [
        "00000000fea00000: 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff"
    ]


def test_one_word() -> None:
    # run4: xp /1xw 0xfea00004; run2: xp /1xw 0xfed90000
    assert dump("/1xw", 0xFEA00004, bytes(4)) == ["00000000fea00004: 0x00000000"]
    assert dump("/1xw", 0xFED90000, IOMMU_REGS[:4]) == ["00000000fed90000: 0x00000010"]


def test_signed_decimal_words_are_right_aligned_in_ten_columns() -> None:
    # run1: xp /4dw 0xfffffff0
    assert dump("/4dw", 0xFFFFFFF0, RESET_VECTOR) == [
        "00000000fffffff0:   14703594  792080624  959394610   16515129"
    ]


def test_unsigned_halfwords_are_right_aligned_in_five_columns() -> None:
    # run1: xp /3uh 0xfffffff0
    assert dump("/3uh", 0xFFFFFFF0, RESET_VECTOR[:6]) == ["00000000fffffff0: 23530   224 12528"]


def test_the_sticky_sequence_from_run1_prints_as_qemu_did() -> None:
    # run1: xp /3uh ..., xp /2c 0xffffff00, xp /x 0xfffffff0, xp 0xfffffff0
    state = FormatState()
    state.parse("/3uh")
    chars = state.parse("/2c")
    assert memory_dump(0xFFFFFF00, bytes([0x66, 0xE8, 0xC3, 0x6D]), chars) == [
        "00000000ffffff00: 'f' '\\xe8' '\\xc3' 'm'"
    ]
    for spec in ("/x", None):
        fmt = state.parse(spec)
        assert memory_dump(0xFFFFFFF0, RESET_VECTOR[:2], fmt) == ["00000000fffffff0: 0x5bea"]


def test_a_failed_read_prints_cannot_access_memory() -> None:
    # run1: xp /8xb 0x20000000; run2: xp /1xb 0xfed90000, xp /4xw 0xfed9fff0
    assert dump("/8xb", 0x20000000, b"") == ["0000000020000000: Cannot access memory"]
    assert dump("/1xb", 0xFED90000, b"") == ["00000000fed90000: Cannot access memory"]
    assert dump("/4xw", 0xFED9FFF0, b"") == ["00000000fed9fff0: Cannot access memory"]


def test_the_bios_copy_below_one_megabyte() -> None:
    # run6: xp /16xb 0xffff0
    assert dump("/16xb", 0xFFFF0, RESET_VECTOR) == [
        "00000000000ffff0: 0xea 0x5b 0xe0 0x00 0xf0 0x30 0x36 0x2f",
        "00000000000ffff8: 0x32 0x33 0x2f 0x39 0x39 0x00 0xfc 0x00",
    ]


# --- widths and line breaks checked against QEMU (observed) ----------------------------------


def test_a_partial_last_line_holds_the_remaining_items() -> None:
    data = RESET_VECTOR + bytes(8)
    assert dump("/20xb", 0xFFFF0, data[:20]) == [
        "00000000000ffff0: 0xea 0x5b 0xe0 0x00 0xf0 0x30 0x36 0x2f",
        "00000000000ffff8: 0x32 0x33 0x2f 0x39 0x39 0x00 0xfc 0x00",
        "0000000000100000: 0x00 0x00 0x00 0x00",
    ]
    assert dump("/5xw", 0xFFFF0, data[:20]) == [
        "00000000000ffff0: 0x00e05bea 0x2f3630f0 0x392f3332 0x00fc0039",
        "0000000000100000: 0x00000000",
    ]
    assert dump("/3xg", 0xFFFF0, data[:24]) == [
        "00000000000ffff0: 0x2f3630f000e05bea 0x00fc0039392f3332",
        "0000000000100000: 0x0000000000000000",
    ]


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        ("/4ob", "00000000000ffff0: 0352 0133 0340   0"),
        ("/4oh", "00000000000ffff0: 055752   0340 030360 027466"),
        ("/4ow", "00000000000ffff0:   070055752 05715430360 07113631462   077000071"),
        ("/2og", "00000000000ffff0: 0274661417000070055752   03740003447113631462"),
    ],
)
def test_octal_items_use_c_alternate_form_in_fixed_columns(spec: str, line: str) -> None:
    assert dump(spec, 0xFFFF0, RESET_VECTOR[: FormatState().parse(spec).nbytes]) == [line]


def test_octal_zero_has_no_extra_leading_zero() -> None:
    # observed: xp /3o 0 with the sticky size at 4
    assert dump("/3ow", 0, bytes(12)) == ["0000000000000000:           0           0           0"]


def test_decimal_bytes_and_halfwords_use_three_and_five_columns() -> None:
    assert dump("/8db", 0xFFFF0, RESET_VECTOR[:8]) == [
        "00000000000ffff0: 234  91 224   0 240  48  54  47"
    ]
    assert dump("/4ub", 0xFFFF0, RESET_VECTOR[:4]) == ["00000000000ffff0: 234  91 224   0"]
    assert dump("/4dh", 0xFFFF0, RESET_VECTOR[:8]) == ["00000000000ffff0: 23530   224 12528 12086"]


def test_decimal_giant_words_use_twenty_columns() -> None:
    assert dump("/2dg", 0xFFFF0, RESET_VECTOR) == [
        "00000000000ffff0:  3401960375889976298    70931939903615794"
    ]


def test_only_eight_byte_items_print_as_negative_decimals() -> None:
    # observed at 0xfffe0020: /dg is signed, /ug unsigned, and /dw stays unsigned because
    # QEMU zero-extends smaller items before printing them with PRId64.
    assert dump("/2dg", 0xFFFE0020, HIGH_BIT) == [
        "00000000fffe0020: -4107282146242592768  6007520427943928964"
    ]
    assert dump("/2ug", 0xFFFE0020, HIGH_BIT) == [
        "00000000fffe0020: 14339461927466958848  6007520427943928964"
    ]
    assert dump("/4dw", 0xFFFE0020, HIGH_BIT) == [
        "00000000fffe0020:  954728448 3338666150    8397956 1398734848"
    ]
    assert dump("/2og", 0xFFFE0020, HIGH_BIT) == [
        "00000000fffe0020: 01434000012307072000000 0515370000000040022204"
    ]


def test_characters_escape_unprintable_bytes() -> None:
    assert dump("/16cb", 0xFFFE0020, HIGH_BIT) == [
        "00000000fffe0020: '\\x00' '\\x00' '\\xe8' '8' '\\xa6' '\\x00' '\\x00' '\\xc7'",
        "00000000fffe0028: '\\x84' '$' '\\x80' '\\x00' '\\x00' '\\x00' '_' 'S'",
    ]


def test_characters_with_a_wide_sticky_size_print_sixteen_to_a_line() -> None:
    # observed: xp /9cw 0xffff0 prints 36 characters as 16 + 16 + 4
    lines = dump("/9cw", 0xFFFF0, RESET_VECTOR + bytes(20))
    assert [line.count("'") // 2 for line in lines] == [16, 16, 4]
    assert lines[0] == (
        "00000000000ffff0: '\\xea' '[' '\\xe0' '\\x00' '\\xf0' '0' '6' '/' '2' '3' '/' '9' '9'"
        " '\\x00' '\\xfc' '\\x00'"
    )
    assert lines[2] == "0000000000100010: '\\x00' '\\x00' '\\x00' '\\x00'"


def test_characters_escape_quote_backslash_newline_and_return() -> None:
    assert dump("/4cb", 0, b"'\\\n\r") == ["0000000000000000: '\\'' '\\\\' '\\n' '\\r'"]


def test_a_count_of_zero_prints_nothing() -> None:
    assert dump("/0x", 0, b"") == []  # observed: xp /0x 0


def test_a_dump_that_fails_part_way_ends_with_cannot_access_memory() -> None:
    # QEMU prints the lines it could read, then the failing line, then stops.
    assert dump("/20xb", 0x1000, bytes(8)) == [
        "0000000000001000: 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00",
        "0000000000001008: Cannot access memory",
    ]


def test_addresses_wrap_at_64_bits() -> None:
    assert dump("/4xw", 0xFFFFFFFFFFFFFFF8, bytes(16)) == [
        "fffffffffffffff8: 0x00000000 0x00000000 0x00000000 0x00000000"
    ]
    assert dump("/16xb", 0xFFFFFFFFFFFFFFF8, bytes(16))[1].startswith("0000000000000000:")


def test_big_endian_guests_can_be_rendered() -> None:
    assert memory_dump(0, b"\x12\x34", DumpFormat(1, "x", 2), byteorder="big") == [
        "0000000000000000: 0x1234"
    ]


def test_format_i_cannot_be_dumped() -> None:
    with pytest.raises(HmpError, match=r"^format 'i' needs a CPU; dmamon has none$"):
        memory_dump(0, b"", DumpFormat(1, "i", -1))


def test_more_data_than_the_format_covers_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="17 bytes given for a 16-byte dump"):
        memory_dump(0, bytes(17), DumpFormat(4, "x", 4))


def test_dump_chunks_are_one_read_per_output_line() -> None:
    assert dump_chunks(0xFED90000, DumpFormat(4, "x", 4)) == [(0xFED90000, 16)]
    assert dump_chunks(0xFFFF0, DumpFormat(20, "x", 1)) == [
        (0xFFFF0, 8),
        (0xFFFF8, 8),
        (0x100000, 4),
    ]
    assert dump_chunks(0, DumpFormat(9, "c", 4)) == [(0, 16), (16, 16), (32, 4)]
    assert dump_chunks(0, DumpFormat(0, "x", 4)) == []


# --- print -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (0x12, "x", "0x12"),  # run1: print 0x10+2
        (0xFF, "x", "0xff"),  # run1: p/x 255
        (0x8, "x", "0x8"),  # run4: print 16 /2
        (0x220, "x", "0x220"),  # run4
        (0x10, "d", "16"),  # run4: p /d 0x10
        ((1 << 64) - 1, "u", "18446744073709551615"),  # run4: p /u -1
        (8, "o", "010"),  # run4: p /o 8
        (65, "c", "'A'"),  # run4: p /c 65
    ],
)
def test_print_matches_the_transcripts(value: int, fmt: str, text: str) -> None:
    assert print_value(value, fmt) == text


def test_print_shows_zero_without_a_prefix_in_hex_and_octal() -> None:
    # observed: print 0, p /o 0 and p /x 0 all print "0" (C's %#x and %#o)
    assert print_value(0, "x") == "0"
    assert print_value(0, "o") == "0"


def test_print_decimal_is_signed() -> None:
    assert print_value((1 << 64) - 1, "d") == "-1"  # observed: p /d -1


def test_print_format_i_prints_decimal() -> None:
    assert print_value(5, "i") == "5"  # observed: p /i 5


def test_print_characters_use_qemus_escapes() -> None:
    assert print_value(10, "c") == "'\\n'"  # observed
    assert print_value(13, "c") == "'\\r'"  # observed
    assert print_value(39, "c") == "'\\''"  # observed
    assert print_value(92, "c") == "'\\\\'"  # observed
    assert print_value(32, "c") == "' '"  # observed
    assert print_value(127, "c") == "'\\x7f'"  # observed


def test_print_characters_above_a_byte_show_the_whole_c_int() -> None:
    assert print_value(0x141, "c") == "'\\x141'"  # observed: p /c 0x141
    assert print_value((1 << 64) - 1, "c") == "'\\xffffffff'"  # observed: p /c -1


def test_print_accepts_a_parsed_format() -> None:
    assert print_value(16, DumpFormat(1, "d", 4)) == "16"


# --- i (port read) and sum ---------------------------------------------------------------


def test_port_read_of_a_long() -> None:
    # run1: i /x 0xcf8
    assert port_value(4, 0xCF8, 0x80000094) == "portl[0x0cf8] = 0x80000094"


def test_port_reads_of_bytes_and_words_pad_to_their_size() -> None:
    assert port_value(1, 0xCF8, 0) == "portb[0x0cf8] = 0x00"  # observed: i /b 0xcf8
    assert port_value(2, 0xCF8, 0) == "portw[0x0cf8] = 0x0000"  # observed: i /h 0xcf8
    assert port_value(1, 0x80, 0xFF) == "portb[0x0080] = 0xff"  # observed: i 0x80
    assert port_value(4, 0x1CF8, 0xFFFFFFFF) == "portl[0x1cf8] = 0xffffffff"  # observed


def test_an_eight_byte_port_read_is_a_byte_padded_to_sixteen_digits() -> None:
    assert port_value(8, 0xCF8, 0) == "portb[0x0cf8] = 0x0000000000000000"  # observed: i /g


def test_bsd_checksum_of_the_reset_vector() -> None:
    # run6: sum 0xffff0 16 -> 54987 (the same bytes as xp /16xb 0xffff0)
    assert bsd_checksum(RESET_VECTOR) == 54987
    assert checksum_line(bsd_checksum(RESET_VECTOR)) == "54987"


def test_checksum_of_nothing_is_five_zeros() -> None:
    # run1: sum 0 1024 over zeroed RAM; run4/run6: sum 0xfffffff0 16 (whose 32-bit end
    # address wraps to 0, so QEMU sums no bytes at all)
    assert checksum_line(bsd_checksum(bytes(1024))) == "00000"
    assert checksum_line(bsd_checksum(b"")) == "00000"


def test_checksum_rotates_right_before_adding() -> None:
    assert bsd_checksum(b"\x01\x00") == 0x8000
    assert bsd_checksum(b"\x01\x01") == 0x8001


def test_bsd_checksum_skipping_zero_runs_equals_the_byte_loop() -> None:
    import random

    from dmamon.render import bsd_checksum

    def byte_loop(data: bytes) -> int:
        total = 0
        for b in data:
            total = ((total >> 1) | (total << 15)) & 0xFFFF
            total = (total + b) & 0xFFFF
        return total

    rng = random.Random(9)
    for _ in range(200):
        n = rng.randrange(0, 120)
        data = bytes(rng.choice((0, 0, 0, rng.randrange(256))) for _ in range(n))
        assert bsd_checksum(data) == byte_loop(data)
