"""Shared fixtures and the hypothesis ``ci`` profile (no deadline, bounded examples)."""

from __future__ import annotations

import pytest
from dmamon.devices import Machine
from dmamon.memory import Engine
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")

# The first Engine raises Python's recursion limit (memory/engine.py) so that a modelled
# stack overflow comes first; hypothesis refuses a limit change inside a test, so make it
# happen here, before any test runs.
Engine()

EDU_BAR = 0xFE000000  # where the tests place edu's BAR0, as in QEMU's qtest-run2 transcript


@pytest.fixture
def machine() -> Machine:
    """The default machine: q35-like, 128 MiB, ``edu,id=edu0`` at 00:01.0, running."""
    return Machine()


@pytest.fixture
def edu_machine(machine: Machine) -> Machine:
    """The default machine with edu's BAR0 at 0xfe000000 and COMMAND = MEMORY | MASTER,
    programmed through 0xcf8/0xcfc exactly as QEMU's qtest-run2 transcript does."""
    io = machine.io_as
    io.store(0xCF8, 4, 0x80000810)
    io.store(0xCFC, 4, EDU_BAR)
    io.store(0xCF8, 4, 0x80000804)
    io.store(0xCFC, 2, 0x0006)
    return machine
