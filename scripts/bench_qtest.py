"""qtest figures for scripts/bench.py (issue 6): dmamon's qtest server against QEMU 7.2.

- ``qtest_lines_per_s``: 100,000 lines of ``writel``/``readl`` to guest RAM piped into
  ``python -m dmamon.qtest`` (``serve_stdio``), whole process, start-up included;
- ``qtest_vs_qemu``: the same file piped into ``qemu-system-x86_64 -M q35 -S -display none
  -nodefaults -no-reboot -qtest stdio -qtest-log none``, QEMU's whole-process wall time
  divided by dmamon's (target >= 1.0; present only when QEMU is installed). The file ends
  with ``outb 0xcf9 0x6`` so that QEMU, run with ``-no-reboot``, exits at the end (QEMU
  does not exit at end of input); dmamon runs the very same file.

Also reported: ``qtest_dmamon_s`` and ``qtest_qemu_s`` (the wall times) and
``qtest_same_output`` (1.0 when both printed byte-identical replies).

Each side runs once untimed (page cache, and Python's bytecode cache: the child gets
``PYTHONPYCACHEPREFIX`` in the temp directory and no ``PYTHONDONTWRITEBYTECODE``, as an
installed package has compiled bytecode), then ``RUNS`` times interleaved; the best run
counts. Wall-clock timing is for this benchmark only; dmamon never reads the wall clock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["QEMU_ARGS", "TARGETS", "bench_script", "figures"]

TARGETS = {"qtest_vs_qemu": (">=", 1.0)}
LINES = 100_000
RUNS = 5
QEMU_ARGS = ["-M", "q35", "-S", "-display", "none", "-nodefaults", "-no-reboot"]
QTEST_ARGS = ["-qtest", "stdio", "-qtest-log", "none"]


def bench_script(lines: int = LINES) -> str:
    """``lines`` lines of writel/readl pairs over guest RAM, as in QEMU's measurement
    (qemu-transcripts/qtest-throughput.txt), plus the ICH9 reset that ends QEMU."""
    body = []
    for i in range(lines // 2):
        addr = 0x100000 + 4 * i
        body.append(f"writel {addr:#x} {(i * 0x9E3779B1) & 0xFFFFFFFF:#x}")
        body.append(f"readl {addr:#x}")
    body.append("outb 0xcf9 0x6")
    return "\n".join(body) + "\n"


def _run(cmd: list[str], script: Path, env: dict[str, str] | None) -> tuple[float, bytes]:
    with script.open("rb") as stdin:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, stdin=stdin, capture_output=True, env=env, check=False)
        seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {done.returncode}: {done.stderr[-500:]!r}")
    return seconds, done.stdout


def figures() -> dict[str, float]:
    """Every figure of this module (QEMU's only when ``qemu-system-x86_64`` is found)."""
    qemu = shutil.which("qemu-system-x86_64")
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "dmamon-bench-pycache")
    dmamon_cmd = [sys.executable, "-m", "dmamon.qtest", *QEMU_ARGS, *QTEST_ARGS]
    with tempfile.TemporaryDirectory() as d:
        script = Path(d) / "bench-ram.qtest"
        script.write_text(bench_script())
        _run(dmamon_cmd, script, env)  # warm-up: bytecode cache, page cache
        if qemu:
            _run([qemu, *QEMU_ARGS, *QTEST_ARGS], script, None)
        ours: list[float] = []
        theirs: list[float] = []
        same = True
        for _ in range(RUNS):
            t, out = _run(dmamon_cmd, script, env)
            ours.append(t)
            if qemu:
                tq, qout = _run([qemu, *QEMU_ARGS, *QTEST_ARGS], script, None)
                theirs.append(tq)
                same = same and out == qout
    result = {"qtest_lines_per_s": LINES / min(ours), "qtest_dmamon_s": min(ours)}
    if theirs:
        result["qtest_vs_qemu"] = min(theirs) / min(ours)
        result["qtest_qemu_s"] = min(theirs)
        result["qtest_same_output"] = 1.0 if same else 0.0
    return result


if __name__ == "__main__":
    for k, v in figures().items():
        target = TARGETS.get(k)
        note = f"  target {target[0]} {target[1]}" if target else ""
        print(f"{k:24} {v:14.3f}{note}")
