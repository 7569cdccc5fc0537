"""QMP qom-list/qom-get: the same QOM tree as HMP's, with QEMU 7.2's error classes.

The error replies below were recorded from qemu-system-x86_64 7.2.22
(``-M q35 -nodefaults -device edu,id=e -qmp stdio``).
"""

from __future__ import annotations

import io
import json

from dmamon.devices import Machine
from monitor_session import run_lines

from dmamon.monitor import Monitor
from dmamon.qmp import QmpSession
from dmamon.qom import qom_get, qom_list

NEGOTIATE = b'{"execute": "qmp_capabilities"}'


def _reply(s: QmpSession, execute: str, **arguments: object) -> dict[str, object]:
    out = s.feed(json.dumps({"execute": execute, "arguments": arguments}).encode())
    reply = json.loads(out.rstrip(b"\r\n").split(b"\r\n")[-1])
    assert isinstance(reply, dict)
    return reply


def _session() -> tuple[Machine, QmpSession]:
    m = Machine(devices=["edu,id=e"])
    s = QmpSession(m, None)  # type: ignore[arg-type]
    s.feed(NEGOTIATE)
    return m, s


def test_qom_get_reads_a_device_property_as_the_hmp_tree_has_it() -> None:
    m, s = _session()
    reply = _reply(s, "qom-get", path="/machine/peripheral/e", property="dma_mask")
    assert reply == {"return": qom_get(m, "/machine/peripheral/e", "dma_mask")}
    assert reply == {"return": 268435455}  # QEMU 7.2's edu default


def test_qom_list_lists_the_same_properties_as_hmp() -> None:
    m, s = _session()
    reply = _reply(s, "qom-list", path="/machine/peripheral/e")
    expected = [{"name": n, "type": t} for n, t in qom_list(m, "/machine/peripheral/e")]
    assert reply == {"return": expected}
    assert expected[0] == {"name": "type", "type": "string"}


def test_unknown_objects_and_properties_get_qemus_error_classes() -> None:
    _, s = _session()
    nope = {"class": "DeviceNotFound", "desc": "Device '/machine/nope' not found"}
    assert _reply(s, "qom-get", path="/machine/nope", property="type") == {"error": nope}
    assert _reply(s, "qom-list", path="/machine/nope") == {"error": nope}
    missing = {"class": "GenericError", "desc": "Property 'edu.nope' not found"}
    got = _reply(s, "qom-get", path="/machine/peripheral/e", property="nope")
    assert got == {"error": missing}


def test_hmp_qom_get_and_qmp_agree() -> None:
    m, s = _session()
    mon = Monitor(m, io.StringIO())
    run_lines(mon, mon.out_stream, "qom-get /machine/peripheral/e dma_mask")
    assert (
        mon.value
        == _reply(s, "qom-get", path="/machine/peripheral/e", property="dma_mask")["return"]
    )
