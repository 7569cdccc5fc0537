"""The pygments lexer for .dmamon scripts (dmamon/lexer.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from pygments.lexers import (  # type: ignore[import-untyped, unused-ignore]
    get_lexer_by_name,
    get_lexer_for_filename,
)
from pygments.token import (  # type: ignore[import-untyped, unused-ignore]
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
    _TokenType,
)

from dmamon.lexer import ASSERTION, ASSERTIONS, COMMAND, FORMAT, DmamonLexer

Tokens = list[tuple[_TokenType, str]]


def lex(text: str) -> Tokens:
    """Tokens of ``text`` without whitespace, merged the way pygments yields them."""
    return [(t, v) for t, v in DmamonLexer().get_tokens(text) if t is not Whitespace]


def test_the_lexer_is_found_by_name_through_the_entry_point() -> None:
    assert isinstance(get_lexer_by_name("dmamon"), DmamonLexer)


def test_the_lexer_is_found_by_file_name() -> None:
    assert isinstance(get_lexer_for_filename("lab1.dmamon"), DmamonLexer)


def test_pygmentize_colours_a_script(tmp_path: Path) -> None:
    script = tmp_path / "lab.dmamon"
    script.write_text("# check VER\nxp /1xw 0xfed90000\nexpect-output 0x00000010\n")
    result = subprocess.run(
        [sys.executable, "-m", "pygments", "-l", "dmamon", "-f", "terminal", str(script)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "\x1b[" in result.stdout
    assert "0xfed90000" in result.stdout


def test_an_xp_line_is_command_format_and_number() -> None:
    assert lex("xp /4xw 0xfed90000") == [
        (COMMAND, "xp"),
        (FORMAT, "/4xw"),
        (Number.Hex, "0xfed90000"),
    ]


def test_a_joined_format_is_split_from_the_command() -> None:
    assert lex("xp/4xw 0x1000")[:2] == [(COMMAND, "xp"), (FORMAT, "/4xw")]


def test_a_hyphenated_command_is_one_keyword() -> None:
    assert lex("trace-event dma_* on") == [
        (COMMAND, "trace-event"),
        (Name, "dma_"),
        (Operator, "*"),
        (Keyword.Constant, "on"),
    ]


def test_underscored_commands_are_one_keyword() -> None:
    assert lex("system_reset") == [(COMMAND, "system_reset")]


def test_a_line_starting_with_hash_is_a_comment() -> None:
    assert lex("# set up the device") == [(Comment.Single, "# set up the device")]


def test_an_indented_hash_line_is_a_comment() -> None:
    assert lex("   # indented") == [(Comment.Single, "# indented")]


def test_a_hash_after_a_command_is_not_a_comment() -> None:
    tokens = lex("print 1 # two")
    assert all(t is not Comment.Single for t, _ in tokens)
    assert (Text, "#") in tokens


def test_each_assertion_keyword_has_its_own_token_type() -> None:
    for word in ASSERTIONS:
        assert lex(f"{word} x")[0] == (ASSERTION, word)
    assert ASSERTION is not COMMAND


def test_a_word_that_only_starts_like_an_assertion_is_a_command() -> None:
    assert lex("expected")[0] == (COMMAND, "expected")
    assert lex("expect-logs")[0] == (COMMAND, "expect-logs")


def test_an_expect_line_has_symbol_operators_and_numbers() -> None:
    assert lex("expect edu0.status & 0x1 == 0") == [
        (ASSERTION, "expect"),
        (Name.Variable, "edu0"),
        (Punctuation, "."),
        (Name.Attribute, "status"),
        (Operator, "&"),
        (Number.Hex, "0x1"),
        (Operator, "=="),
        (Number.Integer, "0"),
    ]


def test_comparison_operators_are_single_tokens() -> None:
    ops = [v for t, v in lex("expect a != b <= c >= d < e > f | g") if t is Operator]
    assert ops == ["!=", "<=", ">=", "<", ">", "|"]


def test_numbers_with_size_suffixes_are_single_tokens() -> None:
    assert lex("dma write 4K 0x10M 2G") == [
        (COMMAND, "dma"),
        (Name, "write"),
        (Number.Integer, "4K"),
        (Number.Hex, "0x10M"),
        (Number.Integer, "2G"),
    ]


def test_leading_zero_numbers_are_octal() -> None:
    assert lex("print 010")[1] == (Number.Oct, "010")


def test_on_and_off_are_constants_only_as_whole_words() -> None:
    assert lex("fix iommu-inval-drain off")[-1] == (Keyword.Constant, "off")
    assert (Keyword.Constant, "on") not in lex("trace-event online on_x")


def test_strings_and_character_constants() -> None:
    assert lex('pmemsave 0 16 "out dir/x.bin"')[-1] == (String.Double, '"out dir/x.bin"')
    assert lex("print 'A'")[-1] == (String.Char, "'A'")
    assert lex("expect-log 'vtd fault'")[-1] == (String.Single, "'vtd fault'")


def test_options_are_labels() -> None:
    assert lex("info mtree -f --json") == [
        (COMMAND, "info"),
        (Name, "mtree"),
        (Name.Label, "-f"),
        (Name.Label, "--json"),
    ]


def test_a_minus_before_a_number_is_an_operator() -> None:
    assert lex("print -1")[1:] == [(Operator, "-"), (Number.Integer, "1")]


def test_cmd2_script_shortcuts_are_commands() -> None:
    assert lex("@@lab2.dmamon")[0] == (COMMAND, "@@")
    assert lex("@setup.dmamon")[0] == (COMMAND, "@")


def test_each_line_starts_with_a_command_again() -> None:
    tokens = lex("stop\n\ncont\n  info status\n")
    assert [v for t, v in tokens if t is COMMAND] == ["stop", "cont", "info"]


def test_a_line_that_starts_with_a_number_is_lexed_as_arguments() -> None:
    assert lex("0x10 + 1")[0] == (Number.Hex, "0x10")


def test_register_names_may_hold_dots_and_hyphens() -> None:
    assert lex("reg read nic-0.rx_ring.base")[2:] == [
        (Name.Variable, "nic-0"),
        (Punctuation, "."),
        (Name.Attribute, "rx_ring.base"),
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60))
def test_any_input_lexes_without_error_tokens_and_round_trips(text: str) -> None:
    tokens = list(DmamonLexer(stripnl=False, ensurenl=False).get_tokens(text))
    assert all(t is not Error for t, _ in tokens)
    assert "".join(v for _, v in tokens) == text.replace("\r\n", "\n").replace("\r", "\n")
