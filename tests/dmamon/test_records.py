"""``info device DEV`` and the generic record renderer (dmamon/records.py): text and JSON come
from one walk over the dataclass fields, so they agree."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field

from monitor_session import make_monitor, run_lines

from dmamon.records import record_data, record_lines


class Mode(enum.Enum):
    IDLE = 0
    BUSY = 1


@dataclass(frozen=True)
class Ring:
    base: int = field(metadata={"fmt": "hex"})
    entries: int


@dataclass(frozen=True)
class FakeInfo:
    ident: int = field(metadata={"fmt": "hex"})
    mode: Mode
    enabled: bool
    name: str | None
    rings: tuple[Ring, ...]
    raw: bytes = b""


INFO = FakeInfo(0x10000ED, Mode.BUSY, True, None, (Ring(0x1000, 16),), b"\x01\x02")


def test_text_walks_the_fields_in_order_with_their_formats() -> None:
    assert record_lines(INFO) == [
        "ident: 0x10000ed",
        "mode: BUSY",
        "enabled: yes",
        "name: -",
        "rings:",
        "  [0]:",
        "    base: 0x1000",
        "    entries: 16",
        "raw: 0102",
    ]


def test_json_holds_the_same_values() -> None:
    assert record_data(INFO) == {
        "ident": 0x10000ED,
        "mode": "BUSY",
        "enabled": True,
        "name": None,
        "rings": [{"base": 0x1000, "entries": 16}],
        "raw": "0102",
    }


def test_an_empty_list_says_none() -> None:
    assert record_lines({"rings": ()}) == ["rings: (none)"]


def test_info_device_renders_a_devices_records_as_text_and_json() -> None:
    mon, buf = make_monitor(["edu,id=edu0"])
    mon.machine.devices["edu0"].info = lambda: INFO  # type: ignore[attr-defined]
    text = run_lines(mon, buf, "info device edu0")
    assert text.splitlines()[:3] == ["edu0: FakeInfo", "  ident: 0x10000ed", "  mode: BUSY"]
    data = json.loads(run_lines(mon, buf, "info device edu0 --json"))
    assert data == {"device": "edu0", "info": json.loads(json.dumps(record_data(INFO)))}


def test_info_device_without_info_records_is_one_line() -> None:
    mon, buf = make_monitor(["edu,id=edu0"])
    dev = mon.machine.devices["edu0"]
    if callable(getattr(dev, "info", None)):  # once edu describes itself, use a bare device
        dev.info = None  # type: ignore[attr-defined]
    assert run_lines(mon, buf, "info device edu0") == (
        "info device: 'edu0' (Edu) does not describe itself yet (no info())\n"
    )


def test_info_device_of_an_unknown_device_and_without_one() -> None:
    mon, buf = make_monitor(["edu,id=edu0"])
    assert run_lines(mon, buf, "info device nosuch", "info device") == (
        "info device: Device 'nosuch' not found\nusage: info device DEV\n"
    )
