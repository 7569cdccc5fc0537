"""Batch mode: ``dmamon run FILE...`` — scripts that check themselves, exit codes, JUnit XML.

Each file runs on a fresh machine built from the same options. ``.qtest`` files are
QEMU qtest programs (the published fuzzer reproducers replay unchanged); everything else
is a ``.dmamon`` monitor script. Failures are reported as ``FILE:LINE: message``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from dmamon.devices import Machine
from dmamon.monitor import Failure, Monitor, MonitorError

__all__ = ["FileReport", "run_files"]


@dataclass
class FileReport:
    """What happened in one file."""

    path: Path
    failures: list[Failure] = field(default_factory=list)
    assertions: list[tuple[str, int, str, str | None]] = field(default_factory=list)
    error: str | None = None  # the file could not run at all


def _run_qtest(path: Path, machine: Machine, out: TextIO, report: FileReport) -> None:
    from dmamon.qtest import run_qtest_file

    for number, request, replies in run_qtest_file(machine, path):
        for reply in replies:
            out.write(reply + "\n")
            if reply.startswith(("ERR", "FAIL")):
                report.failures.append(Failure(str(path), number, request, reply))


MACHINE_HEADER = "# machine:"


def machine_args(path: Path) -> list[str]:
    """The machine options a script asks for in a ``# machine: OPTIONS`` line at its top
    (e.g. ``# machine: -nodefaults -device edu,id=a -device edu,id=b``), or []."""
    import shlex

    try:
        with path.open(encoding="utf-8") as f:
            for _, line in zip(range(20), f, strict=False):
                if line.startswith(MACHINE_HEADER):
                    return shlex.split(line[len(MACHINE_HEADER) :])
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    return []


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
    for path in paths:
        report = FileReport(path)
        reports.append(report)
        machine = make_machine(path)
        mon = make_monitor(machine)
        if echo:
            mon.echo_prompt = "(dmamon) "
        try:
            if path.suffix == ".qtest":
                _run_qtest(path, machine, mon.out_stream, report)
            else:
                mon.run_file(path, keep_going=keep_going)
                report.failures = list(mon.failures)
                report.assertions = list(mon.assertions)
        except MonitorError as e:
            report.error = str(e)
            report.failures.append(Failure(str(path), 0, "", str(e)))
        finally:
            mon.close()
        if path.suffix == ".qtest" or report.error is not None:
            for f in report.failures:  # a script's own failures were reported in place
                err.write(f"{f.file}:{f.line}: {f.message}\n")
        if report.failures and not keep_going:
            break
    if junit is not None:
        write_junit(junit, reports)
    return 1 if any(r.failures for r in reports) else 0


def write_junit(path: Path, reports: list[FileReport]) -> None:
    """JUnit XML: a suite per file with one case for the script and one per assertion."""
    suites = ET.Element("testsuites", name="dmamon")
    for r in reports:
        cases = 1 + len(r.assertions)
        failed = (1 if r.failures else 0) + sum(1 for a in r.assertions if a[3] is not None)
        suite = ET.SubElement(
            suites, "testsuite", name=str(r.path), tests=str(cases), failures=str(failed)
        )
        case = ET.SubElement(suite, "testcase", classname=str(r.path), name=r.path.name)
        if r.failures:
            f0 = r.failures[0]
            fail = ET.SubElement(case, "failure", message=f0.message)
            fail.text = "\n".join(f"{f.file}:{f.line}: {f.message}" for f in r.failures)
        for file, line, text, failure in r.assertions:
            c = ET.SubElement(suite, "testcase", classname=str(r.path), name=f"{line}: {text}")
            if failure is not None:
                ET.SubElement(c, "failure", message=failure).text = f"{file}:{line}: {failure}"
    ET.indent(suites)
    path.write_text(ET.tostring(suites, encoding="unicode") + "\n", encoding="utf-8")
