"""Trace events, log items and the per-machine tracer (memory/trace.py)."""

from __future__ import annotations

import io
import re

import pytest
from dmamon.memory import LOG_ITEMS, ConfigError, TraceEvent, Tracer, TraceRecord, all_events
from dmamon.memory import trace_events as ev
from dmamon.memory.trace import FileSink


def tracer(ring_size: int = 100) -> Tracer:
    return Tracer(now=lambda: 42, ring_size=ring_size)


def texts(t: Tracer) -> list[str]:
    return [r.text for r in t.ring]


def test_a_disabled_event_records_nothing() -> None:
    t = tracer()
    t.emit(ev.dma_unmap, dev="edu0", id=1, addr=0x1000, len=4)
    assert list(t.ring) == []


def test_an_exact_name_enables_one_event() -> None:
    t = tracer()
    assert t.set_state("dma_unmap", True) == [ev.dma_unmap]
    t.emit(ev.dma_unmap, dev="edu0", id=1, addr=0x1000, len=4)
    assert list(t.ring) == [
        TraceRecord(1, 42, "trace", "dma_unmap", "dma_unmap dev edu0 id 1 addr 0x1000 len 4")
    ]


def test_a_glob_enables_every_matching_event() -> None:
    t = tracer()
    matched = t.set_state("memory_region_ops_*", True)
    assert matched == [ev.memory_region_ops_read, ev.memory_region_ops_write]
    assert t.enabled == {ev.memory_region_ops_read, ev.memory_region_ops_write}


def test_a_question_mark_alone_does_not_make_a_pattern() -> None:
    # QEMU: a name is a pattern only when it contains '*'; then '?' matches one character
    t = tracer()
    with pytest.raises(KeyError):
        t.set_state("dma_ma?", True)
    assert t.set_state("dma_ma?*", True) == [ev.dma_map]


def test_a_glob_that_matches_nothing_is_not_an_error() -> None:
    assert tracer().set_state("no_such_*", True) == []


def test_an_unknown_exact_name_is_an_error_in_qemus_words() -> None:
    with pytest.raises(KeyError) as info:
        tracer().set_state("nonexistent_event", True)
    assert info.value.args == ('unknown event "nonexistent_event"',)


def test_disabling_by_glob_turns_events_off() -> None:
    t = tracer()
    t.set_state("*", True)
    t.set_state("dma_*", False)
    assert ev.dma_read not in t.enabled and ev.memory_region_ops_read in t.enabled


def test_glob_matching_is_case_sensitive() -> None:
    assert tracer().set_state("DMA_*", True) == []


def test_fields_that_do_not_match_the_declaration_are_a_bug_at_the_call_site() -> None:
    t = tracer()
    t.set_state("dma_unmap", True)
    with pytest.raises(
        TypeError,
        match=re.escape("trace event 'dma_unmap' takes ['addr', 'dev', 'id', 'len'], got ['dev']"),
    ):
        t.emit(ev.dma_unmap, dev="x")


def test_event_names_must_be_snake_case() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("trace event name must be snake_case, not 'Bad-Name'")
    ):
        TraceEvent("Bad-Name", "")


def test_an_event_cannot_be_declared_twice() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("trace event 'memory_region_ops_read' is declared twice")
    ):
        TraceEvent("memory_region_ops_read", "")


def test_events_are_listed_in_declaration_order() -> None:
    names = [e.name for e in all_events()]
    assert names.index("memory_region_ops_read") < names.index("memory_region_ops_write")
    assert names.index("memory_region_ops_write") < names.index("dma_read")


def test_log_lines_are_recorded_only_for_items_in_the_mask() -> None:
    t = tracer()
    t.log("guest_errors", "Invalid read")
    t.set_log_items(["guest_errors"])
    t.log("guest_errors", "Invalid write")
    t.log("unimp", "not yet")
    assert [(r.kind, r.name, r.text) for r in t.ring] == [("log", "guest_errors", "Invalid write")]


def test_setting_log_items_replaces_the_mask() -> None:
    t = tracer()
    t.set_log_items(["guest_errors"])
    t.set_log_items(["unimp"])
    assert t.log_items == {"unimp"}
    t.set_log_items(["none"])
    assert t.log_items == set()


def test_a_trace_item_enables_events_and_log_none_leaves_them_on() -> None:
    t = tracer()
    t.set_log_items(["guest_errors", "trace:dma_*"])
    assert ev.dma_read in t.enabled and t.log_items == {"guest_errors"}
    t.set_log_items(["none"])
    assert ev.dma_read in t.enabled


def test_an_unknown_log_item_is_an_error() -> None:
    t = tracer()
    with pytest.raises(KeyError) as info:
        t.set_log_items(["bogus"])
    assert info.value.args == ("bogus",)


def test_log_item_descriptions_are_qemus() -> None:
    assert LOG_ITEMS["unimp"] == "log unimplemented functionality"
    assert LOG_ITEMS["guest_errors"].startswith("log when the guest OS does something invalid")


def test_warnings_are_always_recorded() -> None:
    t = tracer()
    t.warn("hello")
    assert [(r.kind, r.text) for r in t.ring] == [("warning", "warning: hello")]


def test_warn_once_warns_once_per_key_until_reset() -> None:
    t = tracer()
    t.warn_once("a", "first")
    t.warn_once("a", "again")
    t.warn_once("b", "other")
    t.reset_warnings()
    t.warn_once("a", "after reset")
    assert texts(t) == ["warning: first", "warning: other", "warning: after reset"]


def test_sinks_receive_every_record_and_a_file_sink_writes_lines() -> None:
    t = tracer()
    got: list[TraceRecord] = []
    stream = io.StringIO()
    t.sinks += [got.append, FileSink(stream)]
    t.warn("one")
    t.set_log_items(["unimp"])
    t.log("unimp", "two")
    assert [r.seq for r in got] == [1, 2]
    assert stream.getvalue() == "warning: one\ntwo\n"


def test_the_ring_keeps_the_newest_records() -> None:
    t = tracer(ring_size=3)
    for i in range(5):
        t.warn(str(i))
    assert texts(t) == ["warning: 2", "warning: 3", "warning: 4"]
    assert [r.text for r in t.records_since(4)] == ["warning: 4"]


def test_records_carry_virtual_time_and_increasing_numbers() -> None:
    now = [0]
    t = Tracer(now=lambda: now[0])
    t.warn("a")
    now[0] = 500
    t.warn("b")
    assert [(r.seq, r.time_ns) for r in t.ring] == [(1, 0), (2, 500)]


def test_two_tracers_do_not_share_state() -> None:
    a, b = tracer(), tracer()
    a.set_state("dma_*", True)
    a.set_log_items(["guest_errors"])
    assert b.enabled == set() and b.log_items == set()


# -- structured fields ---------------------------------------------------------------------


def test_an_enabled_event_keeps_its_arguments_as_fields() -> None:
    t = tracer()
    t.set_state("dma_read", True)
    t.emit(ev.dma_read, dev="edu0", rid="00:01.0", addr=0x1000, len=8, result="OK")
    (rec,) = t.ring
    assert dict(rec.fields) == {
        "dev": "edu0",
        "rid": "00:01.0",
        "addr": 0x1000,
        "len": 8,
        "result": "OK",
    }
    assert rec.time_ns == 42 and rec.text.startswith("dma_read dev edu0")
    with pytest.raises(TypeError):
        rec.fields["addr"] = 0  # type: ignore[index]


def test_records_without_fields_have_an_empty_mapping() -> None:
    t = tracer()
    t.warn("x")
    t.console("y")
    assert [dict(r.fields) for r in t.ring] == [{}, {}]


def test_a_log_line_may_carry_fields_and_a_masked_one_records_nothing() -> None:
    t = tracer()
    t.log("guest_errors", "line", {"addr": 1})
    assert list(t.ring) == []
    t.set_log_items(["guest_errors"])
    fields = {"addr": 1}
    t.log("guest_errors", "line", fields)
    fields["addr"] = 2  # the record keeps its own copy
    assert dict(t.ring[0].fields) == {"addr": 1}
