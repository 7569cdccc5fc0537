"""dmamon.qom and the HMP commands over it, against QEMU 7.2.22's names and output.

Recorded from ``qemu-system-x86_64 -M q35 -display none -monitor stdio -nodefaults -device
edu,id=e0 -device edu`` (kept here as data)."""

from __future__ import annotations

import pytest
from dmamon.devices import Machine
from monitor_session import make_monitor, run_lines

from dmamon.qom import QomError, qom_get, qom_list, qom_tree_lines

# QEMU 7.2.22 output (lines dmamon also models)
QEMU_QOM_GET_ADDR_ANON = "16"  # qom-get /machine/peripheral-anon/device[0] addr
QEMU_QOM_GET_PARENT_BUS = '"/machine/q35/pcie.0"'  # qom-get /machine/peripheral/e0 parent_bus
QEMU_QOM_GET_TYPE = '"edu"'  # qom-get /machine/peripheral/e0 type
QEMU_ERRORS = {
    "qom-list /nosuch": "Error: Device '/nosuch' not found",
    "qom-get /machine nosuch": "Error: Property 'pc-q35-7.2-machine.nosuch' not found",
    "qom-get /machine/peripheral/e0 nosuch": "Error: Property 'edu.nosuch' not found",
    "info qom-tree /nosuch": "Path '/nosuch' could not be resolved.",
    "qom-get /machine/peripheral": "qom-get: string expected",
    "qom-list /machine/peripheral/e0 extra": "qom-list: extraneous characters at the end of line",
}
QEMU_VERSION_LINE = "7.2.22Debian 1:7.2+dfsg-7+deb12u18+b3"  # info version: "%d.%d.%d%s"


def machine() -> Machine:
    return Machine(devices=["edu,id=e0", "edu"])


def test_paths_and_types_follow_qemu() -> None:
    m = machine()
    assert qom_get(m, "/machine/peripheral/e0", "type") == "edu"
    assert qom_get(m, "/machine/peripheral-anon/device[0]", "addr") == 16
    assert qom_get(m, "/machine/peripheral/e0", "parent_bus") == "/machine/q35/pcie.0"
    assert qom_get(m, "/machine", "type") == "pc-q35-7.2-machine"
    assert qom_get(m, "/machine/q35/pcie.0", "type") == "PCIE"
    assert qom_get(m, "/machine/unattached/device[2]", "type") == "ICH9-LPC"
    assert ("dma_mask", "uint64") in qom_list(m, "/machine/peripheral/e0")
    assert qom_list(m, "/machine/peripheral-anon") == [
        ("type", "string"),
        ("device[0]", "child<edu>"),
    ]
    assert qom_get(m, "e0", "type") == "edu"  # a partial path, as QEMU resolves it


def test_errors_are_qemus() -> None:
    m = machine()
    with pytest.raises(QomError, match="Device '/nosuch' not found"):
        qom_list(m, "/nosuch")
    with pytest.raises(QomError, match="Path '/x' could not be resolved."):
        qom_tree_lines(m, "/x")


def test_hmp_qom_commands_print_as_qemu() -> None:
    mon, buf = make_monitor(["edu,id=e0", "edu"])
    assert run_lines(mon, buf, "qom-get /machine/peripheral-anon/device[0] addr") == "16\n"
    assert run_lines(mon, buf, "qom-get /machine/peripheral/e0 type") == QEMU_QOM_GET_TYPE + "\n"
    out = run_lines(mon, buf, "qom-get /machine/peripheral/e0 parent_bus")
    assert out == QEMU_QOM_GET_PARENT_BUS + "\n"
    for line, message in QEMU_ERRORS.items():
        assert run_lines(mon, buf, line) == message + "\n", line
    assert run_lines(mon, buf, "qom-list") == "/\n"
    tree = run_lines(mon, buf, "info qom-tree /machine/peripheral")
    assert tree == "/peripheral (container)\n  /e0 (edu)\n"


def test_info_qom_tree_sorts_children_as_qemu() -> None:
    lines = qom_tree_lines(machine())
    unattached = lines[lines.index("  /unattached (container)") + 1 :]
    # QEMU sorts names as strings: device[15] before device[2]
    assert unattached == [
        "    /device[15] (ich9-ahci)",
        "    /device[16] (ICH9-SMB)",
        "    /device[2] (ICH9-LPC)",
    ]


def test_info_version_has_qemus_layout() -> None:
    mon, buf = make_monitor()
    out = run_lines(mon, buf, "info version")
    assert out == "7.2.0 (dmamon 0.1.0)\n"
    assert QEMU_VERSION_LINE.startswith("7.2.")  # version, then the package string verbatim


def test_info_ramblock_has_qemus_layout() -> None:
    # QEMU 7.2.22 (128 MiB, first two lines of its output)
    qemu = (
        "              Block Name    PSize              Offset               Used"
        "              Total\n"
        "                  pc.ram    4 KiB  0x0000000000000000 0x0000000008000000"
        " 0x0000000008000000\n"
    )
    mon, buf = make_monitor()
    assert run_lines(mon, buf, "info ramblock") == qemu


def test_info_mtree_d_is_refused_clearly_with_f_and_ignored_without() -> None:
    mon, buf = make_monitor()
    out = run_lines(mon, buf, "info mtree -f -d")
    assert mon.failed and "not modelled" in out
    assert run_lines(mon, buf, "info mtree -d") == run_lines(mon, buf, "info mtree")


def test_info_irq_counts_rising_edges_per_gsi_in_qemus_layout() -> None:
    """QEMU 7.2's ioapic_stat_update_irq counts a GSI each time its level rises; HMP prints
    "IRQ statistics for ioapic:" then "%2d: %d" for each non-zero count."""
    mon, buf = make_monitor()
    assert run_lines(mon, buf, "info irq") == "IRQ statistics for ioapic:\n"
    run_lines(mon, buf, "pci map edu0", "writel edu0.irq_raise 1", "writel edu0.irq_raise 2")
    run_lines(mon, buf, "writel edu0.irq_ack 3", "writel edu0.irq_raise 1")
    gsi = mon.machine.gsi_of(mon.machine.devices["edu0"])  # type: ignore[arg-type]
    assert run_lines(mon, buf, "info irq") == f"IRQ statistics for ioapic:\n{gsi:2d}: 2\n"
