"""Declarative command arguments: the counterpart of QEMU's ``.args_type``.

A command declares what it takes as a tuple of :class:`Param`; the core scans the line,
checks it, reports one-line errors with the usage line, and calls the handler with one
keyword argument per parameter::

    @command("iommu-demo", None, "...", "IOMMU",
             args=(arg("dev", "device"), arg("iova", "expr"),
                   arg("perm", "choice", choices=("r", "w"), optional=True, default="r"),
                   flag("--peek"), option("--levels", "expr", metavar="N")))
    def demo(mon, *, dev: str, iova: int, perm: str, peek: bool, levels: int | None): ...

Positionals are read left to right from the raw text: words up to the next space (quotes
group); an ``expr`` is one word evaluated by HMP's expression parser (:mod:`dmamon.hmpexpr`),
an ``hmpexpr`` is scanned greedily as QEMU's ``l``/``i`` types do (``edu0 + 4`` is one
expression; use it for HMP commands without ``--`` options after it); ``fmt`` is a leading
``/fmt`` (HMP's ``/`` type, :func:`dmamon.dumpfmt.split_format`; declare it optional);
``onoff`` exactly ``on`` or ``off`` (a bool, HMP's ``b``); ``rest`` everything left.
``--flag`` and ``--option VALUE`` (or ``--option=VALUE``) may stand anywhere. ``--json``
is taken off every line by :meth:`Monitor.execute` before parsing.

Kinds live in :data:`KINDS`; a plug-in adds its own with :func:`register_kind` (the AMD
IOMMU plug-in adds ``requester``: a device name or ``bb:dd.f``). Each kind names what the
shell completes at its position (``device``, ``symbol``, ``file``, ``subcommand:a,b``...);
:mod:`dmamon.completion` maps those names to candidates.

Messages: a wrong count says ``usage: USAGE`` (``usage=`` on the command overrides the
generated line where HMP's own wording differs); a bad value of a parameter declared with
``error=`` says that text instead of the kind's (``{word}`` is the word typed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmamon.dumpfmt import split_format
from dmamon.hmpexpr import scan_expression

if TYPE_CHECKING:
    from dmamon.monitor import Monitor

__all__ = [
    "HMP_COUNT_ERRORS",
    "KINDS",
    "ArgError",
    "ArgKind",
    "Param",
    "arg",
    "completion_kind",
    "flag",
    "option",
    "parse_args",
    "register_kind",
    "scan_word",
    "usage_text",
]

_SPACE = " \t"
HMP_COUNT_ERRORS = "\x00hmp"
"""``usage=`` of a command whose count errors follow QEMU's HMP parser: one too many is
``NAME: extraneous characters at the end of line``; one missing says the missing
parameter's ``error`` (or ``unexpected end of expression`` for an expression, ``NAME:
string expected`` for a word)."""
_SIZE = re.compile(r"^(\d+)([KMG])i?B?$", re.IGNORECASE)
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_OPTION = re.compile(r"--[A-Za-z]")


class ArgError(ValueError):
    """A bad argument; the core prefixes the command name (``iommu map: ...``) unless
    ``bare`` (``usage: ...``, ``bad quoting: ...``)."""

    def __init__(self, message: str, *, bare: bool = False) -> None:
        super().__init__(message)
        self.bare = bare


# A scanner reads one value of its kind at ``pos``: (value, index after it and its spaces).
Scanner = Callable[["Monitor", "Param", str, int], tuple[object, int]]


@dataclass(frozen=True)
class ArgKind:
    """A parameter type: how to read it and what the shell completes there."""

    name: str
    scan: Scanner
    complete: str = ""


@dataclass(frozen=True)
class Param:
    """One declared parameter.

    Attributes:
        name: positional: the handler's keyword (``iova``); flag or option: ``--page-size``
            (the keyword is ``page_size``).
        kind: a key of :data:`KINDS`, or ``flag``.
        optional: a positional that may be left out (the rest after it must be optional too).
        default: the value the handler gets when it is left out.
        choices: for ``choice``: the accepted words.
        metavar: the word in the usage line (default: the name in capitals; for a choice
            ``a|b``).
        complete: overrides the kind's completion (``rest`` of a command line: ``command``).
        error: the whole one-line error for a bad value (``{word}``: what was typed),
            in place of the kind's own message.
    """

    name: str
    kind: str
    optional: bool = False
    default: object = None
    choices: tuple[str, ...] = ()
    metavar: str = ""
    complete: str = ""
    error: str = ""

    @property
    def keyword(self) -> str:
        """The handler's keyword argument (``--no-enable`` -> ``no_enable``)."""
        return self.name.lstrip("-").replace("-", "_")

    @property
    def is_option(self) -> bool:
        """A ``--flag`` or ``--option VALUE`` rather than a positional."""
        return self.name.startswith("--")

    @property
    def word(self) -> str:
        """What the usage line shows for the value."""
        if self.metavar:
            return self.metavar
        if self.kind == "choice":
            return "|".join(self.choices)
        return self.keyword.upper()

    @property
    def completes(self) -> str:
        """The completion kind at this parameter's position."""
        if self.complete:
            return self.complete
        if self.kind == "choice":
            return "subcommand:" + ",".join(self.choices)
        return KINDS[self.kind].complete if self.kind in KINDS else ""


def arg(
    name: str,
    kind: str = "word",
    *,
    optional: bool = False,
    default: object = None,
    choices: tuple[str, ...] = (),
    metavar: str = "",
    complete: str = "",
    error: str = "",
) -> Param:
    """A positional parameter (see :class:`Param`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown argument kind {kind!r}")
    return Param(name, kind, optional, default, choices, metavar, complete, error)


def flag(name: str) -> Param:
    """A ``--name`` switch: the handler gets True when it was given."""
    return Param(name, "flag", True, False)


def option(
    name: str, kind: str = "word", *, metavar: str = "", default: object = None, complete: str = ""
) -> Param:
    """A ``--name VALUE`` option: the handler gets the value, or ``default``."""
    if kind not in KINDS:
        raise ValueError(f"unknown argument kind {kind!r}")
    return Param(name, kind, True, default, (), metavar, complete)


def register_kind(name: str, scan: Scanner, complete: str = "") -> None:
    """Add a parameter kind (plug-ins: their own device-specific argument types)."""
    if name in KINDS:
        raise ValueError(f"argument kind {name!r} registered twice")
    KINDS[name] = ArgKind(name, scan, complete)


# -- scanners --------------------------------------------------------------------------------


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def scan_word(text: str, pos: int) -> tuple[str, int]:
    """One word: up to the next space; ``'...'`` or ``"..."`` group spaces."""
    if pos < len(text) and text[pos] in "'\"":
        end = text.find(text[pos], pos + 1)
        if end < 0:
            raise ArgError("bad quoting: No closing quotation", bare=True)
        return text[pos + 1 : end], _skip(text, end + 1)
    end = pos
    while end < len(text) and text[end] not in _SPACE:
        end += 1
    return text[pos:end], _skip(text, end)


def _hmpexpr(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    value, end = scan_expression(text, pos, mon.resolve)  # HmpError: QEMU's message
    if end < len(text) and text[end - 1] not in _SPACE:
        # QEMU's end-of-arguments check: ``print|p: extraneous characters ...``
        raise ArgError("extraneous characters at the end of line")
    return value, end


def _expr(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    word, end = scan_word(text, pos)
    try:
        return _hmpexpr(mon, param, word, 0)[0], end
    except ArgError as e:  # within one word: the expression's own error, as mon.expr says
        raise ArgError(str(e), bare=True) from None


def _onoff(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    word, end = scan_word(text, pos)
    if word not in ("on", "off"):  # QEMU's 'b' type: exactly these words
        raise ArgError(f"{param.keyword} must be on|off, not '{word}'")
    return word == "on", end


def _size(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    word, end = scan_word(text, pos)
    m = _SIZE.match(word)
    if m:
        return int(m.group(1)) * _UNITS[m.group(2).upper()], end
    return _expr(mon, param, text, pos)


def _word(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    return scan_word(text, pos)


def _device(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    word, end = scan_word(text, pos)
    if word not in mon.machine.devices:
        raise ArgError(f"Device '{word}' not found")
    return word, end


def _choice(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    word, end = scan_word(text, pos)
    if word.lower() not in param.choices:
        label = param.keyword.replace("_", " ")
        raise ArgError(f"{label} must be {'|'.join(param.choices)}, not '{word}'")
    return word.lower(), end


def _fmt(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    spec, rest = split_format(text[pos:])
    return spec, len(text) - len(rest)


def _rest(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    return text[pos:].strip(), len(text)


KINDS: dict[str, ArgKind] = {
    k.name: k
    for k in (
        ArgKind("word", _word),
        ArgKind("expr", _expr, "symbol"),
        ArgKind("hmpexpr", _hmpexpr, "symbol"),
        ArgKind("size", _size),
        ArgKind("device", _device, "device"),
        ArgKind("register", _word, "register"),
        ArgKind("choice", _choice),
        ArgKind("onoff", _onoff, "subcommand:on,off"),
        ArgKind("file", _word, "file"),
        ArgKind("fmt", _fmt),
        ArgKind("rest", _rest),
    )
}


# -- parsing ---------------------------------------------------------------------------------


def usage_text(name: str, params: Sequence[Param]) -> str:
    """``iommu setup [BASE [SIZE]] [--levels N] [--no-enable]``: positionals (optional ones
    nested, as QEMU's help writes them), then options in declared order."""
    words: list[str] = []
    opened = 0
    for p in params:
        if p.is_option:
            continue
        if p.optional:
            words.append("[" + p.word)
            opened += 1
        else:
            words.append(p.word)
    if opened:
        words[-1] += "]" * opened
    for p in params:
        if p.is_option:
            words.append(f"[{p.name}]" if p.kind == "flag" else f"[{p.name} {p.word}]")
    return " ".join([name, *words])


def _read_option(
    mon: Monitor, params: Sequence[Param], text: str, pos: int, usage: str
) -> tuple[Param, object, int]:
    token, end = scan_word(text, pos)
    name, eq, value = token.partition("=")
    found = next((p for p in params if p.is_option and p.name == name), None)
    if found is None or (found.kind == "flag" and eq):
        raise ArgError(f"unknown option '{token}' (usage: {usage})")
    if found.kind == "flag":
        return found, True, end
    if eq:
        return found, KINDS[found.kind].scan(mon, found, value, 0)[0], end
    if end >= len(text):
        raise ArgError(f"{name} needs a value")
    parsed, end = KINDS[found.kind].scan(mon, found, text, end)
    return found, parsed, end


def _scan_positional(mon: Monitor, param: Param, text: str, pos: int) -> tuple[object, int]:
    try:
        return KINDS[param.kind].scan(mon, param, text, pos)
    except ArgError as e:
        if not param.error or e.bare:
            raise
        word = scan_word(text, pos)[0]
        raise ArgError(param.error.format(word=word), bare=True) from None


def parse_args(
    mon: Monitor, name: str, params: Sequence[Param], text: str, usage: str = ""
) -> dict[str, object]:
    """Read ``text`` against ``params``: the handler's keyword arguments.

    Args:
        usage: the usage line of count errors (default: :func:`usage_text`).

    Raises:
        ArgError: a bad option, value or count (``usage: ...`` for a wrong count).
        HmpError: an expression error, with QEMU's text.
    """
    fast = _plain_words(params, text)
    if fast is not None:
        return fast
    usage = usage or usage_text(name, params)
    values: dict[str, object] = {p.keyword: p.default for p in params}
    positionals = [p for p in params if not p.is_option]
    index = 0
    pos = _skip(text, 0)
    while pos < len(text):
        rest_next = index < len(positionals) and positionals[index].kind == "rest"
        if _OPTION.match(text, pos) and not rest_next:  # ``rest`` takes ``--x`` as text
            shown = usage_text(name, params) if usage == HMP_COUNT_ERRORS else usage
            found, value, pos = _read_option(mon, params, text, pos, shown)
            values[found.keyword] = value
            continue
        if index >= len(positionals):
            if not params or usage == HMP_COUNT_ERRORS:
                raise ArgError("extraneous characters at the end of line")
            raise ArgError(f"usage: {usage}", bare=True)
        param = positionals[index]
        values[param.keyword], pos = _scan_positional(mon, param, text, pos)
        index += 1
    missing = next((p for p in positionals[index:] if not p.optional), None)
    if missing is not None:
        raise _missing(missing, usage)
    return values


_Plan = tuple[tuple[str, ...], int, dict[str, object]]
_PLANS: dict[int, tuple[Sequence[Param], _Plan | None]] = {}


def _word_plan(params: Sequence[Param]) -> _Plan | None:
    """For parameters that are all plain ``word`` positionals: their keywords, how many are
    required and their defaults; None for anything else (options, kinds with scanners,
    custom errors). Remembered per parameter tuple (by identity: it lives as long as its
    command)."""
    cached = _PLANS.get(id(params))
    if cached is not None and cached[0] is params:
        return cached[1]
    plan: _Plan | None = None
    if not any(p.is_option or p.kind != "word" or p.error or p.choices for p in params):
        keywords = tuple(p.keyword for p in params)
        defaults = {p.keyword: p.default for p in params}
        plan = keywords, sum(not p.optional for p in params), defaults
    _PLANS[id(params)] = (params, plan)
    return plan


def _plain_words(params: Sequence[Param], text: str) -> dict[str, object] | None:
    """The hot path of batch scripts (``writel ADDR VALUE``): a line of plain words for
    plain-word parameters splits at spaces; anything unusual (quotes, ``--``, a count
    error) returns None so the full parser reads it and reports as it does."""
    plan = _word_plan(params)
    if plan is None or "'" in text or '"' in text or "--" in text:
        return None
    keywords, required, defaults = plan
    if "\t" in text:
        text = text.replace("\t", " ")
    words = text.split(" ")
    if "" in words:  # runs of spaces, or an empty line
        words = [w for w in words if w]
    if not required <= len(words) <= len(keywords):
        return None
    values = defaults.copy()
    values.update(zip(keywords, words, strict=False))
    return values


def _missing(param: Param, usage: str) -> ArgError:
    if usage != HMP_COUNT_ERRORS:
        return ArgError(f"usage: {usage}", bare=True)
    if param.error:
        return ArgError(param.error.format(word=""), bare=True)
    if param.kind in ("expr", "hmpexpr", "size"):
        return ArgError("unexpected end of expression", bare=True)
    return ArgError("string expected")


def completion_kind(params: Sequence[Param], words: Sequence[str]) -> str:
    """What the shell completes after the finished ``words`` of a declared command: the
    value kind of an option just typed, else the next positional's kind ("" for nothing).
    With every positional given, the option names (``subcommand:--a,--b``: a word list)."""
    if words and words[-1].startswith("--"):
        last = next((p for p in params if p.name == words[-1]), None)
        if last is not None and last.kind != "flag":
            return last.completes
    positionals = [p for p in params if not p.is_option]
    taken = 0
    skip_value = False
    for w in words:
        if skip_value:
            skip_value = False
            continue
        opt = next((p for p in params if p.is_option and p.name == w), None)
        if opt is not None:
            skip_value = opt.kind != "flag"
            continue
        if taken < len(positionals) and positionals[taken].kind == "fmt" and w[:1] != "/":
            taken += 1  # a ``/fmt`` left out: the word is the next parameter
        taken += 1
    if taken < len(positionals) and positionals[taken].kind == "fmt":
        taken += 1  # complete what follows an optional ``/fmt``
    if taken < len(positionals):
        return positionals[taken].completes
    names = [p.name for p in params if p.is_option and p.name not in words]
    return "subcommand:" + ",".join(names) if names else ""
