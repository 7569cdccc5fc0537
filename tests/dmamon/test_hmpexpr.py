"""HMP expression evaluator (dmamon/hmpexpr.py).

Strings marked "run1"/"run4"/"run6" are quoted from recorded QEMU 7.2 monitor sessions
(run1: q35 with intel-iommu, run4: pmemsave and print on edu, run6: log mask and sum);
the expected text lives in this file, nothing outside the repository is read.
Those marked "observed" were checked against qemu-system-x86_64 7.2.22 (Debian) through
human-monitor-command while this module was written.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmamon.hmpexpr import (
    MASK64,
    HmpError,
    evaluate,
    require_int32,
    scan_expression,
    split_expressions,
)

SYMBOLS = {"edu0": 0xFEA00000, "edu0.dma_cmd": 0xFEA00098, "my-dev": 0x1000, "neg": -1}


def resolve(name: str) -> int | None:
    return SYMBOLS.get(name)


def error_of(text: str, *, with_symbols: bool = False) -> str:
    with pytest.raises(HmpError) as info:
        evaluate(text, resolve if with_symbols else None)
    return str(info.value)


# --- values from the transcripts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0x10+2", 0x12),  # run1: print 0x10+2 -> 0x12
        ("255", 0xFF),  # run1: p/x 255 -> 0xff
        ("16 /2", 8),  # run4: print 16 /2 -> 0x8
        ("(0x100 + 0x10) * 2", 0x220),  # run4
        ("0x10|0x1", 0x11),  # run4
        ("0x10 & 0x30", 0x10),  # run4
        ("010", 8),  # run4: print 010 -> 0x8
        ("0x10", 16),  # run4: p /d 0x10 -> 16
        ("8", 8),  # run4: p /o 8 -> 010
        ("65", 65),  # run4: p /c 65 -> 'A'
    ],
)
def test_transcript_expressions_evaluate_as_in_qemu(text: str, value: int) -> None:
    assert evaluate(text) == value


def test_minus_one_is_returned_as_an_unsigned_64_bit_value() -> None:
    # run4: p /u -1 -> 18446744073709551615
    assert evaluate("-1") == 18446744073709551615


def test_division_by_zero_is_reported_with_qemus_message() -> None:
    assert error_of("1/0") == "division by zero"  # run4: print 1/0
    assert error_of("1 % 0") == "division by zero"


def test_an_empty_expression_is_an_unexpected_end() -> None:
    assert error_of("") == "unexpected end of expression"  # run4: print
    assert error_of("   ") == "unexpected end of expression"
    assert error_of("1 +") == "unexpected end of expression"  # observed
    assert error_of("~") == "unexpected end of expression"  # observed
    assert error_of("(") == "unexpected end of expression"  # observed


def test_a_word_without_a_resolver_is_an_invalid_char() -> None:
    assert error_of("nonsense") == "invalid char 'n' in expression"  # run1: xp /8xb nonsense
    assert error_of("notanumber") == "invalid char 'n' in expression"  # run1: pmemsave


def test_two_values_in_one_expression_are_extraneous_characters() -> None:
    # run4: print 0x1 0x2 -> "print|p: extraneous characters at the end of line"; the
    # command-name prefix is the shell's.
    assert error_of("0x1 0x2") == "extraneous characters at the end of line"


def test_an_unquoted_absolute_path_after_an_expression_is_a_division() -> None:
    # qemu-monitor.md 1.2: `pmemsave 0 16 /tmp...` -> invalid char 't' in expression
    with pytest.raises(HmpError, match=r"^invalid char 't' in expression$"):
        split_expressions("0 16 /tmp/x.bin", 2)


# --- grammar details (observed) -------------------------------------------------------------


def test_bitwise_operators_bind_tighter_than_plus_and_minus() -> None:
    # Not C: QEMU prints `print 2 & 1 + 1` as 1; C would give 2.
    assert evaluate("2 & 1 + 1") == 1
    assert evaluate("1 + 2 & 3") == 3


def test_and_or_xor_share_one_level_and_associate_to_the_left() -> None:
    # observed: print 1 | 2 ^ 3 & 4 -> 0, i.e. ((1 | 2) ^ 3) & 4
    assert evaluate("1 | 2 ^ 3 & 4") == 0


def test_multiplication_binds_tighter_than_bitwise_operators() -> None:
    assert evaluate("1 | 2 * 4") == 9
    assert evaluate("1 + 2 * 3") == 7  # observed


def test_division_is_signed_and_truncates_toward_zero() -> None:
    assert evaluate("-7 / 2") == -3 & MASK64  # observed
    assert evaluate("-7 % 2") == -1 & MASK64  # observed
    assert evaluate("7 % -2") == 1
    # observed: 0xffffffffffffffff is -1 to QEMU's int64_t arithmetic, so /16 gives 0
    assert evaluate("0xffffffffffffffff / 16") == 0
    assert evaluate("0x8000000000000000 / 2") == 0xC000000000000000  # observed


def test_arithmetic_wraps_at_64_bits() -> None:
    assert evaluate("0x7fffffffffffffff + 1") == 0x8000000000000000  # observed
    assert evaluate("0xffffffffffffffff + 2") == 1
    assert evaluate("0x100000000 * 0x100000000") == 0
    assert evaluate("~0") == MASK64
    assert evaluate("0 - 1") == MASK64


def test_the_most_negative_value_divided_by_minus_one_wraps_instead_of_trapping() -> None:
    # QEMU 7.2 itself dies with SIGFPE on `print -0x8000000000000000 / -1` (observed).
    assert evaluate("-0x8000000000000000 / -1") == 0x8000000000000000
    assert evaluate("-0x8000000000000000 % -1") == 0


def test_unary_operators_nest() -> None:
    assert evaluate("--1") == 1  # observed
    assert evaluate("- 1") == MASK64  # observed
    assert evaluate("2*-3") == -6 & MASK64  # observed
    assert evaluate("~~5") == 5
    assert evaluate("+-+1") == MASK64


def test_whitespace_is_allowed_around_every_token() -> None:
    assert evaluate("  ( 1 +\t2 ) *  3  ") == 9
    assert evaluate("1  /  2") == 0  # observed


def test_numbers_are_read_like_strtoull_base_zero() -> None:
    assert evaluate("0777") == 0o777  # observed: 0x1ff
    assert evaluate("0X10") == 16  # observed
    assert evaluate("0") == 0
    assert evaluate("18446744073709551615") == MASK64  # observed


def test_a_number_above_64_bits_is_too_large() -> None:
    assert error_of("0x10000000000000000") == "number too large"  # observed
    assert error_of("18446744073709551616") == "number too large"  # observed


def test_zero_x_without_hex_digits_and_08_read_only_the_zero() -> None:
    # observed: both give "print|p: extraneous characters at the end of line"
    assert error_of("0x") == "extraneous characters at the end of line"
    assert error_of("0xg") == "extraneous characters at the end of line"
    assert error_of("08") == "extraneous characters at the end of line"
    assert scan_expression("08") == (0, 1)


def test_binary_literals_are_not_supported() -> None:
    assert error_of("0b101") == "extraneous characters at the end of line"  # observed


def test_character_constants_give_the_character_code() -> None:
    assert evaluate("'A'") == 65  # observed
    assert evaluate("'\\'") == 0x5C  # observed: p /x '\' -> 0x5c
    assert evaluate("'''") == 0x27  # observed
    assert evaluate("'a' + 1") == 98


def test_bad_character_constants_use_qemus_messages() -> None:
    assert error_of("'") == "character constant expected"  # observed
    assert error_of("'AB'") == "missing terminating ' character"  # observed
    assert error_of("''") == "missing terminating ' character"  # observed


def test_parenthesis_errors_use_qemus_messages() -> None:
    assert error_of("(1") == "')' expected"  # observed
    assert error_of("(1 2)") == "')' expected"
    assert error_of(")") == "invalid char ')' in expression"  # observed
    assert error_of("()") == "invalid char ')' in expression"  # observed
    assert error_of("1)") == "extraneous characters at the end of line"  # observed


def test_comparison_operators_are_not_part_of_the_grammar() -> None:
    assert error_of("1<2") == "extraneous characters at the end of line"  # observed


def test_cpu_registers_are_unknown_because_dmamon_has_no_cpu() -> None:
    assert error_of("$pc") == "unknown register"  # observed for `print $nosuch`
    assert error_of("$eax + 1") == "unknown register"


# --- dmamon extensions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4K", 4096),
        ("4k", 4096),
        ("2M", 2 << 20),
        ("1G", 1 << 30),
        ("010K", 0x2000),
        ("1G*4", 4 << 30),
        ("4K + 1", 4097),
        ("0x1000 + 4K", 0x2000),
    ],
)
def test_size_suffixes_multiply_by_powers_of_1024(text: str, value: int) -> None:
    assert evaluate(text) == value


def test_a_suffix_that_overflows_64_bits_is_too_large() -> None:
    assert error_of("17179869184G") == "number too large"
    assert evaluate("17179869183G") == 0x3FFFFFFFF << 30


def test_a_suffix_after_hex_digits_is_an_error() -> None:
    # 0xfg is a typo, not 15 GiB; QEMU 7.2.22 `p 0xfg`: extraneous characters
    assert error_of("0xfg") == "extraneous characters at the end of line"
    assert error_of("0x10K") == "extraneous characters at the end of line"


def test_a_suffix_must_follow_the_digits_directly() -> None:
    assert error_of("4 K") == "extraneous characters at the end of line"


def test_symbols_are_looked_up_through_the_resolver() -> None:
    assert evaluate("edu0", resolve) == 0xFEA00000
    assert evaluate("edu0.dma_cmd", resolve) == 0xFEA00098
    assert evaluate("edu0 + 0x98", resolve) == evaluate("edu0.dma_cmd", resolve)
    assert evaluate("(edu0.dma_cmd - edu0) / 4", resolve) == 0x26


def test_a_symbol_followed_by_minus_and_a_number_is_a_subtraction() -> None:
    assert evaluate("edu0.dma_cmd-4", resolve) == 0xFEA00094
    assert evaluate("edu0-edu0", resolve) == 0


def test_a_symbol_name_may_contain_a_hyphen() -> None:
    assert evaluate("my-dev", resolve) == 0x1000
    assert evaluate("my-dev-1", resolve) == 0xFFF


def test_an_unknown_symbol_names_the_whole_word() -> None:
    assert error_of("nosuch + 1", with_symbols=True) == "unknown symbol 'nosuch'"
    assert error_of("edu1.dma_cmd", with_symbols=True) == "unknown symbol 'edu1.dma_cmd'"
    assert error_of("nosuch-1", with_symbols=True) == "unknown symbol 'nosuch-1'"


def test_a_negative_symbol_value_wraps_to_64_bits() -> None:
    assert evaluate("neg", resolve) == MASK64


# --- scanning several arguments ---------------------------------------------------------


def test_split_expressions_reads_space_separated_arguments() -> None:
    assert split_expressions("0x1000 16", 2) == [0x1000, 16]
    assert split_expressions("  0  16  ", 2) == [0, 16]
    assert split_expressions("edu0 4K", 2, resolve) == [0xFEA00000, 4096]


def test_split_expressions_joins_a_spaced_binary_operator_into_one_expression() -> None:
    assert split_expressions("0x1000 + 16 4", 2) == [0x1010, 4]
    # `5 -1` is one expression (4), so a second one is missing
    with pytest.raises(HmpError, match=r"^unexpected end of expression$"):
        split_expressions("5 -1", 2)


def test_split_expressions_rejects_extra_text() -> None:
    # run1: xp 0x1 0x2 -> "xp: extraneous characters at the end of line"
    with pytest.raises(HmpError, match=r"^extraneous characters at the end of line$"):
        split_expressions("0x1 0x2", 1)


def test_split_expressions_reports_a_missing_argument() -> None:
    with pytest.raises(HmpError, match=r"^unexpected end of expression$"):
        split_expressions("0x1000", 2)


def test_scan_expression_returns_where_the_rest_of_the_line_starts() -> None:
    line = '0x1000 16 "out.bin"'
    addr, pos = scan_expression(line)
    size, pos = scan_expression(line, pos)
    assert (addr, size, line[pos:]) == (0x1000, 16, '"out.bin"')


def test_require_int32_accepts_32_bit_values() -> None:
    assert require_int32(0xFFFFFFFF, "sum") == 0xFFFFFFFF


def test_require_int32_rejects_wider_and_negative_values() -> None:
    # observed: sum -1 1 and sum 0x100000000 1
    for value in (0x100000000, evaluate("-1")):
        with pytest.raises(HmpError, match=r"^'sum' has failed: integer is for 32-bit values$"):
            require_int32(value, "sum")


# --- property: random expressions agree with a reference evaluation -------------------------

_LEVEL = {"*": 3, "/": 3, "%": 3, "&": 2, "|": 2, "^": 2, "+": 1, "-": 1}


def _s64(v: int) -> int:
    v &= MASK64
    return v - (1 << 64) if v >= 1 << 63 else v


def _apply(op: str, a: int, b: int) -> int | None:
    """C semantics on int64_t; None for division by zero."""
    if op in "/%":
        if b == 0:
            return None
        q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
        return _s64(q) if op == "/" else _s64(a - b * q)
    result = {
        "*": a * b,
        "&": a & b,
        "|": a | b,
        "^": a ^ b,
        "+": a + b,
        "-": a - b,
    }[op]
    return _s64(result)


def _spell(value: int, how: int) -> str:
    if how == 0 or value == 0:
        return str(value)
    return hex(value) if how == 1 else "0" + format(value, "o")


numbers = st.one_of(
    st.integers(0, 20), st.integers(0, MASK64), st.sampled_from([1 << 63, MASK64, 1 << 32])
)
spaces = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> tuple[str, int | None]:
    """A fully parenthesised random expression and its reference value (None: div by 0)."""
    kind = draw(st.integers(0, 2 if depth < 4 else 0))
    if kind == 0:
        number = draw(numbers)
        return _spell(number, draw(st.integers(0, 2))), _s64(number)
    if kind == 1:
        op = draw(st.sampled_from("-~+"))
        text, value = draw(trees(depth + 1))
        if value is None:
            return f"{op}({text})", None
        result = {"-": -value, "~": ~value, "+": value}[op]
        return f"{op}({text})", _s64(result)
    op = draw(st.sampled_from(list(_LEVEL)))
    (lt, lv), (rt, rv) = draw(trees(depth + 1)), draw(trees(depth + 1))
    s1, s2 = draw(spaces), draw(spaces)
    text = f"({lt}){s1}{op}{s2}({rt})"
    if lv is None or rv is None:
        return text, None
    return text, _apply(op, lv, rv)


@settings(max_examples=300, deadline=None)
@given(trees())
def test_random_parenthesised_expressions_match_int64_c_arithmetic(
    tree: tuple[str, int | None],
) -> None:
    text, expected = tree
    if expected is None:
        with pytest.raises(HmpError, match=r"^division by zero$"):
            evaluate(text)
    else:
        assert evaluate(text) == expected & MASK64


small = st.integers(0, 1000)


@settings(max_examples=300, deadline=None)
@given(small, st.sampled_from(list(_LEVEL)), small, st.sampled_from(list(_LEVEL)), small)
def test_unparenthesised_operators_follow_qemus_three_precedence_levels(
    a: int, op1: str, b: int, op2: str, c: int
) -> None:
    text = f"{a} {op1} {b} {op2} {c}"
    if _LEVEL[op2] > _LEVEL[op1]:
        inner = _apply(op2, b, c)
        expected = None if inner is None else _apply(op1, a, inner)
    else:
        inner = _apply(op1, a, b)
        expected = None if inner is None else _apply(op2, inner, c)
    if expected is None:
        with pytest.raises(HmpError, match=r"^division by zero$"):
            evaluate(text)
    else:
        assert evaluate(text) == expected & MASK64


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789xXabcdefKMG()+-*/%&|^~' \t$_.", max_size=30))
def test_any_text_either_evaluates_to_64_bits_or_raises_hmp_error(text: str) -> None:
    try:
        value = evaluate(text, resolve)
    except HmpError:
        return
    assert 0 <= value <= MASK64


def test_deep_nesting_is_an_hmp_error_not_a_crash() -> None:
    assert evaluate("(" * 90 + "1" + ")" * 90) == 1
    assert evaluate("-" * 90 + "1") == 1
    assert error_of("(" * 5000 + "1" + ")" * 5000) == "expression too deeply nested"
    assert error_of("~" * 5000 + "1") == "expression too deeply nested"
