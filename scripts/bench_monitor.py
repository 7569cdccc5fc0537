"""Monitor figures for scripts/bench.py (issue 3): batch script speed and start-up times.

- ``script_lines_per_s``: ``dmamon run`` over a 100,000-line script of writel/readl to RAM,
  whole process (target >= 20,000 lines/s);
- ``shell_start_s``: process start to the first prompt of the interactive shell, scripted
  (target <= 0.4 s);
- ``help_s``: ``dmamon --help`` (target <= 0.15 s).

Wall-clock timing is for this benchmark only; nothing in dmamon itself reads the wall clock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {
    "script_lines_per_s": (">=", 20_000.0),
    "shell_start_s": ("<=", 0.4),
    "help_s": ("<=", 0.15),
}


_CACHE = tempfile.mkdtemp(prefix="dmamon-bench-pyc-")


def _env() -> dict[str, str]:
    """The child's environment as a user's would be: bytecode cached (some sandboxes set
    PYTHONDONTWRITEBYTECODE, which makes every start compile every module again)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = _CACHE
    return env


def _time(cmd: list[str], stdin: str | None = None, runs: int = 3) -> float:
    env = _env()
    subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False, env=env)
    best = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False, env=env)
        best.append(time.perf_counter() - t0)
    return min(best)


def script_lines_per_s(lines: int = 100_000) -> float:
    """Lines per second of ``dmamon run`` (process start-up included)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.dmamon"
        body = []
        for i in range(lines // 2):
            addr = 0x100000 + (i % 4096) * 4
            body.append(f"writel {addr:#x} {i:#x}")
            body.append(f"readl {addr:#x}")
        path.write_text("\n".join(body) + "\n")
        seconds = _time([sys.executable, "-m", "dmamon", "run", str(path)], runs=1)
    return lines / seconds


def shell_start_s() -> float:
    """Process start to the first prompt, answered by ``quit``."""
    return _time([sys.executable, "-m", "dmamon"], stdin="quit\n")


def help_s() -> float:
    """``dmamon --help``."""
    return _time([sys.executable, "-m", "dmamon", "--help"])


def figures() -> dict[str, float]:
    """Every figure of this module."""
    return {
        "script_lines_per_s": script_lines_per_s(),
        "shell_start_s": shell_start_s(),
        "help_s": help_s(),
    }


if __name__ == "__main__":
    for k, v in figures().items():
        print(f"{k:24} {v:14.3f}  target {TARGETS[k][0]} {TARGETS[k][1]}")
