"""The QMP server: protocol through ``QmpSession.feed``, sockets, and the unmodified
``qemu.qmp`` client and ``qmp-shell`` driving it (as the QEMU transcripts show them doing).

Expected bytes are QEMU 7.2's, quoted inline from recorded raw QMP socket sessions and
from probing ``qemu-system-x86_64`` 7.2; the differential tests at the end replay
inputs against QEMU itself when it is installed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dmamon.devices.machine import Machine
from dmamon.memory import ConfigError, IOMMUFault, IOMMUPerm, MachineHalt
from hypothesis import given, settings
from hypothesis import strategies as st

from dmamon.qmp import (
    COMMANDS,
    JsonStreamParser,
    QmpCommand,
    QmpServer,
    QmpSession,
    encode_json,
    publish_event,
    serve_qmp,
)
from dmamon.qmp.commands import CommandFn

NEGOTIATE = b'{"execute": "qmp_capabilities"}'
GREETING = (
    b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, '
    b'"package": "dmamon 0.1.0"}, "capabilities": []}}\r\n'
)

HELP_TEXT = (
    "cont|c  -- resume emulation\n"
    "help|? [cmd] -- show the help\n"
    "info [subcommand] -- show various information about the system state\n"
    "quit|q  -- quit the emulator\n"
    "stop|s  -- stop emulation\n"
    "system_reset  -- reset the system\n"
    "xp /fmt addr -- physical memory dump starting at 'addr'\n"
)
INFO_TEXT = (
    "info status  -- show the current VM status (running|paused)\n"
    "info version  -- show the version of QEMU\n"
)


class FakeHmp:
    """A stand-in for the shell: a few HMP commands acting on the machine."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.lines: list[str] = []

    def __call__(self, line: str) -> str:
        self.lines.append(line)
        words = line.split()
        m = self.machine
        if not words:
            return ""
        cmd = words[0]
        if cmd == "help":
            return HELP_TEXT
        if cmd == "info":
            if len(words) == 1:
                return INFO_TEXT
            if words[1] == "status":
                return f"VM status: {m.status()}"
            if words[1] == "version":
                return "7.2.0 (dmamon)\n"
        if cmd == "stop":
            m.stop()
            return ""
        if cmd == "cont":
            m.cont()
            return ""
        if cmd == "system_reset":
            m.system_reset()
            return ""
        if cmd == "guest-reset":  # what a guest's write of RST_CPU to port 0xcf9 does
            m.io_as.store(0xCF9, 1, 0x6)
            return ""
        if cmd == "crash":
            m.engine.halted(MachineHalt("crashed", "model fell over", ("  in edu0",)))
            return ""
        if cmd == "fault":
            fault = IOMMUFault(0x0010, 0x1000, IOMMUPerm.WO, "not present", "IO_PAGE_FAULT")
            publish_event(m, "DMAMON_IOMMU_FAULT", fault)
            return ""
        if cmd == "cpu":
            return ""
        if cmd == "two-lines":
            return "first\nsecond\n"
        if cmd == "quit":
            raise SystemExit(0)
        if cmd == "boom":
            raise RuntimeError("shell bug")
        return f"unknown command: '{cmd}'\n"


def session(paused: bool = True, devices: list[str] | None = None) -> QmpSession:
    """A negotiated session over a fresh machine with the fake shell."""
    m = Machine(paused=paused, devices=devices)
    s = QmpSession(m, FakeHmp(m))
    assert s.feed(NEGOTIATE) == b'{"return": {}}\r\n'
    return s


def lines(out: bytes) -> list[dict[str, object]]:
    """Split server output into its JSON objects (checking the CRLF framing)."""
    assert out.endswith(b"\r\n")
    parts = out[:-2].split(b"\r\n")
    return [json.loads(p) for p in parts]


def run(s: QmpSession, execute: str, **arguments: object) -> list[dict[str, object]]:
    msg: dict[str, object] = {"execute": execute}
    if arguments:
        msg["arguments"] = arguments
    return lines(s.feed(json.dumps(msg).encode()))


def ret(s: QmpSession, execute: str, **arguments: object) -> object:
    out = run(s, execute, **arguments)
    assert "return" in out[-1], out
    return out[-1]["return"]


def err(s: QmpSession, execute: str, **arguments: object) -> tuple[object, object]:
    out = run(s, execute, **arguments)
    e = out[-1]["error"]
    assert isinstance(e, dict)
    return e["class"], e["desc"]


# ============================================================================================
# Framing, greeting, negotiation
# ============================================================================================


def test_greeting_reports_qemu_7_2_0_and_dmamon_as_the_package() -> None:
    m = Machine()
    assert QmpSession(m, FakeHmp(m)).greeting() == GREETING


def test_commands_before_negotiation_are_command_not_found_with_qemus_hint() -> None:
    m = Machine(paused=True)
    s = QmpSession(m, FakeHmp(m))
    assert s.feed(b'{"execute": "query-status"}') == (
        b'{"error": {"class": "CommandNotFound", "desc": '
        b"\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}\r\n"
    )


def test_negotiation_replies_with_the_id_given() -> None:
    m = Machine(paused=True)
    s = QmpSession(m, FakeHmp(m))
    assert s.feed(b'{"execute": "qmp_capabilities", "id": 1}') == b'{"return": {}, "id": 1}\r\n'


def test_second_negotiation_is_refused_as_already_complete() -> None:
    s = session()
    assert s.feed(b'{"execute": "qmp_capabilities", "id": 34}\n') == (
        b'{"id": 34, "error": {"class": "CommandNotFound", "desc": '
        b'"Capabilities negotiation is already complete, command ignored"}}\r\n'
    )


def test_unknown_capability_is_refused_with_qemus_null_parameter_message() -> None:
    m = Machine(paused=True)
    s = QmpSession(m, FakeHmp(m))
    out = s.feed(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["nosuchcap"]}}')
    assert out == (
        b'{"error": {"class": "GenericError", "desc": '
        b"\"Parameter 'null' does not accept value 'nosuchcap'\"}}\r\n"
    )
    assert not s.negotiated


def test_oob_is_not_available_because_it_is_not_offered() -> None:
    m = Machine(paused=True)
    s = QmpSession(m, FakeHmp(m))
    out = s.feed(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}')
    assert lines(out)[0]["error"] == {
        "class": "GenericError",
        "desc": "Capability oob not available",
    }


def test_empty_enable_list_negotiates() -> None:
    m = Machine(paused=True)
    s = QmpSession(m, FakeHmp(m))
    assert s.feed(b'{"execute": "qmp_capabilities", "arguments": {"enable": []}}') == (
        b'{"return": {}}\r\n'
    )


def test_replies_are_compact_crlf_lines_in_qdict_member_order() -> None:
    s = session()
    assert s.feed(b'{"execute": "query-status", "id": "a"}\n') == (
        b'{"return": {"status": "prelaunch", "singlestep": false, "running": false}, "id": "a"}\r\n'
    )


def test_an_id_of_any_json_value_is_echoed_in_qemus_member_order() -> None:
    s = session()
    out = s.feed(b'{"execute": "stop", "id": {"zz": 1, "a": 2, "any": 3, "b": [4, null]}}')
    assert out == b'{"return": {}, "id": {"any": 3, "a": 2, "zz": 1, "b": [4, null]}}\r\n'


def test_a_request_without_id_gets_a_reply_without_id() -> None:
    s = session()
    assert s.feed(b'{"execute": "stop"}') == b'{"return": {}}\r\n'


def test_two_objects_in_one_write_are_both_answered_in_order() -> None:
    s = session()
    out = lines(s.feed(b'{"execute": "stop", "id": 1}{"execute": "cont", "id": 2}'))
    assert [o.get("id") for o in out if "event" not in o] == [1, 2]


def test_an_object_split_byte_by_byte_is_answered_once_complete() -> None:
    s = session()
    msg = b'{"execute": "query-status", "id": "split"}'
    outs = [s.feed(msg[i : i + 1]) for i in range(len(msg))]
    assert outs[:-1] == [b""] * (len(msg) - 1)
    assert lines(outs[-1])[0]["id"] == "split"


def test_single_quoted_strings_are_accepted() -> None:
    s = session()
    out = s.feed(b"{'execute': 'query-status', 'id': 'it\\'s \"q\"'}")
    assert out.endswith(b'"id": "it\'s \\"q\\""}\r\n')


def test_non_ascii_is_written_as_upper_case_escapes_with_surrogate_pairs() -> None:
    s = session()
    out = s.feed(b'{"execute": "stop", "id": "\\u00e9\\ud83d\\ude00\x7f/"}')
    assert out == b'{"return": {}, "id": "\\u00E9\\uD83D\\uDE00\\u007F/"}\r\n'


def test_doubles_are_written_with_17_significant_digits_as_qemu_does() -> None:
    s = session()
    out = s.feed(
        b'{"execute": "stop", "id": [0.1, 1e2, -0.0, 2e-7, 123456789012345678901234567890]}'
    )
    assert out == (
        b'{"return": {}, "id": [0.10000000000000001, 100, -0, 1.9999999999999999e-07, '
        b"1.2345678901234568e+29]}\r\n"
    )


# ============================================================================================
# Errors: QEMU's classes and descriptions
# ============================================================================================

PARSE_ERRORS = [
    (b'{"execute": }', ["JSON parse error, expecting value"]),
    (b"}", ["JSON parse error, expecting value"]),
    (b"[1, 2]", ["QMP input must be a JSON object"]),
    (b'"str"', ["QMP input must be a JSON object"]),
    (b"foo ", ["JSON parse error, invalid keyword 'foo'"]),
    (b'{"execute" "x"}', ["JSON parse error, missing : in object pair"]),
    (b'{"execute": "stop" "id": 1}', ["JSON parse error, expected separator in dict"]),
    (b"{5: 1}", ["JSON parse error, key is not a string in object"]),
    (b'{"a": 1, }', ["JSON parse error, expecting value"]),
    (b"[1, 2 3]", ["JSON parse error, expected separator in list"]),
    (b'{"execute": "stop", "execute": "cont"}', ["JSON parse error, duplicate key"]),
    (b'{"execute": "x\\q"}', ["JSON parse error, invalid escape sequence in string"]),
    (b'{"execute": "x\\u12"}', ['JSON parse error, \\u12" is not a valid Unicode character']),
    (b'{"execute": "\\ud800"}', ["JSON parse error, \\ud800 is not a valid Unicode character"]),
    (b'{"id": "\\uffff"}', ["JSON parse error, \\uffff is not a valid Unicode character"]),
    (b'{"id": "\xef\xbf\xbf"}', ["JSON parse error, invalid UTF-8 sequence in string"]),
    (b'{"id": "\x80"}', ["JSON parse error, invalid UTF-8 sequence in string"]),
    (b"\x01", ["JSON parse error, stray '\x01'"]),
    (b"01", ["JSON parse error, stray '01'"]),
    (b"%d", ["JSON parse error, stray '%'"]),
    (b'{"execute": 1.5e}', ["JSON parse error, stray '1.5e}'"]),
    (
        b'{"execute": "a\x01b"}',
        ["JSON parse error, stray '\"a\x01'", "JSON parse error, expecting value"],
    ),
    (
        b'-{"execute": "stop"}',
        [
            "JSON parse error, stray '-{'",
            "JSON parse error, expecting value",
            "QMP input must be a JSON object",
            "JSON parse error, expecting value",
        ],
    ),
]


@pytest.mark.parametrize(("data", "descs"), PARSE_ERRORS)
def test_malformed_input_gets_qemus_parse_errors_without_id(data: bytes, descs: list[str]) -> None:
    s = session()
    out = lines(s.feed(data))
    assert out == [{"error": {"class": "GenericError", "desc": d}} for d in descs]


def test_a_stray_byte_is_escaped_as_qemu_writes_it() -> None:
    s = session()
    assert s.feed(b"\x01") == (
        b'{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\u0001\'"}}\r\n'
    )


def test_an_invalid_byte_outside_strings_is_reported_as_a_replacement_character() -> None:
    s = session()
    out = s.feed(b'{"execute": "stop", "id": 1}\xff{"execute": "stop", "id": 2}')
    assert out == (
        b'{"return": {}, "id": 1}\r\n'
        b'{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}\r\n'
        b'{"return": {}, "id": 2}\r\n'
    )


def test_the_connection_carries_on_after_a_parse_error() -> None:
    s = session()
    s.feed(b'{"execute": }\n')
    assert s.feed(b'{"execute": "stop", "id": 35}') == b'{"return": {}, "id": 35}\r\n'


ARGS_NOT_OBJECT = "QMP input member 'arguments' must be an object"
TOP_LEVEL_ERRORS = [
    (b'{"execute": "stop", "id": 8, "extra": 1}', 8, "QMP input member 'extra' is unexpected"),
    (b'{"id": 9}', 9, "QMP input lacks member 'execute'"),
    (b'{"execute": 42, "id": 10}', 10, "QMP input member 'execute' must be a string"),
    (b'{"execute": "stop", "arguments": [], "id": 11}', 11, ARGS_NOT_OBJECT),
    (b'{"execute": "stop", "arguments": null, "id": 12}', 12, ARGS_NOT_OBJECT),
    (b'{"exec-oob": "query-status", "id": 13}', 13, "QMP input member 'exec-oob' is unexpected"),
    # members are checked in QDict order, not in the order written
    (b'{"execute": 42, "extra": 1, "id": 14}', 14, "QMP input member 'extra' is unexpected"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "id_", "desc"), TOP_LEVEL_ERRORS)
def test_badly_formed_requests_get_qemus_errors_with_the_id(
    data: bytes, id_: int, desc: str
) -> None:
    s = session()
    assert lines(s.feed(data)) == [{"id": id_, "error": {"class": "GenericError", "desc": desc}}]


def test_an_unknown_command_is_command_not_found() -> None:
    s = session()
    assert s.feed(b'{"execute": "no-such-command", "id": 3}\n') == (
        b'{"id": 3, "error": {"class": "CommandNotFound", '
        b'"desc": "The command no-such-command has not been found"}}\r\n'
    )


def test_command_names_are_not_case_or_underscore_folded() -> None:
    s = session()
    assert err(s, "Query-Status") == (
        "CommandNotFound",
        "The command Query-Status has not been found",
    )
    assert err(s, "query_status") == (
        "CommandNotFound",
        "The command query_status has not been found",
    )


def bad_type(name: str, expected: str) -> str:
    return f"Invalid parameter type for '{name}', expected: {expected}"


UNEXPECTED = "Parameter '%s' is unexpected"
ARG_ERRORS = [
    ({"val": "zero", "size": 16, "filename": "/x"}, bad_type("val", "integer")),
    ({"val": 0, "size": 1.5, "filename": "/x"}, bad_type("size", "integer")),
    ({"val": 0, "size": True, "filename": "/x"}, bad_type("size", "integer")),
    ({"val": 1 << 63, "size": 16, "filename": "/x"}, bad_type("val", "integer")),
    ({"val": 0, "size": 16, "filename": None}, bad_type("filename", "string")),
    ({"val": 0, "size": 16}, "Parameter 'filename' is missing"),
    ({"val": "zero", "size": "x"}, bad_type("val", "integer")),
    ({"val": 0, "size": 16, "filename": "/x", "bogus": 1}, "Parameter 'bogus' is unexpected"),
    # several unexpected members: QEMU names the first in its GHashTable's order
    ({"a": 1, "b": 2, "c": 3, "val": 1, "size": 1, "filename": "/x"}, UNEXPECTED % "b"),
    ({"zz": 1, "yy": 2, "val": 1, "size": 1, "filename": "/x"}, UNEXPECTED % "yy"),
    ({"foo": 1, "bar": 2, "baz": 3, "qux": 4, "val": 1, "size": 1, "filename": "/x"},
     UNEXPECTED % "baz"),
]  # fmt: skip


@pytest.mark.parametrize(("arguments", "desc"), ARG_ERRORS)
def test_argument_errors_name_the_member_qemu_names(
    arguments: dict[str, object], desc: str
) -> None:
    s = session()
    assert err(s, "pmemsave", **arguments) == ("GenericError", desc)


def test_arguments_to_a_command_without_parameters_are_unexpected() -> None:
    s = session()
    assert err(s, "query-status", x=1) == ("GenericError", "Parameter 'x' is unexpected")


def test_the_reported_unexpected_member_survives_a_hash_table_resize() -> None:
    s = session()
    args = {f"x{i}": i for i in range(1, 11)}
    assert err(s, "query-status", **args) == ("GenericError", "Parameter 'x6' is unexpected")


def test_empty_arguments_object_is_fine_for_a_command_without_parameters() -> None:
    s = session()
    assert s.feed(b'{"execute": "stop", "arguments": {}}') == b'{"return": {}}\r\n'


def test_a_command_bug_is_answered_as_an_internal_error_and_the_session_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = session()

    def broken(self: QmpSession, a: dict[str, object]) -> object:
        raise RuntimeError("oops")

    def swap(fn: CommandFn) -> None:
        monkeypatch.setitem(COMMANDS, "query-version", QmpCommand("query-version", (), fn))

    swap(broken)
    assert err(s, "query-version") == ("GenericError", "internal error: RuntimeError: oops")
    swap(lambda self, a: object())
    assert err(s, "query-version") == (
        "GenericError",
        "internal error: cannot encode object as QMP JSON",
    )
    assert s.feed(b'{"execute": "stop", "id": 1}') == b'{"return": {}, "id": 1}\r\n'


# ============================================================================================
# Run state and events
# ============================================================================================


def test_query_status_maps_a_modelled_crash_to_internal_error() -> None:
    s = session(paused=False)
    s.machine.engine.halted(MachineHalt("crashed", "x"))
    assert ret(s, "query-status") == {
        "running": False,
        "singlestep": False,
        "status": "internal-error",
    }


def test_query_status_maps_a_modelled_hang_to_internal_error() -> None:
    s = session(paused=False)
    s.machine.engine.halted(MachineHalt("hung", "x"))
    assert ret(s, "query-status") == {
        "running": False,
        "singlestep": False,
        "status": "internal-error",
    }


def test_cont_emits_resume_before_its_reply() -> None:
    s = session()
    assert s.feed(b'{"execute": "cont", "id": 28}\n') == (
        b'{"timestamp": {"seconds": 0, "microseconds": 0}, "event": "RESUME"}\r\n'
        b'{"return": {}, "id": 28}\r\n'
    )


def test_stop_emits_stop_before_its_reply() -> None:
    s = session(paused=False)
    out = lines(s.feed(b'{"execute": "stop", "id": 29}'))
    assert [o.get("event") for o in out] == ["STOP", None]


def test_stop_when_already_stopped_emits_nothing() -> None:
    s = session()
    assert s.feed(b'{"execute": "stop", "id": 30}') == b'{"return": {}, "id": 30}\r\n'


def test_cont_when_running_emits_nothing() -> None:
    s = session(paused=False)
    assert s.feed(b'{"execute": "cont", "id": 35}') == b'{"return": {}, "id": 35}\r\n'


def test_cont_on_a_crashed_machine_asks_for_a_reset() -> None:
    s = session(paused=False)
    s.machine.engine.halted(MachineHalt("crashed", "x"))
    assert err(s, "cont") == ("GenericError", "Resetting the Virtual Machine is required")


def test_event_timestamps_are_virtual_time() -> None:
    s = session()
    s.machine.step(1_500_000_999)
    out = lines(s.feed(b'{"execute": "cont"}'))
    assert out[0]["timestamp"] == {"seconds": 1, "microseconds": 500000}


def test_system_reset_emits_reset_from_the_host() -> None:
    s = session()
    assert s.feed(b'{"execute": "system_reset", "id": 32}') == (
        b'{"timestamp": {"seconds": 0, "microseconds": 0}, "event": "RESET", '
        b'"data": {"guest": false, "reason": "host-qmp-system-reset"}}\r\n'
        b'{"return": {}, "id": 32}\r\n'
    )


def test_a_guest_reset_through_port_0xcf9_emits_a_guest_reset_event() -> None:
    s = session(paused=False)
    out = run(s, "human-monitor-command", **{"command-line": "guest-reset"})
    assert out[0]["data"] == {"guest": True, "reason": "guest-reset"}


def test_hmp_stop_and_cont_emit_stop_and_resume() -> None:
    s = session(paused=False)
    stop = run(s, "human-monitor-command", **{"command-line": "stop"})
    cont = run(s, "human-monitor-command", **{"command-line": "cont"})
    assert (stop[0]["event"], cont[0]["event"]) == ("STOP", "RESUME")


def test_hmp_system_reset_is_a_host_reset() -> None:
    s = session()
    out = run(s, "human-monitor-command", **{"command-line": "system_reset"})
    assert out[0]["data"] == {"guest": False, "reason": "host-qmp-system-reset"}


def test_quit_emits_shutdown_before_its_reply_and_ends_the_session() -> None:
    s = session()
    assert s.feed(b'{"execute": "quit", "id": 36}{"execute": "stop", "id": 37}') == (
        b'{"timestamp": {"seconds": 0, "microseconds": 0}, "event": "SHUTDOWN", '
        b'"data": {"guest": false, "reason": "host-qmp-quit"}}\r\n'
        b'{"return": {}, "id": 36}\r\n'
    )
    assert s.quit
    assert s.feed(b'{"execute": "stop"}') == b""


def test_no_events_are_sent_before_negotiation() -> None:
    m = Machine(paused=False)
    s = QmpSession(m, FakeHmp(m))
    m.engine.halted(MachineHalt("crashed", "x"))
    assert s.feed(NEGOTIATE) == b'{"return": {}}\r\n'


def test_a_modelled_crash_emits_machine_halt_with_the_report_then_stop() -> None:
    s = session(paused=False)
    out = run(s, "human-monitor-command", **{"command-line": "crash"})
    assert out[0] == {
        "timestamp": {"seconds": 0, "microseconds": 0},
        "event": "DMAMON_MACHINE_HALT",
        "data": {
            "kind": "crashed",
            "summary": "model fell over",
            "report": ["model fell over", "  in edu0"],
        },
    }
    assert out[1]["event"] == "STOP"


def test_an_edu_dma_past_its_buffer_crashes_the_machine_and_says_so() -> None:
    s = session(paused=False, devices=["edu,id=edu0,dma_inline=on"])
    s.machine.engine.fixes.set("edu-dma-bounds", False)
    for reg, value in (("dma_src", 0x1000), ("dma_dst", 0x40F00), ("dma_count", 0x200)):
        ret(s, "x-dmamon-reg-write", device="edu0", register=reg, value=value)
    out = run(s, "x-dmamon-reg-write", device="edu0", register="dma_cmd", value=1)
    assert [o.get("event") for o in out] == ["DMAMON_MACHINE_HALT", "STOP", None]
    data = out[0]["data"]
    assert isinstance(data, dict) and data["kind"] == "crashed"
    assert str(data["summary"]).startswith(
        "qemu: hardware error: EDU: DMA range 0x0000000000040f00"
    )


def test_an_iommu_fault_published_on_the_bus_becomes_an_event() -> None:
    s = session()
    out = run(s, "human-monitor-command", **{"command-line": "fault"})
    assert out[0]["event"] == "DMAMON_IOMMU_FAULT"
    assert out[0]["data"] == {
        "requester-id": 0x10,
        "bdf": "00:02.0",
        "iova": 0x1000,
        "perm": "wo",
        "reason": "not present",
        "iommu-event": "IO_PAGE_FAULT",
    }


def test_a_dict_payload_on_the_bus_is_the_event_data() -> None:
    s = session()
    publish_event(s.machine, "DMAMON_TEST", {"x": 1})
    assert lines(s.feed(b'{"execute": "stop"}'))[0]["data"] == {"x": 1}


def test_bus_payload_values_that_are_not_json_are_converted() -> None:
    s = session()
    publish_event(s.machine, "DMAMON_TEST", {"raw": b"\x01\xff", "obj": Path("/x"), 3: (1,)})
    data = lines(s.feed(b'{"execute": "stop"}'))[0]["data"]
    assert data == {"raw": "01ff", "obj": "/x", "3": [1]}


def test_closing_a_session_unsubscribes_it_from_the_machine() -> None:
    s = session()
    s.close()
    assert not s.machine.engine.events.has_subscribers


# ============================================================================================
# Commands
# ============================================================================================


def test_query_version_is_the_greeting_version() -> None:
    s = session()
    assert ret(s, "query-version") == {
        "qemu": {"micro": 0, "minor": 2, "major": 7},
        "package": "dmamon 0.1.0",
    }


def test_query_commands_lists_every_command_including_the_extensions() -> None:
    s = session()
    names = {c["name"] for c in ret(s, "query-commands")}  # type: ignore[attr-defined]
    assert {"qmp_capabilities", "query-status", "human-monitor-command", "pmemsave"} <= names
    assert {"x-dmamon-memory-read", "x-dmamon-reg-write"} <= names


def test_human_monitor_command_returns_the_text_with_crlf_line_ends() -> None:
    s = session()
    out = s.feed(
        b'{"execute": "human-monitor-command", '
        b'"arguments": {"command-line": "info status"}, "id": 21}'
    )
    assert out == b'{"return": "VM status: paused (prelaunch)\\r\\n", "id": 21}\r\n'


def test_human_monitor_command_returns_hmp_errors_as_text() -> None:
    s = session()
    assert ret(s, "human-monitor-command", **{"command-line": "nosuchcmd"}) == (
        "unknown command: 'nosuchcmd'\r\n"
    )


def test_human_monitor_command_joins_lines_with_crlf() -> None:
    s = session()
    assert ret(s, "human-monitor-command", **{"command-line": "two-lines"}) == "first\r\nsecond\r\n"


def test_a_silent_hmp_command_returns_an_empty_string() -> None:
    s = session()
    assert ret(s, "human-monitor-command", **{"command-line": ""}) == ""


def test_human_monitor_command_accepts_cpu_index_0() -> None:
    s = session()
    assert ret(s, "human-monitor-command", **{"command-line": "info status", "cpu-index": 0})


@pytest.mark.parametrize("cpu", [1, 5, -1])
def test_human_monitor_command_refuses_another_cpu_index(cpu: int) -> None:
    s = session()
    assert err(s, "human-monitor-command", **{"command-line": "info status", "cpu-index": cpu}) == (
        "GenericError",
        "Parameter 'cpu-index' expects a CPU number",
    )


def test_a_shell_exception_comes_back_as_text_not_as_a_traceback() -> None:
    s = session()
    assert ret(s, "human-monitor-command", **{"command-line": "boom"}) == (
        "internal error: RuntimeError: shell bug\r\n"
    )


def test_hmp_quit_ends_the_session_with_shutdown() -> None:
    s = session()
    out = run(s, "human-monitor-command", **{"command-line": "quit"})
    assert out[0]["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert out[1]["return"] == ""
    assert s.quit


def test_trace_event_get_state_lists_glob_matches_in_reverse_declaration_order() -> None:
    s = session()
    assert s.feed(
        b'{"execute": "trace-event-get-state", '
        b'"arguments": {"name": "memory_region_ops_*"}, "id": 15}'
    ) == (
        b'{"return": [{"name": "memory_region_ops_write", "vcpu": false, "state": "disabled"}, '
        b'{"name": "memory_region_ops_read", "vcpu": false, "state": "disabled"}], "id": 15}\r\n'
    )


def test_trace_event_set_state_enables_one_event() -> None:
    s = session()
    ret(s, "trace-event-set-state", name="memory_region_ops_read", enable=True)
    assert ret(s, "trace-event-get-state", name="memory_region_ops_read") == [
        {"name": "memory_region_ops_read", "vcpu": False, "state": "enabled"}
    ]


def test_trace_event_get_state_of_an_unknown_name_is_an_error() -> None:
    s = session()
    assert err(s, "trace-event-get-state", name="no_such_event") == (
        "GenericError",
        'unknown event "no_such_event"',
    )


def test_a_question_mark_alone_does_not_make_a_glob() -> None:
    s = session()
    assert err(s, "trace-event-get-state", name="memory_region_ops_rea?") == (
        "GenericError",
        'unknown event "memory_region_ops_rea?"',
    )
    assert len(ret(s, "trace-event-get-state", name="memory_region_ops_rea?*")) == 1  # type: ignore[arg-type]


def test_trace_event_set_state_with_a_glob_matching_nothing_succeeds() -> None:
    s = session()
    assert ret(s, "trace-event-set-state", name="no_such_event_*", enable=True) == {}


def test_ignore_unavailable_does_not_excuse_an_unknown_name() -> None:
    s = session()
    assert err(
        s, "trace-event-set-state", name="nope", enable=True, **{"ignore-unavailable": True}
    ) == (
        "GenericError",
        'unknown event "nope"',
    )


def test_trace_event_with_vcpu_0_says_the_event_is_not_vcpu_specific() -> None:
    s = session()
    assert err(s, "trace-event-get-state", name="memory_region_ops_read", vcpu=0) == (
        "GenericError",
        'event "memory_region_ops_read" is not vCPU-specific',
    )


def test_trace_event_with_another_vcpu_is_an_invalid_index_printed_unsigned() -> None:
    s = session()
    assert err(s, "trace-event-set-state", name="*", enable=True, vcpu=-1) == (
        "GenericError",
        "invalid vCPU index 4294967295",
    )


def test_trace_event_glob_with_vcpu_matches_no_event() -> None:
    s = session()
    assert ret(s, "trace-event-get-state", name="memory_*", vcpu=0) == []


def test_trace_event_set_state_requires_enable() -> None:
    s = session()
    assert err(s, "trace-event-set-state", name="x") == (
        "GenericError",
        "Parameter 'enable' is missing",
    )


def test_pmemsave_writes_guest_memory_to_a_file(tmp_path: Path) -> None:
    s = session()
    s.machine.memory.write(0x1000, b"dmamon!!")
    ret(s, "pmemsave", val=0x1000, size=8, filename=str(tmp_path / "m.bin"))
    assert (tmp_path / "m.bin").read_bytes() == b"dmamon!!"


def test_pmemsave_of_unassigned_memory_writes_zeros(tmp_path: Path) -> None:
    s = session()
    ret(s, "pmemsave", val=0xFED00000, size=16, filename=str(tmp_path / "z.bin"))
    assert (tmp_path / "z.bin").read_bytes() == bytes(16)


def test_pmemsave_reports_an_unopenable_file_as_qemu_does() -> None:
    s = session()
    assert err(s, "pmemsave", val=0, size=16, filename="/nonexistent/x") == (
        "GenericError",
        "Could not open '/nonexistent/x': No such file or directory",
    )


def test_pmemsave_refuses_a_negative_size(tmp_path: Path) -> None:
    s = session()
    assert err(s, "pmemsave", val=0, size=-1, filename=str(tmp_path / "n")) == (
        "GenericError",
        "Parameter 'size' expects a non-negative value",
    )


def test_memory_read_returns_hex_and_the_transaction_result() -> None:
    s = session()
    s.machine.memory.write(0x2000, b"\x01\x02\xfe")
    assert ret(s, "x-dmamon-memory-read", addr=0x2000, size=3) == {
        "data": "0102fe",
        "result": "MEMTX_OK",
    }


def test_memory_read_in_base64() -> None:
    s = session()
    s.machine.memory.write(0x2000, b"abc")
    assert ret(s, "x-dmamon-memory-read", addr=0x2000, size=3, format="base64") == {
        "data": base64.b64encode(b"abc").decode(),
        "result": "MEMTX_OK",
    }


def test_memory_read_of_unassigned_memory_names_the_decode_error() -> None:
    s = session()
    assert ret(s, "x-dmamon-memory-read", addr=0xFED00000, size=4) == {
        "data": "00000000",
        "result": "MEMTX_DECODE_ERROR",
    }


def test_memory_write_then_read_round_trips() -> None:
    s = session()
    assert ret(s, "x-dmamon-memory-write", addr=0x3000, data="cafe") == {"result": "MEMTX_OK"}
    assert s.machine.memory.read(0x3000, 2)[1] == b"\xca\xfe"


def test_memory_write_accepts_base64() -> None:
    s = session()
    ret(s, "x-dmamon-memory-write", addr=0x3000, data="AAEC", format="base64")
    assert s.machine.memory.read(0x3000, 3)[1] == b"\x00\x01\x02"


def test_memory_write_refuses_bad_hex() -> None:
    s = session()
    assert err(s, "x-dmamon-memory-write", addr=0, data="abc") == (
        "GenericError",
        "Parameter 'data' expects an even number of hex digits",
    )


def test_memory_commands_refuse_an_unknown_format() -> None:
    s = session()
    assert err(s, "x-dmamon-memory-read", addr=0, size=1, format="octal") == (
        "GenericError",
        "Parameter 'format' does not accept value 'octal'",
    )


def test_memory_read_refuses_more_than_a_mebibyte() -> None:
    s = session()
    assert err(s, "x-dmamon-memory-read", addr=0, size=(1 << 20) + 1) == (
        "GenericError",
        "Parameter 'size' expects a size of at most 1048576 bytes",
    )


def test_addresses_are_uint64_and_take_negative_values_as_qemu_does() -> None:
    s = session()
    assert err(s, "x-dmamon-memory-read", addr="0", size=1) == (
        "GenericError",
        "Parameter 'addr' expects uint64",
    )
    assert ret(s, "x-dmamon-memory-read", addr=-1, size=1) == {
        "data": "00",
        "result": "MEMTX_DECODE_ERROR",
    }


def test_reg_read_returns_the_value_and_its_fields() -> None:
    s = session()
    assert ret(s, "x-dmamon-reg-read", device="edu0", register="ident") == {
        "device": "edu0",
        "register": "ident",
        "offset": 0,
        "width": 32,
        "value": 0x010000ED,
        "fields": [],
    }


def test_reg_write_then_read_shows_the_device_behaviour() -> None:
    s = session()
    ret(s, "x-dmamon-reg-write", device="edu0", register="liveness", value=0x12345678)
    assert ret(s, "x-dmamon-reg-read", device="edu0", register="LIVENESS")["value"] == 0xEDCBA987  # type: ignore[index]


def test_reg_read_peek_shows_what_a_guest_read_cannot() -> None:
    s = session()
    ret(s, "x-dmamon-reg-write", device="edu0", register="irq_raise", value=0x5)
    read = ret(s, "x-dmamon-reg-read", device="edu0", register="irq_raise")
    peek = ret(s, "x-dmamon-reg-read", device="edu0", register="irq_raise", peek=True)
    assert (read["value"], peek["value"]) == (0, 5)  # type: ignore[index]


def test_reg_commands_name_a_missing_device_device_not_found() -> None:
    s = session()
    assert err(s, "x-dmamon-reg-read", device="nosuch", register="ident") == (
        "DeviceNotFound",
        "Device 'nosuch' not found",
    )


def test_reg_commands_name_a_missing_register() -> None:
    s = session()
    assert err(s, "x-dmamon-reg-read", device="edu0", register="bogus") == (
        "GenericError",
        "device 'edu0' has no register 'bogus'",
    )


def test_reg_write_refuses_a_value_wider_than_the_register() -> None:
    s = session()
    assert err(s, "x-dmamon-reg-write", device="edu0", register="ident", value=1 << 32) == (
        "GenericError",
        "Parameter 'value' expects a value that fits ident (32 bits)",
    )


# ============================================================================================
# Stream robustness
# ============================================================================================


def test_an_oversized_message_gets_one_error_and_the_next_command_works() -> None:
    m = Machine(paused=True)
    s = QmpSession(m, FakeHmp(m), max_message=1000)
    s.feed(NEGOTIATE)
    big = b'{"execute": "stop", "id": "' + b"x" * 5000 + b'", "arguments": {"a": [1, {"b": 2}]}}'
    out = s.feed(big[:3000]) + s.feed(big[3000:]) + s.feed(b'{"execute": "stop", "id": 2}')
    assert lines(out) == [
        {"error": {"class": "GenericError", "desc": "JSON token size limit exceeded"}},
        {"return": {}, "id": 2},
    ]


def test_excessive_nesting_gets_one_error_and_the_stream_recovers() -> None:
    s = session()
    out = s.feed(b"[" * 1100 + b"]" * 1100 + b'{"execute": "stop", "id": 3}')
    assert lines(out) == [
        {"error": {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}},
        {"return": {}, "id": 3},
    ]


def test_deep_but_allowed_nesting_is_echoed_without_exhausting_the_stack() -> None:
    s = session()
    ident = b"[" * 1000 + b"]" * 1000
    out = s.feed(b'{"execute": "stop", "id": ' + ident + b"}")
    assert out == b'{"return": {}, "id": ' + ident + b"}\r\n"


def test_an_incomplete_message_stays_buffered_without_reply() -> None:
    parser = JsonStreamParser()
    assert parser.feed(b'{"execute":"st') == []
    assert parser.pending == len(b'{"execute":"st')


@settings(deadline=None, max_examples=60)
@given(st.binary(max_size=300), st.lists(st.integers(1, 40), max_size=20))
def test_any_bytes_in_any_chunking_give_the_same_answers_and_never_raise(
    data: bytes, cuts: list[int]
) -> None:
    whole = session()
    expected = whole.feed(data)
    chunked = session()
    out = b""
    pos = 0
    for c in cuts:
        out += chunked.feed(data[pos : pos + c])
        pos += c
    out += chunked.feed(data[pos:])
    assert out == expected
    assert not expected or expected.endswith(b"\r\n")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(1 << 63), (1 << 64) - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


def _valid(v: object) -> bool:
    """QEMU rejects noncharacters and lone surrogates in strings."""
    if isinstance(v, str):
        return all(
            not (
                0xD800 <= ord(c) <= 0xDFFF
                or 0xFDD0 <= ord(c) <= 0xFDEF
                or ord(c) & 0xFFFE == 0xFFFE
            )
            for c in v
        )
    if isinstance(v, list):
        return all(_valid(x) for x in v)
    if isinstance(v, dict):
        return all(_valid(k) and _valid(x) for k, x in v.items())
    return True


@settings(deadline=None, max_examples=100)
@given(json_values)
def test_encoded_values_parse_back_to_the_same_value(value: object) -> None:
    if not _valid(value):
        return
    parsed = JsonStreamParser().feed(encode_json(value).encode() + b" ")
    assert len(parsed) == 1 and parsed[0].error is None
    assert parsed[0].value == value
    assert json.loads(encode_json(value)) == value


# ============================================================================================
# Sockets
# ============================================================================================


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short directory for UNIX sockets (sun_path is 108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="qmp", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def running(server: QmpServer, *, once: bool = False) -> Iterator[list[str]]:
    """Serve in a thread; always stop and join it."""
    result: list[str] = []
    t = threading.Thread(target=lambda: result.append(server.serve(once=once)), daemon=True)
    t.start()
    try:
        yield result
    finally:
        server.shutdown()
        t.join(10)
        server.close()
        assert not t.is_alive(), "QMP server thread did not stop"


def make_server(**kw: object) -> QmpServer:
    m = Machine(paused=True)
    return QmpServer(m, FakeHmp(m), **kw)  # type: ignore[arg-type]


def raw_client(path: Path) -> socket.socket:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect(str(path))
    return c


def read_lines(c: socket.socket, n: int) -> list[bytes]:
    buf = b""
    while buf.count(b"\r\n") < n:
        chunk = c.recv(1 << 16)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\r\n")[:n]


def test_the_unix_socket_is_created_owner_only(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    with make_server(unix_path=path) as srv:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert srv.addresses == [f"unix:{path}"]
    assert mode == 0o600
    assert not path.exists()


def test_a_stale_socket_file_is_replaced(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    old = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old.bind(str(path))
    old.close()
    with make_server(unix_path=path):
        assert stat.S_ISSOCK(os.stat(path).st_mode)


def test_a_regular_file_in_the_way_is_refused(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    path.write_text("keep me")
    with pytest.raises(ConfigError, match="a file that is not a socket is in the way"):
        make_server(unix_path=path)
    assert path.read_text() == "keep me"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.1", "example.org", "::"])
def test_tcp_refuses_hosts_other_than_loopback(host: str) -> None:
    with pytest.raises(ConfigError) as e:
        make_server(tcp=(host, 0))
    assert str(e.value) == (
        "QMP listens on the loopback interface only (127.0.0.1, ::1 or localhost), "
        f"not '{host}': a QMP client can read and write guest memory and files"
    )


@pytest.mark.parametrize("spec", ["localhost:0", "tcp:127.0.0.1:0", "[::1]:0"])
def test_tcp_address_strings_are_parsed(spec: str) -> None:
    try:
        srv = make_server(tcp=spec)
    except ConfigError as e:
        if "::1" in spec and "Cannot assign requested address" in str(e):
            pytest.skip("no IPv6 loopback here")
        raise
    with srv:
        host = "[::1]" if "::1" in spec else "127.0.0.1"
        assert srv.tcp_port and srv.addresses == [f"tcp:{host}:{srv.tcp_port}"]


def test_raw_socket_session_gets_greeting_replies_and_eof_after_quit(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    with running(make_server(unix_path=path)) as result:
        c = raw_client(path)
        with c:
            assert read_lines(c, 1) == [GREETING[:-2]]
            c.sendall(b'{"execute":"qmp_capabilities"}{"execute":"quit","id":1}')
            got = read_lines(c, 3)
            assert got[0] == b'{"return": {}}'
            assert b'"SHUTDOWN"' in got[1] and got[2] == b'{"return": {}, "id": 1}'
            assert c.recv(10) == b""
        for _ in range(100):
            if result:
                break
            time.sleep(0.05)
        assert result == ["quit"]


def test_clients_are_served_one_after_another(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    with running(make_server(unix_path=path)):
        a = raw_client(path)
        assert read_lines(a, 1)[0].startswith(b'{"QMP"')
        b = raw_client(path)
        b.settimeout(0.3)
        with pytest.raises(TimeoutError):
            b.recv(100)
        a.close()
        b.settimeout(5)
        assert read_lines(b, 1)[0].startswith(b'{"QMP"')
        b.sendall(NEGOTIATE)
        assert read_lines(b, 1) == [b'{"return": {}}']
        b.close()


def test_a_client_vanishing_mid_message_does_not_stop_the_server(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    with running(make_server(unix_path=path)):
        a = raw_client(path)
        read_lines(a, 1)
        a.sendall(b'{"execute": "qmp_capa')
        a.close()
        b = raw_client(path)
        with b:
            assert read_lines(b, 1)[0].startswith(b'{"QMP"')


def test_an_oversized_message_on_the_socket_keeps_the_connection(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    with running(make_server(unix_path=path)):
        c = raw_client(path)
        with c:
            read_lines(c, 1)
            c.sendall(b'{"execute": "qmp_capabilities", "id": "' + b"y" * (3 << 20) + b'"}')
            c.sendall(b'{"execute": "query-status", "id": 7}')
            got = read_lines(c, 2)
        assert (
            got[0]
            == b'{"error": {"class": "GenericError", "desc": "JSON token size limit exceeded"}}'
        )
        assert (
            got[1] == b'{"id": 7, "error": {"class": "CommandNotFound", "desc": '
            b"\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}"
        )


def test_serve_once_returns_after_the_first_client(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    with running(make_server(unix_path=path), once=True) as result:
        c = raw_client(path)
        read_lines(c, 1)
        c.close()
        for _ in range(100):
            if result:
                break
            time.sleep(0.05)
        assert result == ["once"]


def test_serve_qmp_reports_its_addresses_and_returns_on_quit(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    m = Machine(paused=True)
    seen: list[list[str]] = []
    result: list[str] = []

    def serve() -> None:
        result.append(
            serve_qmp(m, FakeHmp(m), unix_path=path, ready=lambda s: seen.append(s.addresses))
        )

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        for _ in range(100):
            if seen:
                break
            time.sleep(0.02)
        c = raw_client(path)
        with c:
            read_lines(c, 1)
            c.sendall(NEGOTIATE + b'{"execute": "quit"}')
            read_lines(c, 3)
    finally:
        t.join(10)
    assert not t.is_alive()
    assert seen == [[f"unix:{path}"]] and result == ["quit"]
    assert not path.exists()


# -- qemu.qmp's QMPClient ------------------------------------------------------------------


def qmp_client_session(address: str | tuple[str, int]) -> dict[str, object]:
    """What the QEMU transcript's QMPClient script does, against dmamon."""
    from qemu.qmp import EventListener, ExecuteError, QMPClient

    async def main() -> dict[str, object]:
        got: dict[str, object] = {}
        qmp = QMPClient("dmamon-test")
        await asyncio.wait_for(qmp.connect(address), 10)
        try:
            assert qmp.greeting is not None
            got["greeting"] = qmp.greeting._asdict()
            got["status"] = await qmp.execute("query-status")
            try:
                await qmp.execute("no-such-command")
            except ExecuteError as e:
                got["unknown"] = (e.error_class, str(e))
            try:
                await qmp.execute("pmemsave", {"val": "zero", "size": 16, "filename": "/x"})
            except ExecuteError as e:
                got["badarg"] = (e.error_class, str(e))
            got["hmp"] = await qmp.execute("human-monitor-command", {"command-line": "info status"})
            listener = EventListener(("STOP", "RESUME", "RESET"))
            with qmp.listen(listener):
                await qmp.execute("cont")
                await qmp.execute("stop")
                await qmp.execute("system_reset")
                got["events"] = [
                    (await asyncio.wait_for(listener.get(), 5))["event"] for _ in range(3)
                ]
            got["raw"] = await qmp.execute_msg(qmp.make_execute_msg("query-status"))
            with contextlib.suppress(Exception):
                await qmp.execute("quit")
        finally:
            with contextlib.suppress(EOFError, ConnectionError):
                await asyncio.wait_for(qmp.disconnect(), 10)
        return got

    return asyncio.run(main())


def test_qemu_qmp_client_drives_dmamon_over_a_unix_socket(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    with running(make_server(unix_path=path)) as result:
        got = qmp_client_session(str(path))
    assert got["greeting"] == json.loads(GREETING)
    assert got["status"] == {"status": "prelaunch", "singlestep": False, "running": False}
    assert got["unknown"] == ("CommandNotFound", "The command no-such-command has not been found")
    assert got["badarg"] == ("GenericError", "Invalid parameter type for 'val', expected: integer")
    assert got["hmp"] == "VM status: paused (prelaunch)\r\n"
    assert got["events"] == ["RESUME", "STOP", "RESET"]
    # QEMU: a reset while stopped leaves the machine in prelaunch
    assert got["raw"] == {"status": "prelaunch", "singlestep": False, "running": False}
    assert result == ["quit"]


def test_qemu_qmp_client_drives_dmamon_over_loopback_tcp() -> None:
    srv = make_server(tcp=("127.0.0.1", 0))
    assert srv.tcp_port
    with running(srv):
        got = qmp_client_session(("127.0.0.1", srv.tcp_port))
    assert got["events"] == ["RESUME", "STOP", "RESET"]


def test_the_legacy_qemu_monitor_protocol_drives_dmamon(sock_dir: Path) -> None:
    from qemu.qmp.legacy import QEMUMonitorProtocol

    path = sock_dir / "q.sock"
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with running(make_server(unix_path=path)):
            q = QEMUMonitorProtocol(str(path))
            greeting = q.connect()
            status = q.cmd("query-status")
            raw = q.cmd_obj({"execute": "cont"})  # no id: the reply must have none either
            events = q.get_events(wait=5.0)
            unknown = q.cmd_obj({"execute": "nope"})
            q.close()
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    assert greeting == json.loads(GREETING)
    assert status == {"status": "prelaunch", "singlestep": False, "running": False}
    assert raw == {"return": {}}
    assert [e["event"] for e in events] == ["RESUME"]
    assert unknown == {
        "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}
    }


# -- qmp-shell -----------------------------------------------------------------------------

# Run qmp-shell's module with this interpreter: the ``qmp-shell`` on PATH may be a shell
# wrapper (pyenv's shim) that ``python qmp-shell`` cannot run.
QMP_SHELL = (
    "qmp-shell"
    if importlib.util.find_spec("qemu") and importlib.util.find_spec("qemu.qmp")
    else None
)
_QMP_SHELL_MAIN = (
    "import sys; from qemu.qmp.qmp_shell import main; sys.argv[0] = 'qmp-shell'; sys.exit(main())"
)


def qmp_shell(args: list[str], stdin: str) -> tuple[int, str, str]:
    """Run qmp-shell on piped input; returns (exit status, stdout, stderr), CRLFs kept."""
    assert QMP_SHELL is not None
    p = subprocess.run(
        [sys.executable, "-c", _QMP_SHELL_MAIN, *args],
        input=stdin.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    return p.returncode, p.stdout.decode(), p.stderr.decode()


@pytest.mark.skipif(QMP_SHELL is None, reason="qmp-shell is not installed")
def test_qmp_shell_in_qmp_mode_runs_commands_and_shows_errors(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    stdin = (
        "query-status\n"
        "stop\n"
        "cont\n"
        "trace-event-get-state name=memory_region_ops_read\n"
        "no-such-command\n"
        "pmemsave val=zero size=16 filename=/x\n"
        'human-monitor-command command-line="info status"\n'
        '{"execute": "query-status"}\n'
        "\n"
    )
    with running(make_server(unix_path=path)):
        status, out, errors = qmp_shell(["-p", str(path)], stdin)
    assert status == 0, errors
    assert out.startswith("Welcome to the QMP low-level shell!\nConnected to QEMU 7.2.0\n\n")
    assert '"status": "prelaunch"' in out
    assert '"desc": "The command no-such-command has not been found"' in out
    assert '"desc": "Invalid parameter type for \'val\', expected: integer"' in out
    # qmp-shell keeps the quotes, so HMP sees '"info' as the command (as with QEMU)
    assert '"return": "unknown command: \'\\"info\'\\r\\n"' in out
    assert "'event': 'RESUME'" in out  # events are printed (as dicts) on an empty line
    assert "Expected a key=value pair" in errors


@pytest.mark.skipif(QMP_SHELL is None, reason="qmp-shell is not installed")
def test_qmp_shell_in_hmp_mode_passes_lines_through(sock_dir: Path) -> None:
    path = sock_dir / "q.sock"
    stdin = "info status\nnosuchcommand\ntwo-lines\ncpu 1\ncpu 0\nstop\n"
    with running(make_server(unix_path=path)):
        status, out, errors = qmp_shell(["-H", str(path)], stdin)
    assert status == 0, errors
    assert out == (
        "Welcome to the HMP shell!\nConnected to QEMU 7.2.0\n\n"
        "(QEMU) VM status: paused (prelaunch)\r\n"
        " (QEMU) unknown command: 'nosuchcommand'\r\n"
        " (QEMU) first\r\nsecond\r\n"
        " (QEMU) bad CPU index\n"
        "(QEMU) (QEMU) (QEMU) \n"
    )


# ============================================================================================
# Against QEMU itself (when installed): the same bytes in give the same bytes out
# ============================================================================================

QEMU = shutil.which("qemu-system-x86_64")


@pytest.fixture(scope="module")
def qemu_qmp() -> Iterator[Callable[[bytes, bool], bytes]]:
    """A paused QEMU with a QMP socket; the callable opens a connection, optionally
    negotiates, sends bytes and returns everything up to the sentinel reply."""
    if QEMU is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    d = Path(tempfile.mkdtemp(prefix="qmpq", dir="/tmp"))
    path = d / "q.sock"
    proc = subprocess.Popen(
        [
            QEMU,
            "-M",
            "q35",
            "-m",
            "128",
            "-S",
            "-display",
            "none",
            "-nodefaults",
            "-qmp",
            f"unix:{path},server=on,wait=off",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            if path.exists():
                break
            time.sleep(0.05)
        else:
            pytest.skip("QEMU did not create its QMP socket")

        def talk(data: bytes, negotiate: bool) -> bytes:
            return converse(lambda: raw_client(path), data, negotiate)

        yield talk
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


SENTINEL = b'\x01{"execute": "x-sentinel", "id": "END"}'


def converse(connect: Callable[[], socket.socket], data: bytes, negotiate: bool) -> bytes:
    c = connect()
    with c:
        buf = b""
        while not buf.endswith(b"\r\n"):
            buf += c.recv(1 << 16)
        if negotiate:
            c.sendall(NEGOTIATE)
            while not buf.endswith(b'{"return": {}}\r\n'):
                buf += c.recv(1 << 16)
        buf = b""
        c.sendall(data + SENTINEL)
        while b'"id": "END"' not in buf:
            chunk = c.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
    return buf


def dmamon_talk(data: bytes, negotiate: bool) -> bytes:
    s = session() if negotiate else QmpSession(Machine(paused=True), lambda line: "")
    return s.feed(data + SENTINEL)


# Only replies that do not depend on the run state: the QEMU process is shared.
DIFFERENTIAL = [
    b'{"execute": "stop", "id": {"zz": 1, "a": 2, "any": [3, 0.1, -0.0, 1e400]}}',
    b"{'execute': 'stop', 'id': 'it\\'s'}",
    b'{"execute": "stop", "id": "\\u00e9\\ud83d\\ude00\\u0000\xc0\x80"}',
    b'{"execute": "stop", "id": 1}{"execute": "cont", "id": 2}{"execute": "stop", "id": 3}',
    b'{"execute": "pmemsave", "arguments": {"val": 0, "size": 16, "filename": "/nonexistent/x"}}',
    b'{"execute": "pmemsave", "arguments": '
    b'{"size": 1, "filename": "/x", "val": 0, "x": 1, "y": 2, "zz": 3, "b": 4, "x9": 5}}',
    b'{"execute": "pmemsave", "arguments": {"val": 18446744073709551615, "size": 1}}',
    b'{"execute": "pmemsave", "arguments": {"val": 0, "size": -1, "filename": "/nonexistent/x"}}',
    b'{"execute": "trace-event-get-state", "arguments": {"name": "memory_region_ops_*"}}',
    b'{"execute": "trace-event-get-state", "arguments": {"name": "nope", "vcpu": 0}}',
    b'{"execute": "trace-event-get-state", "arguments": {"name": "memory_region_ops_read", '
    b'"vcpu": 0}}',
    b'{"execute": "trace-event-set-state", "arguments": {"name": "*", "enable": false, "vcpu": 3}}',
    b'{"execute": "human-monitor-command", "arguments": {"command-line": "x", "cpu-index": 2}}',
    b'{"execute": "human-monitor-command", "arguments": {"command-line": 5}}',
    b'{"execute": "qmp_capabilities", "id": 34}',
    b'{"execute": "query-status", "arguments": {"x1": 1, "x2": 2, "x3": 3, "x4": 4, "x5": 5, '
    b'"x6": 6, "x7": 7, "x8": 8, "x9": 9, "x10": 10, "x11": 11, "x12": 12, "x13": 13}}',
    b'{"execute": "quit", "extra": 1, "id": [1]}',
]


def _no_timestamps(out: bytes) -> list[object]:
    objs = lines(out) if out else []
    for o in objs:
        if isinstance(o, dict) and "timestamp" in o:
            o["timestamp"] = "T"
    return objs


@pytest.mark.parametrize("data", DIFFERENTIAL)
def test_negotiated_requests_get_the_same_bytes_as_from_qemu(
    qemu_qmp: Callable[[bytes, bool], bytes], data: bytes
) -> None:
    ours, theirs = dmamon_talk(data, True), qemu_qmp(data, True)
    if b'"timestamp"' in theirs:
        assert _no_timestamps(ours) == _no_timestamps(theirs)
    else:
        assert ours == theirs


FRAGMENTS = [
    b"{", b"}", b"[", b"]", b":", b",", b" ", b"\n", b'"execute"', b'"id"', b'"arguments"',
    b'"query-status"', b'"pmemsave"', b'"stop"', b"'sq'", b'"a\\u00e9"', b'"\\q"', b'"\\ud800"',
    b"1", b"-2", b"0.5", b"1e3", b"01", b"-", b"true", b"null", b"nul",
    b"\x01", b"\xff", b"\xc3\xa9", b"\xf4\x90\x80\x80", b"\xe0\x80\xaf", b"\x00",
    b'"x', b"\\", b"%", b"'",
]  # fmt: skip


@pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed")
@settings(deadline=None, max_examples=40)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=30))
def test_random_token_soup_gets_the_same_bytes_as_from_qemu(
    qemu_qmp: Callable[[bytes, bool], bytes], soup: list[bytes]
) -> None:
    data = b"".join(soup)
    assert dmamon_talk(data, False) == qemu_qmp(data, False)


# ============================================================================================
# One implementation of each machine operation (dmamon/ops.py)
# ============================================================================================

SELF_DMA_EDU = "edu,id=edu0,dma_inline=on,busy_check=off,dma_mask=0xffffffffffffffff"
WARN_60 = "warning: Blocked re-entrant IO on MemoryRegion: edu-mmio at addr: 0x60"


def _self_dma_machine(m: Machine) -> None:
    """edu0's BAR0 at 0xfe000000, memory and bus master on, an inline DMA of 4 bytes from
    its buffer to its own ``irq_raise`` set up (started by writing dma_cmd = 3)."""
    io = m.io_as
    io.store(0xCF8, 4, 0x80000810)
    io.store(0xCFC, 4, 0xFE000000)
    io.store(0xCF8, 4, 0x80000804)
    io.store(0xCFC, 2, 0x0006)
    m.memory.store(0xFE000080, 8, 0x40000)
    m.memory.store(0xFE000088, 8, 0xFE000060)
    m.memory.store(0xFE000090, 8, 4)


def _warnings(m: Machine) -> list[str]:
    return [r.text for r in m.engine.tracer.ring if r.kind == "warning"]


def test_qmp_reg_write_engages_the_re_entrancy_guard_as_hmp_reg_write_does() -> None:
    from tests.monitor_session import make_monitor, run_lines

    s = session(devices=[SELF_DMA_EDU])
    _self_dma_machine(s.machine)
    ret(s, "x-dmamon-reg-write", device="edu0", register="dma_cmd", value=3)
    mon, buf = make_monitor([SELF_DMA_EDU])
    _self_dma_machine(mon.machine)
    run_lines(mon, buf, "reg write edu0 dma_cmd 3")
    assert _warnings(s.machine) == _warnings(mon.machine) == [WARN_60]
    assert s.machine.device("edu0").regs.peek("irq_status") == 0  # type: ignore[attr-defined]


# ============================================================================================
# query-pci, query-commands
# ============================================================================================


def test_query_commands_lists_every_command_the_server_accepts() -> None:
    s = session()
    names = [c["name"] for c in ret(s, "query-commands")]  # type: ignore[attr-defined, index]
    assert sorted(names) == sorted(COMMANDS)
    for name in names:
        out = run(s, name, **{"no-such-argument": 1})
        assert out[-1]["error"] != {  # type: ignore[comparison-overlap]
            "class": "CommandNotFound",
            "desc": f"The command {name} has not been found",
        }


# QEMU 7.2.22, ``-M q35 -display none -nodefaults -device edu -qmp stdio``: query-pci.
QEMU_QUERY_PCI_EDU = (
    b'{"return": [{"bus": 0, "devices": [{"irq_pin": 0, "bus": 0, "qdev_id": "", "slot": 0, '
    b'"class_info": {"class": 1536, "desc": "Host bridge"}, "id": {"device": 10688, "subsyst'
    b'em-vendor": 6900, "vendor": 32902, "subsystem": 4352}, "function": 0, "regions": []}, '
    b'{"irq_pin": 1, "bus": 0, "qdev_id": "", "irq": 0, "slot": 1, "class_info": {"class": 2'
    b'55}, "id": {"device": 4584, "subsystem-vendor": 6900, "vendor": 4660, "subsystem": 435'
    b'2}, "function": 0, "regions": [{"prefetch": false, "mem_type_64": false, "bar": 0, "si'
    b'ze": 1048576, "address": -1, "type": "memory"}]}, {"irq_pin": 0, "bus": 0, "qdev_id": '
    b'"", "slot": 31, "class_info": {"class": 1537, "desc": "ISA bridge"}, "id": {"device": '
    b'10520, "subsystem-vendor": 6900, "vendor": 32902, "subsystem": 4352}, "function": 0, "'
    b'regions": []}, {"irq_pin": 1, "bus": 0, "qdev_id": "", "irq": 0, "slot": 31, "class_in'
    b'fo": {"class": 262, "desc": "SATA controller"}, "id": {"device": 10530, "subsystem-ven'
    b'dor": 6900, "vendor": 32902, "subsystem": 4352}, "function": 2, "regions": [{"bar": 4,'
    b' "size": 32, "address": -1, "type": "io"}, {"prefetch": false, "mem_type_64": false, "'
    b'bar": 5, "size": 4096, "address": -1, "type": "memory"}]}, {"irq_pin": 1, "bus": 0, "q'
    b'dev_id": "", "irq": 0, "slot": 31, "class_info": {"class": 3077, "desc": "SMBus"}, "id'
    b'": {"device": 10544, "subsystem-vendor": 6900, "vendor": 32902, "subsystem": 4352}, "f'
    b'unction": 3, "regions": [{"bar": 4, "size": 64, "address": -1, "type": "io"}]}]}]}'
)
# The same with ``-device pci-bridge,chassis_nr=1,id=br0 -device edu,bus=br0,addr=2``.
QEMU_QUERY_PCI_BRIDGE = (
    b'{"return": [{"bus": 0, "devices": [{"irq_pin": 0, "bus": 0, "qdev_id": "", "slot": 0, '
    b'"class_info": {"class": 1536, "desc": "Host bridge"}, "id": {"device": 10688, "subsyst'
    b'em-vendor": 6900, "vendor": 32902, "subsystem": 4352}, "function": 0, "regions": []}, '
    b'{"irq_pin": 1, "bus": 0, "pci_bridge": {"bus": {"prefetchable_range": {"limit": 104857'
    b'5, "base": 0}, "memory_range": {"limit": 1048575, "base": 0}, "secondary": 0, "io_rang'
    b'e": {"limit": 4095, "base": 0}, "number": 0, "subordinate": 0}}, "qdev_id": "br0", "ir'
    b'q": 0, "slot": 1, "class_info": {"class": 1540, "desc": "PCI bridge"}, "id": {"device"'
    b': 1, "vendor": 6966}, "function": 0, "regions": [{"prefetch": false, "mem_type_64": tr'
    b'ue, "bar": 0, "size": 256, "address": -1, "type": "memory"}]}, {"irq_pin": 0, "bus": 0'
    b', "qdev_id": "", "slot": 31, "class_info": {"class": 1537, "desc": "ISA bridge"}, "id"'
    b': {"device": 10520, "subsystem-vendor": 6900, "vendor": 32902, "subsystem": 4352}, "fu'
    b'nction": 0, "regions": []}, {"irq_pin": 1, "bus": 0, "qdev_id": "", "irq": 0, "slot": '
    b'31, "class_info": {"class": 262, "desc": "SATA controller"}, "id": {"device": 10530, "'
    b'subsystem-vendor": 6900, "vendor": 32902, "subsystem": 4352}, "function": 2, "regions"'
    b': [{"bar": 4, "size": 32, "address": -1, "type": "io"}, {"prefetch": false, "mem_type_'
    b'64": false, "bar": 5, "size": 4096, "address": -1, "type": "memory"}]}, {"irq_pin": 1,'
    b' "bus": 0, "qdev_id": "", "irq": 0, "slot": 31, "class_info": {"class": 3077, "desc": '
    b'"SMBus"}, "id": {"device": 10544, "subsystem-vendor": 6900, "vendor": 32902, "subsyste'
    b'm": 4352}, "function": 3, "regions": [{"bar": 4, "size": 64, "address": -1, "type": "i'
    b'o"}]}]}]}'
)


def test_query_pci_is_byte_for_byte_qemus() -> None:
    s = session(devices=["edu"])
    assert s.feed(b'{"execute": "query-pci"}') == QEMU_QUERY_PCI_EDU + b"\r\n"


def test_query_pci_shows_a_bridge_and_its_windows_as_qemu_does() -> None:
    s = session(devices=["pci-bridge,chassis_nr=1,id=br0", "edu,bus=br0,addr=2"])
    out = s.feed(b'{"execute": "query-pci"}')
    # dmamon's pci-bridge model has no interrupt pin; QEMU's has INTA (for its SHPC).
    qemu = QEMU_QUERY_PCI_BRIDGE.replace(
        b'{"irq_pin": 1, "bus": 0, "pci_bridge"', b'{"irq_pin": 0, "bus": 0, "pci_bridge"'
    ).replace(b'"qdev_id": "br0", "irq": 0, "slot": 1', b'"qdev_id": "br0", "slot": 1')
    assert out == qemu + b"\r\n"


# ============================================================================================
# Socket policy (dmamon/servers.py)
# ============================================================================================


def test_a_live_servers_socket_is_never_taken_over(sock_dir: Path) -> None:
    from dmamon.qtest import serve_unix

    path = sock_dir / "q.sock"
    with make_server(unix_path=path):
        inode = os.stat(path).st_ino
        with pytest.raises(ConfigError, match="another server is listening there$"):
            make_server(unix_path=path)
        with pytest.raises(ConfigError, match="another server is listening there$"):
            serve_unix(Machine(devices=[]), str(path), max_clients=0)
        assert os.stat(path).st_ino == inode  # the first server still owns its socket


def test_ctrl_c_stops_dmamon_qmp_cleanly(sock_dir: Path) -> None:
    import signal

    path = sock_dir / "q.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dmamon", "qmp", "--socket", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith(b"dmamon: QMP on unix:"), first
    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=30)
    assert (proc.returncode, out, rest) == (0, b"", b"")
    assert not path.exists()


# ============================================================================================
# The machine's event bus (engine.events) feeds the session


def _bus_events(m: Machine) -> list[object]:
    seen: list[object] = []
    m.engine.events.subscribe(seen.append)
    return seen


def test_the_machine_publishes_run_state_changes_and_resets_on_the_bus() -> None:
    from dmamon.memory import ResetEvent, RunStateChanged, ShutdownEvent

    m = Machine(paused=False, devices=[])
    seen = _bus_events(m)
    m.stop()
    m.stop()  # no change, no event
    m.cont()
    m.system_reset()
    m.io_as.store(0xCF9, 1, 0x6)  # the guest's reset runs as a bottom half
    m.after_command()
    m.shutdown()
    assert seen == [
        RunStateChanged("running", "paused"),
        RunStateChanged("paused", "running"),
        ResetEvent(False, "host-qmp-system-reset"),
        ResetEvent(True, "guest-reset"),
        ShutdownEvent(False, "host-qmp-quit"),
        RunStateChanged("running", "shutdown"),
    ]


def test_a_typed_iommu_fault_on_the_bus_becomes_dmamon_iommu_fault() -> None:
    from dmamon.memory import IommuFaulted

    s = session()
    fault = IOMMUFault(0x0010, 0x1000, IOMMUPerm.WO, "not present", "IO_PAGE_FAULT")
    s.machine.engine.events.emit(IommuFaulted(fault))
    ev = lines(s.feed(b'{"execute": "stop"}'))[0]
    assert ev["event"] == "DMAMON_IOMMU_FAULT"
    assert ev["data"]["iova"] == 0x1000


def test_bus_events_without_a_converter_do_not_reach_qmp() -> None:
    from dmamon.memory import ReentrancyBlocked

    s = session()
    s.machine.engine.events.emit(ReentrancyBlocked("edu0", "edu-mmio", 0x60, True))
    assert lines(s.feed(b'{"execute": "stop"}')) == [{"return": {}}]


def test_quit_shuts_the_machine_down_with_one_shutdown_event_and_no_stop() -> None:
    s = session(paused=False)
    out = lines(s.feed(b'{"execute": "quit"}'))
    assert [o.get("event") for o in out] == ["SHUTDOWN", None]
    assert s.machine.run_state == "shutdown"


def test_no_qmp_module_sets_attributes_on_the_machine() -> None:
    import dmamon.qmp

    for path in Path(dmamon.qmp.__file__).parent.glob("*.py"):
        assert "setattr(" not in path.read_text(), path.name


def test_a_real_amdvi_fault_reaches_qmp_as_dmamon_iommu_fault() -> None:
    from dmamon.devices.amdvi.driver import AmdIommuDriver

    s = session(devices=["amd-iommu", "edu,id=edu0"])
    m = s.machine
    drv = AmdIommuDriver.of(m)
    drv.setup()
    edu = m.device("edu0")
    drv.attach(edu)  # an empty page table: every IOVA faults
    m.io_as.store(0xCF8, 4, 0x80000000 | 2 << 11 | 0x04)  # edu (00:02.0): bus master on
    m.io_as.store(0xCFC, 2, 0x0006)
    s.feed(b'{"execute": "cont"}')
    assert edu.dma is not None and edu.dma.read(0x2000000, 4).fault is not None
    out = lines(s.feed(b'{"execute": "query-status"}'))
    faults = [o["data"] for o in out if o.get("event") == "DMAMON_IOMMU_FAULT"]
    assert faults and faults[0]["iova"] == 0x2000000 and faults[0]["bdf"] == "00:02.0"
