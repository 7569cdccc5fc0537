"""QEMU's trace-pattern matcher (memory/glob.py): ``*`` and ``?`` only."""

from __future__ import annotations

import pytest
from dmamon.memory import Tracer, glob_match, is_glob
from dmamon.memory import trace_events as ev


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("dma_*", "dma_read", True),
        ("dma_*", "dma", False),
        ("*", "", True),
        ("", "", True),
        ("", "x", False),
        ("dma_?ead", "dma_read", True),
        ("dma_?ead", "dma_rread", False),
        ("*_map", "dma_map", True),
        ("*_map", "dma_unmap", False),
        ("*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", False),
        ("**", "abc", True),
        ("a*c", "ac", True),
        ("a*c", "abcbd", False),
        # No classes and no escapes: '[' and '\' match themselves (fnmatch would differ).
        ("[d]ma_read", "dma_read", False),
        ("[d]ma_read", "[d]ma_read", True),
        ("dma_[rw]*", "dma_read", False),
        ("dma_[rw]*", "dma_[rw]ite", True),
        ("\\*", "\\anything", True),
        ("a\\?", "a\\b", True),
    ],
)
def test_glob_match_knows_only_star_and_question_mark(
    pattern: str, name: str, matches: bool
) -> None:
    assert glob_match(pattern, name) is matches


def test_a_pattern_is_a_glob_only_when_it_has_a_star() -> None:
    assert is_glob("dma_*") and not is_glob("dma_?ead") and not is_glob("[x]")


def test_the_tracer_treats_a_bracket_as_a_literal_character() -> None:
    t = Tracer(now=lambda: 0)
    assert t.set_state("dma_[rw]*", True) == []
    assert t.set_state("dma_re*", True) == [ev.dma_read]
