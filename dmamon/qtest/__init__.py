"""QEMU 7.2's qtest line protocol over a :class:`~dmamon.devices.machine.Machine`.

One request a line, words split on single spaces, one reply line per request: ``OK``,
``OK VALUE``, ``FAIL TEXT`` or ``ERR TEXT``, preceded (or followed, for work the machine
does after the command) by asynchronous ``IRQ raise N`` / ``IRQ lower N`` lines once
``irq_intercept_in ioapic`` is on. Reply formats, the order of checks and the number syntax
(``strtoull`` base 0: decimal, ``0x`` hex, leading-0 octal, ``-1`` wraps) are those of
QEMU 7.2's ``softmmu/qtest.c``; memory commands use the CPU's view (``machine.memory``) and
ports ``machine.io_as``, and ignore transaction errors as QEMU does.

Where QEMU aborts on bad input (``g_assert``: a malformed or missing number, an empty line,
two spaces in a row, a port above 0xffff, ``read ADDR 0``, a short ``set_irq_in``), dmamon
answers one ``ERR`` line naming the command, the argument and the problem, and carries on.
Two more inputs QEMU accepts silently and misreads are refused with ``ERR``: ``write`` data
without the ``0x`` prefix (QEMU skips the first two characters regardless) and non-hex
digits in it. dmamon is the qtest accelerator, so ``clock_step``/``clock_set`` always work
(Debian's QEMU answers ``FAIL Unknown command``) and time moves only through them.

The same implementation serves three front ends: the stdio and UNIX-socket servers
(:func:`serve_stdio`, :func:`serve_unix`), ``.qtest`` scripts (:func:`run_qtest_file`,
which also understands libqtest's C spelling ``qtest_outl(s, 0xcf8, 0x80000804);``), and
the monitor's qtest-spelled commands (:func:`execute`).

Package layout: :mod:`~dmamon.qtest.cnum` (numbers), :mod:`~dmamon.qtest.payload` (hex and
base64 data), :mod:`~dmamon.qtest.handlers` (the commands, a table built once),
:mod:`~dmamon.qtest.session`, :mod:`~dmamon.qtest.script` (``.qtest`` files) and
:mod:`~dmamon.qtest.server` (stdio and UNIX socket). ``python -m dmamon.qtest`` takes QEMU's
spelling of the options and runs ``dmamon qtest`` (:func:`main`).
"""

from __future__ import annotations

import sys

from dmamon.memory import ConfigError
from dmamon.qtest.base import IOAPIC_PATH, QTEST_COMMANDS
from dmamon.qtest.cnum import _trusted, parse_u64
from dmamon.qtest.script import (
    is_qtest_script,
    qtest_script_lines,
    run_qtest_file,
    translate_libqtest,
)
from dmamon.qtest.server import serve_stdio, serve_unix
from dmamon.qtest.session import QtestReply, QtestSession, execute, session_for

__all__ = [
    "IOAPIC_PATH",
    "QTEST_COMMANDS",
    "QtestReply",
    "QtestSession",
    "_trusted",
    "cli_args",
    "execute",
    "is_qtest_script",
    "main",
    "parse_u64",
    "qtest_script_lines",
    "run_qtest_file",
    "serve_stdio",
    "serve_unix",
    "session_for",
    "translate_libqtest",
]

# QEMU option -> the ``dmamon qtest`` option it becomes (None: accepted and ignored).
_WITH_VALUE = {
    "-M": "-M",
    "-machine": "-M",
    "-m": "-m",
    "-device": "-device",
    "-trace": "-trace",
    "-d": "-d",
    "-D": "-D",
    "-display": None,
    "-accel": None,
}
_FLAGS = {"-S": "-S", "-nodefaults": "-nodefaults", "-no-reboot": None}


def cli_args(argv: list[str]) -> list[str]:
    """QEMU's spelling of a qtest command line as ``dmamon qtest`` arguments.

    ``[-M q35] [-m SIZE] [-S] [-nodefaults] [-device SPEC]... [-qtest stdio|unix:PATH]
    [-qtest-log FILE|none]``; ``-display``, ``-accel`` and ``-no-reboot`` are accepted and
    ignored, ``-trace``, ``-d`` and ``-D`` passed on.

    Raises:
        ConfigError: an unknown option, a missing value or an unsupported chardev.
    """
    out = ["qtest"]
    i = 0
    while i < len(argv):
        opt = argv[i]
        i += 1
        if opt in _FLAGS:
            flag = _FLAGS[opt]
            out += [flag] if flag else []
            continue
        if opt not in _WITH_VALUE and opt not in ("-qtest", "-qtest-log"):
            raise ConfigError(f"unknown option {opt!r}")
        if i >= len(argv):
            raise ConfigError(f"option {opt} needs a value")
        val = argv[i]
        i += 1
        if opt == "-qtest":
            if val.startswith("unix:"):
                out += ["--socket", val[5:].split(",", 1)[0]]
            elif val != "stdio":
                raise ConfigError(f"unsupported qtest chardev {val!r} (stdio, unix:PATH)")
        elif opt == "-qtest-log":
            out += [] if val == "none" else ["--log", val]
        elif _WITH_VALUE[opt] is not None:
            out += [
                str(_WITH_VALUE[opt]),
                val.split(",", 1)[0] if opt in ("-M", "-machine") else val,
            ]
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m dmamon.qtest``: QEMU's option spelling, run by ``dmamon qtest``.

    Returns:
        The exit status (1 with a one-line message for a bad option).
    """
    from dmamon import cli

    try:
        args = cli_args(sys.argv[1:] if argv is None else argv)
    except ConfigError as e:
        print(f"dmamon.qtest: {e}", file=sys.stderr)
        return 1
    try:
        cli.main(args, prog_name="python -m dmamon.qtest")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0
