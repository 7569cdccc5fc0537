"""Batch mode: ``dmamon run FILE...`` — scripts that check themselves, exit codes, JUnit XML.

Each file runs on a fresh machine built from the same options. ``.qtest`` files are
QEMU qtest programs (the published fuzzer reproducers replay unchanged); everything else
is a ``.dmamon`` monitor script. Failures are reported as ``FILE:LINE: message``.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from dmamon.devices import Machine
from dmamon.memory import TraceRecord
from dmamon.monitor import Failure, Monitor, MonitorError
from dmamon.render import plural

__all__ = [
    "FileReport",
    "machine_args",
    "machine_header",
    "run_files",
    "summary_line",
    "write_junit",
]


@dataclass
class FileReport:
    """What happened in one file."""

    path: Path
    failures: list[Failure] = field(default_factory=list)
    assertions: list[tuple[str, int, str, str | None]] = field(default_factory=list)
    error: str | None = None  # the file could not run at all
    seconds: float = 0.0  # wall clock, presentation only (summary line, JUnit time)


@dataclass
class _Halt:
    file: str
    line: int
    kind: str  # crashed | hung
    summary: str
    after: int  # how many assertions had run when it happened


def _watch_halts(mon: Monitor) -> tuple[list[_Halt], Callable[[TraceRecord], None]]:
    """Note every modelled crash or hang with the script line that caused it."""
    halts: list[_Halt] = []

    def sink(rec: TraceRecord) -> None:
        for kind in ("crashed", "hung"):
            prefix = f"warning: machine {kind}: "
            if rec.text.startswith(prefix):
                file, line = mon.where()
                summary = rec.text[len(prefix) :]
                halts.append(_Halt(file, line, kind, summary, len(mon.assertions)))

    return halts, sink


def _unexpected_halts(mon: Monitor, halts: list[_Halt]) -> list[Failure]:
    """A crash or hang is expected when a later assertion that held names it
    (``expect info status == crashed``, ``expect-log machine hung``)."""
    out = []
    for h in halts:
        later = mon.assertions[h.after :]
        if not any(fail is None and h.kind in text for _, _, text, fail in later):
            msg = f"machine {h.kind} and no assertion expects it: {h.summary}"
            out.append(Failure(h.file, h.line, "", msg))
    return out


def _run_qtest(path: Path, machine: Machine, out: TextIO, report: FileReport) -> None:
    from dmamon.qtest import run_qtest_file

    for number, request, replies in run_qtest_file(machine, path):
        for reply in replies:
            out.write(reply + "\n")
            if reply.startswith(("ERR", "FAIL")):
                report.failures.append(Failure(str(path), number, request, reply))


MACHINE_HEADER = "# machine:"


def machine_header(path: Path) -> tuple[int, list[str], int]:
    """The line number and machine options of a script's ``# machine: OPTIONS`` line at its
    top (e.g. ``# machine: -nodefaults -device edu,id=a``), or (0, [], ...); the third item
    is the line of a misspelt header (``#machine:``) the caller should warn about, or 0.

    Raises:
        MonitorError: ``FILE:LINE:`` unbalanced quotes.
    """
    import re
    import shlex

    try:
        with path.open(encoding="utf-8") as f:
            head = [line for _, line in zip(range(20), f, strict=False)]
    except (OSError, UnicodeDecodeError):
        return 0, [], 0
    misspelt = 0
    for number, line in enumerate(head, 1):
        if line.startswith(MACHINE_HEADER):
            try:
                return number, shlex.split(line[len(MACHINE_HEADER) :]), misspelt
            except ValueError as e:
                raise MonitorError(f"{path}:{number}: # machine: {e}") from None
        if not misspelt and re.match(r"#\s*machine\s*:", line):
            misspelt = number
    return 0, [], misspelt


def machine_args(path: Path) -> list[str]:
    """The options of :func:`machine_header` alone."""
    return machine_header(path)[1]


def run_files(
    paths: list[Path],
    make_machine: Callable[[Path], Machine],
    make_monitor: Callable[[Machine], Monitor],
    *,
    keep_going: bool = False,
    junit: Path | None = None,
    echo: bool = False,
    err: TextIO,
) -> int:
    """Run scripts; returns the exit status (0 all held, 1 something failed)."""
    reports: list[FileReport] = []
    started = time.perf_counter()
    for path in paths:
        report = _run_one(path, make_machine, make_monitor, keep_going=keep_going, echo=echo)
        reports.append(report)
        if path.suffix == ".qtest" or report.error is not None:
            for f in report.failures:  # a script's own failures were reported in place
                err.write(f"{f.file}:{f.line}: {f.message}\n")
        if report.failures and not keep_going:
            break
    if junit is not None:
        write_junit(junit, reports)
    err.write(summary_line(reports, time.perf_counter() - started) + "\n")
    return 1 if any(r.failures for r in reports) else 0


def summary_line(reports: list[FileReport], seconds: float) -> str:
    """``7 files, 188 assertions, 0 failed, 0.31 s`` (failed: files with a failure)."""
    files = len(reports)
    asserts = sum(len(r.assertions) for r in reports)
    failed = sum(1 for r in reports if r.failures)
    return (
        f"{plural(files, 'file')}, {plural(asserts, 'assertion')}, {failed} failed, {seconds:.2f} s"
    )


def _run_one(
    path: Path,
    make_machine: Callable[[Path], Machine],
    make_monitor: Callable[[Machine], Monitor],
    *,
    keep_going: bool,
    echo: bool,
) -> FileReport:
    report = FileReport(path)
    started = time.perf_counter()
    machine = make_machine(path)
    mon = make_monitor(machine)
    if echo:
        mon.echo_prompt = "(dmamon) "
    halts, sink = _watch_halts(mon)
    machine.tracer.sinks.append(sink)
    try:
        if path.suffix == ".qtest":
            _run_qtest(path, machine, mon.out_stream, report)
        else:
            mon.run_file(path, keep_going=keep_going)
            report.failures = list(mon.failures)
            report.assertions = list(mon.assertions)
            for f in _unexpected_halts(mon, halts):
                report.failures.append(f)
                (mon.log_stream or mon.out_stream).write(f"{f.file}:{f.line}: {f.message}\n")
    except MonitorError as e:
        report.error = str(e)
        report.failures.append(Failure(str(path), 0, "", str(e)))
    finally:
        machine.tracer.sinks.remove(sink)
        mon.close()
    report.seconds = time.perf_counter() - started
    return report


def write_junit(path: Path, reports: list[FileReport]) -> None:
    """JUnit XML: a suite per file with one case for the script and one per assertion."""
    suites = ET.Element("testsuites", name="dmamon")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for r in reports:
        cases = 1 + len(r.assertions)
        errors = 1 if r.error is not None else 0
        failed = (1 if r.failures and not errors else 0) + sum(
            1 for a in r.assertions if a[3] is not None
        )
        totals["tests"] += cases
        totals["failures"] += failed
        totals["errors"] += errors
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=str(r.path),
            tests=str(cases),
            failures=str(failed),
            errors=str(errors),
            skipped="0",
            time=f"{r.seconds:.3f}",
        )
        case = ET.SubElement(
            suite, "testcase", classname=str(r.path), name=r.path.name, time=f"{r.seconds:.3f}"
        )
        if r.error is not None:
            ET.SubElement(case, "error", message=r.error).text = f"{r.path}: {r.error}"
        elif r.failures:
            f0 = r.failures[0]
            fail = ET.SubElement(case, "failure", message=f0.message)
            fail.text = "\n".join(f"{f.file}:{f.line}: {f.message}" for f in r.failures)
        for file, line, text, failure in r.assertions:
            c = ET.SubElement(suite, "testcase", classname=str(r.path), name=f"{line}: {text}")
            if failure is not None:
                ET.SubElement(c, "failure", message=failure).text = f"{file}:{line}: {failure}"
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", f"{sum(r.seconds for r in reports):.3f}")
    ET.indent(suites)
    path.write_text(ET.tostring(suites, encoding="unicode") + "\n", encoding="utf-8")
