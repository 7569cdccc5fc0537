"""A pygments lexer for dmamon scripts (``*.dmamon``) and the shell's input line.

Registered as the ``dmamon`` entry point in ``pygments.lexers``, so ``pygmentize -l dmamon``
works once the package is installed.

A line is a command word and its arguments. ``#`` starts a comment only as the first non-blank
character of a line, which is cmd2's rule: elsewhere it is ordinary text. Assertion commands
(``expect``, ``expect-log``, ``expect-no-log``, ``expect-output``) get their own token type so
that a script's checks stand out from its actions.
"""

from __future__ import annotations

from typing import ClassVar

# Pygments ships no type hints; "unused-ignore" keeps this clean when types-Pygments is installed.
from pygments.lexer import RegexLexer, default  # type: ignore[import-untyped, unused-ignore]
from pygments.token import (  # type: ignore[import-untyped, unused-ignore]
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

__all__ = ["ANSI_COLOURS", "ASSERTION", "ASSERTIONS", "COMMAND", "FORMAT", "DmamonLexer"]

COMMAND = Keyword
"""Token type of a command word (``xp``, ``trace-event``, ``@``)."""

ASSERTION = Name.Function
"""Token type of an assertion command; styled unlike :data:`COMMAND` by common styles."""

FORMAT = Keyword.Type
"""Token type of a ``/fmt`` spec such as ``/4xw``."""

ASSERTIONS = ("expect", "expect-log", "expect-no-log", "expect-output")
"""The assertion commands."""

ANSI_COLOURS: dict[object, str] = {
    Comment: "italic ansibrightblack",
    COMMAND: "bold ansiblue",
    ASSERTION: "bold ansimagenta",
    FORMAT: "ansicyan",
    Number: "ansiyellow",
    String: "ansigreen",
    Keyword.Constant: "ansigreen",
    Operator: "ansired",
    Name.Label: "ansicyan",
    Name.Variable: "ansicyan",
    Name.Attribute: "ansigreen",
    Name.Variable.Global: "ansiyellow",
}
"""Input-line colours in the terminal's own palette (ANSI named colours, never a fixed
RGB or 256-colour value), so they stay readable on dark and light backgrounds alike."""

# Text that can't continue a word: used to keep on/off and options from matching inside names.
_WORD_END = r"(?![\w.\-])"


class DmamonLexer(RegexLexer):  # type: ignore[misc, unused-ignore]
    """Lexer for dmamon monitor commands and ``.dmamon`` scripts."""

    name = "dmamon"
    aliases: ClassVar[list[str]] = ["dmamon"]
    filenames: ClassVar[list[str]] = ["*.dmamon"]
    mimetypes: ClassVar[list[str]] = ["text/x-dmamon"]

    # "root" only ever sits at the start of a line (or after its indentation): "args" runs to
    # the end of the line and pops back.
    tokens: ClassVar[dict[str, list[tuple[str, object] | tuple[str, object, str] | object]]] = {
        "root": [
            (r"\n", Whitespace),
            (r"[^\S\n]+", Whitespace),
            (r"#.*", Comment.Single),
            # cmd2 shortcuts: @script, @@script
            (r"@@?", COMMAND, "args"),
            (r"expect(?:-no-log|-output|-log)?(?![\w\-])", ASSERTION, "args"),
            # Command names may hold '-' and '_' (trace-event, system_reset); a joined
            # /fmt (xp/4xw) is left for the arguments.
            (r"[A-Za-z_][\w\-]*", COMMAND, "args"),
            default("args"),
        ],
        "args": [
            (r"\n", Whitespace, "#pop"),
            (r"[^\S\n]+", Whitespace),
            (r"/\d*[oduxicbhwgL]*(?=\s|$)", FORMAT),
            (r'"(?:\\.|[^"\\\n])*"', String.Double),
            (r"'(?:\\.|[^'\\\n])'", String.Char),
            (r"'(?:\\.|[^'\\\n])*'", String.Single),
            (r"0[xX][0-9a-fA-F]+[KMGkmg]?" + _WORD_END, Number.Hex),
            (r"0[0-7]+" + _WORD_END, Number.Oct),
            (r"\d+[KMGkmg]?" + _WORD_END, Number.Integer),
            (r"(?:on|off)" + _WORD_END, Keyword.Constant),
            (r"(?<![\w.\-])--?[A-Za-z][\w\-]*", Name.Label),
            (r"\$[\w.]+", Name.Variable.Global),
            # device.register symbols: edu0.dma_cmd
            (r"[A-Za-z_][\w\-]*(?=\.[A-Za-z_])", Name.Variable, "register"),
            (r"[A-Za-z_][\w\-]*", Name),
            (r"==|!=|<=|>=|<<|>>|[<>&|^~+\-*/%=!]", Operator),
            (r"[(),:\[\]{}]", Punctuation),
            (r".", Text),
        ],
        "register": [
            (r"\.", Punctuation),
            (r"[A-Za-z_][\w\-.]*", Name.Attribute, "#pop"),
        ],
    }
