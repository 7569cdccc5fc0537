"""Seeded random edu register traffic against QEMU 7.2 (conftest.py sets the count and
the first seed; a failing program is named ``random-SEED`` and regenerates from it)."""

from __future__ import annotations

from typing import Any

import pytest
from conformance_harness import QEMU
from conformance_programs import RANDOM_COUNT, RANDOM_SEED

pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")


@pytest.mark.parametrize("seed", range(RANDOM_SEED, RANDOM_SEED + RANDOM_COUNT))
def test_random_edu_traffic_replies_match_qemu(conformance: Any, seed: int) -> None:
    assert conformance.outcome(f"random-{seed}").mismatches() == []
