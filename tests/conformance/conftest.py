"""Conformance against QEMU 7.2: shared programs and one run of all of them.

``harness.py`` and ``programs.py`` are loaded here under the names
``conformance_harness`` and ``conformance_programs`` (pytest runs in importlib mode, so
test modules cannot import their siblings by path). Environment knobs:
``DMAMON_CONFORMANCE_RANDOM`` (random programs, default 240) and
``DMAMON_CONFORMANCE_SEED`` (first seed, default 6000).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_HERE = Path(__file__).resolve().parent


def _load(module: str, filename: str) -> ModuleType:
    if module in sys.modules:
        return sys.modules[module]
    spec = importlib.util.spec_from_file_location(module, _HERE / filename)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module] = mod
    spec.loader.exec_module(mod)
    return mod


harness = _load("conformance_harness", "harness.py")
programs = _load("conformance_programs", "programs.py")


def all_programs() -> list[object]:
    """Every program of every conformance test module (they run together, in parallel)."""
    out = [
        *programs.pci_programs(),
        programs.ich9_program(),
        programs.unassigned_io_program(),
        *programs.edu_register_programs(),
        programs.intx_unmask_program(),
        programs.factorial_without_clock_program(),
        *programs.edu_dma_programs(),
        *programs.out_of_range_programs(),
        *programs.random_programs(programs.RANDOM_SEED, programs.RANDOM_COUNT),
    ]
    return out


_RUN: list[object] = []


@pytest.fixture(scope="session")
def conformance() -> object:
    """The shared run: ``conformance.outcome(name)`` runs everything on first use."""
    if not _RUN:
        _RUN.append(harness.Conformance(all_programs()))
    return _RUN[0]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _RUN and getattr(_RUN[0], "_outcomes", None):
        run = _RUN[0]
        terminalreporter.write_line(
            f"conformance: {len(run.programs)} programs on QEMU and dmamon in {run.seconds:.1f} s"
        )
