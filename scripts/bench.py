#!/usr/bin/env python3
"""dmamon's benchmark: prints a table of figures with their targets, or one JSON object.

    python scripts/bench.py            # table
    python scripts/bench.py --json     # {"figures": {NAME: {"value", "target", "pass", ...}}}
    python scripts/bench.py --only 'mmio*,ram*'

A benchmark, not a test: nothing here fails a build. Wall-clock time is read only here;
dmamon itself runs on virtual time.

Adding a figure is a small function registered with ``@figure``::

    @figure("iommu_translate_per_s", ">=", 500_000, unit="/s")
    def iommu_translate_per_s() -> float:
        ...
        return rate

A function that measures several figures at once registers with ``@figures`` and returns a
dict. Modules ``scripts/bench_*.py`` are picked up as well: each offers ``figures() -> dict[str,
float]`` and may offer ``TARGETS = {NAME: (">=" or "<=", value)}`` (issues 3 and 6 do).

Kernel figures (issue 2):

- ``dma_bulk_4k_vs_memcpy``: 64 MiB copied RAM to RAM through edu's DmaPort (bus mastering
  enabled through config space), a 4 KiB ``read`` then ``write`` per piece, against the
  same bytes copied with plain memoryview slices in the same 4 KiB pieces, in the same run:
  memoryview time / DMA time (1.0 would be "as fast as Python can copy").
- ``mmio_read4_per_s``: 4-byte reads of edu's identification register through
  ``machine.memory.load``.
- ``ram_read4_per_s``: 4-byte reads of guest RAM through ``machine.memory.load``.
- ``trace_disabled_overhead``: ``ram_read4_per_s`` on a machine whose every declared event
  was enabled and disabled again (and with sinks attached), against a machine that never
  traced: the fractional slowdown (noise can make it slightly negative).
- ``startup_64g_s`` / ``rss_64g_mb``: a fresh interpreter builds a 64 GiB machine; the build
  time (import excluded, reported in the note) and VmRSS after the build and a few accesses.

Each timed figure is the best of several interleaved rounds, which keeps it steady on a
busy machine.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
OPS = {">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t}


# -- registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a figure should reach: ``op`` is ``>=`` or ``<=``."""

    op: str
    value: float

    def met(self, value: float) -> bool:
        """Whether ``value`` reaches the target."""
        return bool(OPS[self.op](value, self.value))


@dataclass(frozen=True)
class Bench:
    """One registered measurement; it may produce several figures."""

    group: str
    run: Callable[[], Mapping[str, float]]
    targets: Mapping[str, Target] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)


BENCHES: list[Bench] = []


def figure(
    name: str, op: str | None = None, target: float | None = None, unit: str = ""
) -> Callable[[Callable[[], float]], Callable[[], float]]:
    """Register a function returning one figure's value."""

    def register(fn: Callable[[], float]) -> Callable[[], float]:
        targets = {name: Target(op, target)} if op is not None and target is not None else {}
        BENCHES.append(Bench(name, lambda: {name: fn()}, targets, {name: unit}))
        return fn

    return register


def figures(
    group: str, targets: Mapping[str, tuple[str, float]], units: Mapping[str, str]
) -> Callable[[Callable[[], Mapping[str, float]]], Callable[[], Mapping[str, float]]]:
    """Register a function returning several figures as a dict."""

    def register(fn: Callable[[], Mapping[str, float]]) -> Callable[[], Mapping[str, float]]:
        t = {k: Target(*v) for k, v in targets.items()}
        BENCHES.append(Bench(group, fn, t, units))
        return fn

    return register


NOTES: dict[str, str] = {}  # figure -> short note for the table (filled by benchmarks)


def best_of(rounds: int, fn: Callable[[], float]) -> float:
    """The smallest of ``rounds`` timings returned by ``fn``."""
    return min(fn() for _ in range(rounds))


# -- kernel figures (issue 2) --------------------------------------------------------------

MiB = 1 << 20
EDU_BAR = 0xFE000000


def _machine(ram_size: int = 128 * MiB, command: int = 0x0006) -> object:
    """The default machine with edu's BAR0 at 0xfe000000 and COMMAND set through 0xcf8/0xcfc."""
    from dmamon.devices import Machine

    m = Machine(ram_size=ram_size)
    io = m.io_as
    io.store(0xCF8, 4, 0x80000810)
    io.store(0xCFC, 4, EDU_BAR)
    io.store(0xCF8, 4, 0x80000804)
    io.store(0xCFC, 2, command)
    return m


@figure("dma_bulk_4k_vs_memcpy", ">=", 0.25, unit="ratio")
def dma_bulk_4k_vs_memcpy() -> float:
    from dmamon.devices import Machine

    total, piece = 64 * MiB, 4096
    src, dst = 16 * MiB, 96 * MiB
    m = _machine(ram_size=192 * MiB, command=0x0004)  # bus master only
    assert isinstance(m, Machine)
    dma = m.device("edu0").dma
    assert dma is not None
    ram = m.pc_ram.ram
    assert ram is not None
    view = memoryview(ram)
    view[src : src + total] = bytes(range(256)) * (total // 256)
    view[dst : dst + total] = bytes(total)  # fault every page in before timing either side
    offsets = range(0, total, piece)

    def by_dma() -> float:
        read, write = dma.read, dma.write
        t0 = time.perf_counter()
        for o in offsets:
            write(dst + o, read(src + o, piece).data)
        return time.perf_counter() - t0

    def by_memoryview() -> float:
        t0 = time.perf_counter()
        for o in offsets:
            view[dst + o : dst + o + piece] = view[src + o : src + o + piece]
        return time.perf_counter() - t0

    t_dma, t_mv = [], []
    for _ in range(5):
        t_dma.append(by_dma())
        t_mv.append(by_memoryview())
    if view[dst : dst + total] != view[src : src + total]:
        raise RuntimeError("DMA copy does not match its source")
    NOTES["dma_bulk_4k_vs_memcpy"] = (
        f"DMA {total / min(t_dma) / MiB:.0f} MiB/s, memoryview {total / min(t_mv) / MiB:.0f} MiB/s"
    )
    view.release()
    return min(t_mv) / min(t_dma)


def _load_rate(load: Callable[[int, int], object], addrs: list[int], rounds: int = 5) -> float:
    def once() -> float:
        t0 = time.perf_counter()
        for a in addrs:
            load(a, 4)
        return time.perf_counter() - t0

    return len(addrs) / best_of(rounds, once)


@figure("mmio_read4_per_s", ">=", 1_000_000, unit="/s")
def mmio_read4_per_s() -> float:
    from dmamon.devices import Machine

    m = _machine()
    assert isinstance(m, Machine)
    if m.memory.load(EDU_BAR, 4)[1] != 0x010000ED:
        raise RuntimeError("edu is not at its BAR")
    return _load_rate(m.memory.load, [EDU_BAR] * 200_000)


RAM_ADDRS = [0x100000 + 4 * (i % 4096) for i in range(300_000)]


@figure("ram_read4_per_s", ">=", 1_500_000, unit="/s")
def ram_read4_per_s() -> float:
    from dmamon.devices import Machine

    m = _machine()
    assert isinstance(m, Machine)
    return _load_rate(m.memory.load, RAM_ADDRS)


@figure("trace_disabled_overhead", "<=", 0.05, unit="fraction")
def trace_disabled_overhead() -> float:
    from dmamon.devices import Machine
    from dmamon.memory import all_events

    plain = _machine()
    traced = _machine()
    assert isinstance(plain, Machine) and isinstance(traced, Machine)
    tracer = traced.engine.tracer
    tracer.set_state("*", True)
    tracer.set_state("*", False)
    tracer.set_log_items(["none"])
    tracer.sinks.append(lambda rec: None)
    rates_plain, rates_traced = [], []
    for _ in range(15):  # interleaved, so both sides see the same machine load
        rates_plain.append(_load_rate(plain.memory.load, RAM_ADDRS, rounds=1))
        rates_traced.append(_load_rate(traced.memory.load, RAM_ADDRS, rounds=1))
    NOTES["trace_disabled_overhead"] = f"{len(all_events())} events declared, all disabled"
    return max(rates_plain) / max(rates_traced) - 1.0


_BUILD_64G = r"""
import json, time
t0 = time.perf_counter()
from dmamon.devices import Machine
t1 = time.perf_counter()
m = Machine(ram_size=64 << 30)
t2 = time.perf_counter()
top = (1 << 32) + (62 << 30) - 4
m.memory.store(top, 4, 0x12345678)
m.memory.store(0x100000, 4, 0x9ABCDEF0)
assert m.memory.load(top, 4)[1] == 0x12345678
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))
print(json.dumps({"import_s": t1 - t0, "build_s": t2 - t1, "rss_kb": rss}))
"""


@figures(
    "machine_64g",
    {"startup_64g_s": ("<=", 0.5), "rss_64g_mb": ("<=", 100.0)},
    {"startup_64g_s": "s", "rss_64g_mb": "MB"},
)
def machine_64g() -> dict[str, float]:
    runs = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", _BUILD_64G], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout))
    build = min(r["build_s"] for r in runs)
    NOTES["startup_64g_s"] = f"import {min(r['import_s'] for r in runs):.3f} s not included"
    NOTES["rss_64g_mb"] = "VmRSS of the whole interpreter after the build"
    return {"startup_64g_s": build, "rss_64g_mb": max(r["rss_kb"] for r in runs) / 1024}


# -- extension modules (scripts/bench_*.py) -------------------------------------------------


def _load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_dmamon_bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def extension_benches() -> tuple[list[Bench], dict[str, str]]:
    """Benches from ``scripts/bench_*.py``, and load errors by module."""
    benches: list[Bench] = []
    errors: dict[str, str] = {}
    for path in sorted(HERE.glob("bench_*.py")):
        try:
            module = _load_module(path)
            run = module.figures
            targets = {k: Target(*v) for k, v in getattr(module, "TARGETS", {}).items()}
        except Exception as exc:  # a broken extension must not stop the kernel figures
            errors[path.stem] = f"{type(exc).__name__}: {exc}"
            continue
        benches.append(Bench(path.stem, run, targets, getattr(module, "UNITS", {})))
    return benches, errors


# -- running and printing ------------------------------------------------------------------


@dataclass
class Row:
    """One figure's outcome."""

    name: str
    value: float
    target: Target | None
    unit: str
    note: str

    @property
    def passed(self) -> bool | None:
        """True/False against the target, None without one."""
        return None if self.target is None else self.target.met(self.value)


def _selected(names: list[str], patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)


def run(benches: list[Bench], patterns: list[str]) -> tuple[list[Row], dict[str, str]]:
    """Run every selected bench; errors are collected, not raised."""
    rows: list[Row] = []
    errors: dict[str, str] = {}
    for b in benches:
        if not _selected([b.group, *b.targets], patterns):
            continue
        try:
            values = b.run()
        except Exception as exc:  # report and go on with the other figures
            errors[b.group] = f"{type(exc).__name__}: {exc}"
            continue
        for name, value in values.items():
            if patterns and not _selected([name, b.group], patterns):
                continue
            unit = b.units.get(name, "")
            rows.append(Row(name, float(value), b.targets.get(name), unit, NOTES.get(name, "")))
    return rows, errors


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def table(rows: list[Row], errors: dict[str, str]) -> str:
    """The human-readable report."""
    head = ("figure", "value", "unit", "target", "result", "note")
    body = [
        (
            r.name,
            _fmt(r.value),
            r.unit,
            f"{r.target.op} {_fmt(r.target.value)}" if r.target else "-",
            {True: "pass", False: "MISS", None: ""}[r.passed],
            r.note,
        )
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(5)]
    lines = []
    for cells in [head, *body]:
        left = "  ".join(
            c.rjust(w) if i in (1, 3) else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells[:5], widths, strict=True))
        )
        lines.append(f"{left}  {cells[5]}".rstrip())
    lines.insert(1, "-" * len(lines[0]))
    lines += [f"error in {k}: {v}" for k, v in errors.items()]
    return "\n".join(lines)


def as_json(rows: list[Row], errors: dict[str, str], seconds: float) -> str:
    """One JSON object with every figure, its target and whether it passed."""
    return json.dumps(
        {
            "figures": {
                r.name: {
                    "value": r.value,
                    "unit": r.unit,
                    "op": r.target.op if r.target else None,
                    "target": r.target.value if r.target else None,
                    "pass": r.passed,
                    "note": r.note,
                }
                for r in rows
            },
            "all_pass": all(r.passed is not False for r in rows) and not errors,
            "errors": errors,
            "seconds": round(seconds, 1),
            "python": platform.python_version(),
        }
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 1 when a benchmark broke, 0 otherwise (misses included)."""
    parser = argparse.ArgumentParser(description="dmamon benchmark figures")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", default="", help="comma-separated globs of figure names")
    parser.add_argument(
        "--no-extensions", action="store_true", help="skip scripts/bench_*.py modules"
    )
    args = parser.parse_args(argv)
    patterns = [p for p in args.only.split(",") if p]
    benches = list(BENCHES)
    errors: dict[str, str] = {}
    if not args.no_extensions:
        more, errors = extension_benches()
        benches += more
    t0 = time.perf_counter()
    rows, run_errors = run(benches, patterns)
    errors.update(run_errors)
    seconds = time.perf_counter() - t0
    print(as_json(rows, errors, seconds) if args.json else table(rows, errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
