"""PCI configuration space through 0xcf8/0xcfc, and I/O ports, against QEMU 7.2."""

from __future__ import annotations

from typing import Any

import pytest
from conformance_harness import QEMU
from conformance_programs import pci_programs

pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")

NAMES = [p.name for p in pci_programs()]


@pytest.mark.parametrize("name", NAMES)
def test_pci_replies_match_qemu(conformance: Any, name: str) -> None:
    assert conformance.outcome(name).mismatches() == []


def test_the_ich9_functions_answer_as_in_qemu(conformance: Any) -> None:
    assert conformance.outcome("pci-ich9-functions").mismatches() == []


def test_unassigned_io_ports_read_all_ones_as_in_qemu(conformance: Any) -> None:
    assert conformance.outcome("io-unassigned-ports").mismatches() == []
