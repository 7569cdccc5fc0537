"""``.qtest`` scripts: qtest lines, ``#`` comments and libqtest's C spelling."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dmamon.memory import ConfigError
from dmamon.qtest.base import QTEST_COMMANDS
from dmamon.qtest.session import session_for

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = ["is_qtest_script", "qtest_script_lines", "run_qtest_file", "translate_libqtest"]

_CSPACE = " \t\n\v\f\r"  # C isspace() in the "C" locale

_LIBQTEST_ARGS = {  # libqtest call -> (qtest command, order of the C arguments after s)
    "qtest_memset": ("memset", (0, 2, 1)),  # qtest_memset(s, addr, pattern, size)
    "qtest_clock_step_next": ("clock_step", ()),
    "qtest_clock_step": ("clock_step", (0,)),
    "qtest_clock_set": ("clock_set", (0,)),
    "qtest_irq_intercept_in": ("irq_intercept_in", (0,)),
    "qtest_irq_intercept_out": ("irq_intercept_out", (0,)),
    "qtest_set_irq_in": ("set_irq_in", (0, 1, 2, 3)),
}


def translate_libqtest(line: str) -> str | None:
    """libqtest's C spelling of a request as a qtest line.

    ``qtest_outl(s, 0xcf8, 0x80000804); /* comment */`` -> ``outl 0xcf8 0x80000804``.

    Returns:
        The qtest line; ``""`` for calls with no request (``qtest_quit``); None when
        the line is not a libqtest call.
    """
    text = line.split("/*", 1)[0].split("//", 1)[0].strip().rstrip(";").strip()
    if not text.startswith("qtest_") or not text.endswith(")") or "(" not in text:
        return None
    func, _, rest = text.partition("(")
    func = func.strip()
    args = [a.strip().strip('"') for a in rest[:-1].split(",")][1:]  # drop the QTestState
    args = [a.rstrip("uUlL") if a[:1].isdigit() else a for a in args]
    if func in ("qtest_quit", "qtest_init"):
        return ""
    if func in _LIBQTEST_ARGS:
        cmd, order = _LIBQTEST_ARGS[func]
        if len(args) != len(order):
            return None
        return " ".join([cmd, *(args[i] for i in order)])
    cmd = func[len("qtest_") :]
    if cmd in QTEST_COMMANDS and cmd not in ("read", "write", "b64read", "b64write"):
        return " ".join([cmd, *args])
    return None


def qtest_script_lines(text: str) -> Iterator[tuple[int, str]]:
    """The requests of a ``.qtest`` script with their line numbers.

    Blank lines and ``#`` comments are skipped, line ends (``\\r\\n`` too) dropped, and
    libqtest C calls translated; any other line is passed on as written, so a bad one
    gets its ``ERR``/``FAIL`` reply rather than stopping the script.
    """
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip(_CSPACE)
        if not line or line.startswith("#"):
            continue
        if line.startswith("qtest_"):
            c = translate_libqtest(line)
            if c == "":
                continue
            if c is not None:
                line = c
        yield number, line


def is_qtest_script(text: str) -> bool:
    """Whether a script's first request is a qtest command (or a libqtest C call)."""
    for _, line in qtest_script_lines(text):
        return line.split(" ", 1)[0] in QTEST_COMMANDS
    return False


def run_qtest_file(
    machine: Machine, path: str | os.PathLike[str]
) -> list[tuple[int, str, list[str]]]:
    """Replay a ``.qtest`` script on the machine's shared session.

    Args:
        machine: the machine.
        path: the script (qtest lines, ``#`` comments, libqtest C calls).

    Returns:
        ``(line number, request, lines sent)`` for every request, in order.

    Raises:
        ConfigError: the file cannot be read.
    """
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read {os.fspath(path)}: {e.strerror or e}") from None
    session = session_for(machine)
    results = []
    for number, request in qtest_script_lines(text):
        results.append((number, request, session.handle_line(request)))
    return results
