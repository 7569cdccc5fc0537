"""House limits (ARCHITECTURE.md, CONTRIBUTING.md): no source file over 600 lines and no
function over 60, in the three packages. Tests and their data are exempt."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 60
SOURCES = sorted(
    p for folder in ("memory", "devices", "dmamon") for p in (ROOT / folder).rglob("*.py")
)
IDS = [str(p.relative_to(ROOT)) for p in SOURCES]


def long_functions(source: str) -> list[str]:
    """``name (N lines)`` for every function or method longer than the limit."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            n = node.end_lineno - node.lineno + 1  # from ``def``: decorators are declarations
            if n > MAX_FUNCTION_LINES:
                out.append(f"{node.name} ({n} lines)")
    return out


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_no_source_file_is_over_600_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_FILE_LINES


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_no_function_is_over_60_lines(path: Path) -> None:
    assert long_functions(path.read_text()) == []


def test_the_function_measure_counts_the_def_line_and_body() -> None:
    body = "\n".join(f"    x = {i}" for i in range(60))
    assert long_functions(f"def f():\n{body}\n") == ["f (61 lines)"]
    assert long_functions("@d\ndef g():\n    pass\n") == []
