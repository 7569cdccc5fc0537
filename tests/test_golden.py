"""Golden transcripts: every tests/golden/*.dmamon and every script under scripts/ runs
through the monitor (as `dmamon run --echo --keep-going` does, stdout and the log stream
merged) and must print exactly its .out file. `pytest --update-golden` rewrites them."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from dmamon.cli import MachineOptions, build_machine, script_options
from dmamon.commands import AREAS  # noqa: F401  (registers the commands)
from dmamon.monitor import Monitor

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
SCRIPTS = sorted(
    p.relative_to(ROOT)
    for p in [*(ROOT / "scripts").rglob("*.dmamon"), *(ROOT / "dmamon/scripts").rglob("*.dmamon")]
) + sorted(p.relative_to(ROOT) for p in GOLDEN.glob("*.dmamon"))


def expected_path(script: Path) -> Path:
    if script.parts[0] == "scripts":
        return GOLDEN / "scripts" / script.relative_to("scripts").with_suffix(".out")
    if script.parts[:2] == ("dmamon", "scripts"):  # the tour ships in the package
        return GOLDEN / "scripts" / script.relative_to("dmamon/scripts").with_suffix(".out")
    return (ROOT / script).with_suffix(".out")


def transcript(script: Path) -> str:
    """Run ``script`` (relative to the repository root) and return what it printed."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        machine = build_machine(script_options(script, MachineOptions()))
        buf = io.StringIO()
        mon = Monitor(machine, buf, buf, echo_prompt="(dmamon) ")
        mon.run_file(script, keep_going=True)
        mon.close()
    finally:
        os.chdir(cwd)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(s) for s in SCRIPTS])
def test_script_prints_its_golden_transcript(script: Path, request: pytest.FixtureRequest) -> None:
    out = transcript(script)
    assert "Traceback" not in out and "To enable full traceback" not in out
    expected = expected_path(script)
    if request.config.getoption("--update-golden"):
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(out, encoding="utf-8")
    assert expected.exists(), f"no golden file {expected}: run pytest --update-golden"
    assert out == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "script", [s for s in SCRIPTS if "scripts" in s.parts[:2]], ids=lambda s: str(s)
)
def test_every_example_script_holds_its_assertions(script: Path) -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        machine = build_machine(script_options(script, MachineOptions()))
        mon = Monitor(machine, io.StringIO(), io.StringIO())
        mon.run_file(script, keep_going=True)
    finally:
        os.chdir(cwd)
    assert [f"{f.file}:{f.line}: {f.message}" for f in mon.failures] == []
