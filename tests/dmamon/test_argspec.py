"""Declared command arguments (dmamon/argspec.py): parsing, usage lines, completion kinds,
and a one-line error for every kind of bad input."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from monitor_session import make_monitor, run_lines

from dmamon.argspec import ArgError, arg, completion_kind, flag, option, parse_args, usage_text
from dmamon.monitor import COMMANDS, INFO, SUBCOMMANDS, Monitor, command, subcommand

SPEC = (
    arg("dev", "device"),
    arg("addr", "expr"),
    arg("mode", "choice", choices=("r", "w"), optional=True, default="r"),
    flag("--peek"),
    option("--count", "size", metavar="N", default=1),
)


def _register() -> None:
    @command("x-demo", None, "a declared test command", "Devices", args=SPEC)
    def _demo(mon: Monitor, **kwargs: object) -> None:
        mon.out(" ".join(f"{k}={v}" for k, v in kwargs.items()))

    @command("x-group", None, "a command with subcommands", "Devices", args=())
    def _group(mon: Monitor) -> None:
        mon.out("group status")

    @subcommand("x-group", "show", args=(arg("what", "rest"),))
    def _group_show(mon: Monitor, *, what: str) -> None:
        mon.out(f"show [{what}]")

    @subcommand("x-group", "calc", args=(arg("value", "hmpexpr"), arg("file", "file")))
    def _group_calc(mon: Monitor, *, value: int, file: str) -> None:
        mon.out(f"{value:#x} {file}")


@pytest.fixture(autouse=True, scope="module")
def demo_commands() -> Iterator[None]:
    """Test commands, registered only while this module runs (``help`` elsewhere stays)."""
    _register()
    yield
    for name in ("x-demo", "x-group"):
        COMMANDS.pop(name)
    SUBCOMMANDS.pop("x-group")


def make() -> tuple[Monitor, io.StringIO]:
    return make_monitor(["edu,id=edu0"])


def test_a_declared_command_gets_typed_keyword_arguments() -> None:
    mon, buf = make()
    assert run_lines(mon, buf, "x-demo edu0 0x10+2 w --peek --count 4K") == (
        "dev=edu0 addr=18 mode=w peek=True count=4096\n"
    )


def test_left_out_parameters_get_their_defaults() -> None:
    mon, buf = make()
    assert run_lines(mon, buf, "x-demo edu0 4") == "dev=edu0 addr=4 mode=r peek=False count=1\n"


def test_options_may_stand_anywhere_and_take_an_equals_sign() -> None:
    mon, buf = make()
    assert run_lines(mon, buf, "x-demo --count=2 edu0 --peek 4") == (
        "dev=edu0 addr=4 mode=r peek=True count=2\n"
    )


def test_json_is_taken_off_centrally_before_parsing() -> None:
    mon, buf = make()
    out = run_lines(mon, buf, "x-demo edu0 4 --json")
    assert out.strip().startswith("{") and '"dev=edu0 addr=4' in out


@pytest.mark.parametrize(
    "line, error",
    [
        ("x-demo", "usage: x-demo DEV ADDR [r|w] [--peek] [--count N]"),
        ("x-demo edu0", "usage: x-demo DEV ADDR [r|w] [--peek] [--count N]"),
        ("x-demo edu0 1 r 2", "usage: x-demo DEV ADDR [r|w] [--peek] [--count N]"),
        ("x-demo nosuch 1", "x-demo: Device 'nosuch' not found"),
        ("x-demo edu0 1 q", "x-demo: mode must be r|w, not 'q'"),
        ("x-demo edu0 1 --frob", "x-demo: unknown option '--frob' (usage: x-demo DEV ADDR [r|w] "
         "[--peek] [--count N])"),
        ("x-demo edu0 1 --peek=yes", "x-demo: unknown option '--peek=yes' (usage: x-demo DEV "
         "ADDR [r|w] [--peek] [--count N])"),
        ("x-demo edu0 1 --count", "x-demo: --count needs a value"),
        ("x-demo edu0 1)", "extraneous characters at the end of line"),
        ("x-demo edu0 (1", "')' expected"),
        ("x-demo edu0 nosym", "unknown symbol 'nosym'"),
        ("x-demo 'edu0 1", "bad quoting: No closing quotation"),
        ("x-group frob", "x-group: unknown subcommand 'frob' (one of: show, calc)"),
        ("x-group calc", "usage: x-group calc VALUE FILE"),
    ],
)  # fmt: skip
def test_bad_input_gives_one_line(line: str, error: str) -> None:
    mon, buf = make()
    assert run_lines(mon, buf, line) == error + "\n"


def test_a_command_without_parameters_refuses_extra_words_as_qemu_does() -> None:
    mon, buf = make()
    assert run_lines(mon, buf, "info dma all") == (
        "info dma: extraneous characters at the end of line\n"
    )


def test_subcommands_dispatch_and_the_bare_command_runs_its_own_handler() -> None:
    mon, buf = make()
    assert run_lines(mon, buf, "x-group", "x-group show a  b") == "group status\nshow [a  b]\n"


def test_an_hmp_expression_may_hold_spaces_as_in_qemu() -> None:
    mon, buf = make()
    assert run_lines(mon, buf, "x-group calc 0x10 + 2 out.bin") == "0x12 out.bin\n"


def test_the_usage_line_nests_optional_positionals_and_lists_options() -> None:
    params = (arg("base", "size", optional=True), arg("size", "size", optional=True))
    assert usage_text("s", (*params, option("--levels", "expr", metavar="N"))) == (
        "s [BASE [SIZE]] [--levels N]"
    )


def test_help_shows_the_usage_words_of_a_declared_command() -> None:
    assert COMMANDS["x-demo"].help_line == (
        "x-demo DEV ADDR [r|w] [--peek] [--count N] -- a declared test command"
    )


def test_completion_kinds_follow_positions_and_options() -> None:
    spec = COMMANDS["x-demo"]
    assert spec.complete == ("device", "symbol", "subcommand:r,w")
    assert [spec.completion_kind(w) for w in ([], ["edu0"], ["edu0", "1"])] == [
        "device",
        "symbol",
        "subcommand:r,w",
    ]
    assert spec.completion_kind(["edu0", "--count"]) == ""
    assert spec.completion_kind(["edu0", "--peek"]) == "symbol"
    assert spec.completion_kind(["edu0", "1", "r"]) == "subcommand:--peek,--count"


def test_completion_of_subcommands_and_their_arguments() -> None:
    spec = COMMANDS["x-group"]
    assert spec.completion_kind([]) == "subcommand:show,calc"
    assert spec.completion_kind(["calc", "1"]) == "file"
    assert spec.completion_kind(["frob"]) == ""
    assert list(SUBCOMMANDS["x-group"]) == ["show", "calc"]


def test_old_style_commands_still_get_the_raw_string() -> None:
    spec = COMMANDS["pmemsave"]
    assert spec.args is None and spec.completion_kind(["a"]) == "symbol"


def test_a_leading_fmt_is_skipped_when_completing() -> None:
    spec = COMMANDS["xp"]
    assert [spec.completion_kind(w) for w in ([], ["/4x"], ["0"])] == ["symbol", "symbol", ""]


def test_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown argument kind"):
        arg("x", "nosuchkind")


def test_parse_args_alone_returns_the_keywords() -> None:
    mon, _ = make()
    assert parse_args(mon, "t", (arg("a", "word"), flag("--b")), "x --b") == {"a": "x", "b": True}
    with pytest.raises(ArgError):
        parse_args(mon, "t", (), "x")


def test_completion_kind_of_an_option_expecting_a_value_is_its_kind() -> None:
    assert completion_kind((option("--file", "file"),), ["--file"]) == "file"


def test_declared_info_subcommands_run_through_info() -> None:
    assert INFO["iommu"].args == ()


def test_a_plugin_completer_is_registered_once_in_the_one_registry() -> None:
    import dmamon.argspec
    from dmamon.completion import COMPLETERS, CompletionContext, completer

    assert not hasattr(dmamon.argspec, "COMPLETERS")  # one registry: dmamon.completion
    completer("x-queue")(lambda ctx: ["q0", "q1"])
    try:
        with pytest.raises(ValueError, match="registered twice"):
            completer("x-queue")(lambda ctx: [])
        mon, _ = make()
        assert COMPLETERS["x-queue"](CompletionContext(mon.machine, [])) == ["q0", "q1"]
    finally:
        COMPLETERS.pop("x-queue")


@pytest.mark.parametrize(
    ("line", "error"),
    [
        # usage= keeps HMP's own usage line; error= a value's own message
        ("fix reentrancy-guard maybe", "usage: fix NAME on|off"),
        ("device_del nosuch", "Error: Device 'nosuch' not found"),
        ("clock step", "usage: clock step DURATION (e.g. clock step 100ms)"),
        # HMP_COUNT_ERRORS: QEMU's words for a missing or an extra argument
        ("trace-event", "trace-event: string expected"),
        ("trace-event memory_region_ops_read", "Expected 'on' or 'off'"),
        ("trace-event memory_region_ops_read ON", "Expected 'on' or 'off'"),  # 'b': exact
        ("xp", "unexpected end of expression"),
        ("xp /4x 0 1", "xp: extraneous characters at the end of line"),
        ("print 0xzz", "print|p: extraneous characters at the end of line"),  # aliases named
        ("stop now", "stop|s: extraneous characters at the end of line"),
        ("readl 0x1000 extra", "readl: extraneous characters at the end of line"),
        ("qom-get /", "qom-get: string expected"),
    ],
)
def test_converted_commands_keep_their_messages(line: str, error: str) -> None:
    mon, buf = make()
    assert run_lines(mon, buf, line) == error + "\n"


def test_a_rest_parameter_takes_option_like_words_as_text() -> None:
    mon, buf = make()
    assert parse_args(mon, "t", (arg("text", "rest"), flag("--x")), "--x y") == {
        "text": "--x y",
        "x": False,
    }


def test_reg_completion_comes_from_the_subcommand_specs() -> None:
    spec = COMMANDS["reg"]
    assert spec.completion_kind([]) == "subcommand:read,write"
    assert spec.completion_kind(["read", "edu0"]) == "register"
    assert spec.completion_kind(["read", "edu0", "status"]) == "subcommand:--peek"
    assert spec.completion_kind(["read", "edu0", "status", "--peek"]) == ""
    assert spec.completion_kind(["write", "edu0", "status"]) == "reg-field"
    assert COMMANDS["info"].completion_kind(["trace-events"]) == "event-pattern"


_WORDS = (arg("a"), arg("b", optional=True), arg("c", optional=True, default="d"))


@given(st.text(alphabet=" \tab'\"-x0", max_size=12))
def test_the_plain_word_fast_path_reads_a_line_as_the_full_parser_does(text: str) -> None:
    import dmamon.argspec as argspec

    mon, _ = make_monitor()

    def parse() -> object:
        try:
            return parse_args(mon, "cmd", _WORDS, text, "cmd A [B [C]]")
        except ArgError as e:
            return str(e)

    fast = parse()
    real = argspec._plain_words
    argspec._plain_words = lambda params, text: None  # type: ignore[assignment]
    try:
        assert parse() == fast
    finally:
        argspec._plain_words = real
