"""Run the same qtest programs on QEMU 7.2 and on dmamon, and compare every reply.

A program is qtest lines plus two pseudo-commands. ``wait NS``: time passes. Debian's
QEMU has no qtest accelerator (``clock_step`` answers FAIL) and its virtual clock runs in
real time, so the QEMU side sleeps for a little longer than NS; the dmamon side steps its
clock by NS. ``sleep S``: the QEMU side sleeps S seconds and the dmamon clock stays, for
programs about what happens off the virtual clock (QEMU's edu factorial thread).

QEMU is started with a firmware image that only halts (``f4 eb fd``, ``hlt`` and a jump
back to it, at the reset vector 0xfff0 of a 64 KiB ``-bios`` file), so nothing but the
program touches the devices, and with ``pit=off`` so the PIT does not toggle IRQ 0
forever (dmamon models no ISA devices; IRQ lines of GSIs below 16 are ignored too).
Device models that printf() to stdout (edu's "EDU: clamping DMA") share the qtest
stream; such lines are set aside.

Programs that share devices and fix switches run as a batch: one QEMU process and one
dmamon machine run them back to back, each program starting from where the previous left
off on both sides (QEMU's edu has no reset handler, so a reset would not give a clean
slate anyway). Batches run in parallel threads; QEMU mostly sleeps in ``hlt``.

An IRQ line belongs to the next reply on the wire: QEMU prints the IRQ a timer raised
during a ``wait`` before the reply to the next request, and the dmamon side does the
same with the lines its ``clock_step`` produced.

Programs for other devices name them: ``amd_iommu_programs.py`` builds :class:`Program`
objects with ``devices=("amd-iommu", "edu")`` — the device list is part of the batch key,
and the same spec strings go to QEMU's ``-device`` and to ``Machine(devices=...)`` — and
``fixes={"amdvi-event-log": False}`` to set dmamon's fix switches before a program runs
(programs with other settings never share a machine).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dmamon.devices import Machine

from dmamon.qtest import QtestSession

QEMU = shutil.which("qemu-system-x86_64")
BATCH = 30  # programs per QEMU process
WORKERS = 4  # QEMU processes at a time
REPLY_TIMEOUT_S = 10.0
EXITED = "<QEMU exited>"
# Device models that printf() to QEMU's stdout, which is also the qtest stream here:
# edu_clamp_addr prints "EDU: clamping DMA ...".
NOISE = ("EDU: ",)


@dataclass(frozen=True)
class Program:
    """One conformance program.

    Attributes:
        name: unique test id.
        lines: qtest requests and ``wait NS`` lines.
        devices: ``-device`` specs, identical for QEMU and dmamon.
        fixes: dmamon fix switches to set before the program runs, for programs about a
            switch: ``(name, on)`` pairs or a mapping ``{name: on}`` (kept as sorted
            pairs, so equal settings share a batch).
        solo: run in a process of its own (the program may end QEMU).
    """

    name: str
    lines: tuple[str, ...]
    devices: tuple[str, ...] = ("edu",)
    fixes: tuple[tuple[str, bool], ...] | Mapping[str, bool] = ()
    solo: bool = False

    def __post_init__(self) -> None:
        pairs = self.fixes.items() if isinstance(self.fixes, Mapping) else self.fixes
        object.__setattr__(self, "fixes", tuple(sorted((n, bool(on)) for n, on in pairs)))

    @property
    def batch_key(self) -> tuple[object, ...]:
        return (self.devices, self.fixes, self.solo and self.name)


@dataclass
class Step:
    """One request and what came back: the IRQ lines before its reply, and the reply."""

    request: str
    irqs: list[str]
    reply: str


@dataclass
class Outcome:
    """Both sides' steps for one program, and QEMU's exit status and stderr when it
    ended during the program."""

    program: Program
    qemu: list[Step]
    dmamon: list[Step]
    machine: Machine
    qemu_exit: int | None = None
    qemu_stderr: str = ""
    notes: list[str] = field(default_factory=list)

    def mismatches(self, only: Iterable[int] | None = None) -> list[str]:
        """Readable differences, one per step (restricted to step indexes ``only``)."""
        keep = set(range(len(self.qemu))) if only is None else set(only)
        out = []
        for i, (q, d) in enumerate(zip(self.qemu, self.dmamon, strict=True)):
            if i in keep and (q.irqs, q.reply) != (d.irqs, d.reply):
                out.append(
                    f"{self.program.name} step {i}: {q.request!r}\n"
                    f"    qemu:   {[*q.irqs, q.reply]}\n    dmamon: {[*d.irqs, d.reply]}"
                )
        return out


def is_wait(line: str) -> bool:
    return line.startswith("wait ")


def is_pause(line: str) -> bool:
    """``wait NS`` or ``sleep S``: no request, only time."""
    return line.startswith(("wait ", "sleep "))


def wait_ns(line: str) -> int:
    return int(line.split()[1], 0)


def real_sleep_s(ns: int) -> float:
    """How long the QEMU side sleeps for ``wait NS``: its clock runs in real time, and its
    edu factorial thread must get a CPU while other QEMU processes run (50 ms margin)."""
    return ns / 1e9 * 1.3 + 0.05


def _keep_irq(line: str) -> bool:
    return int(line.rsplit(" ", 1)[1]) >= 16  # legacy ISA GSIs: devices dmamon lacks


def write_firmware(directory: str) -> str:
    """A 64 KiB ``-bios`` image whose reset vector halts forever."""
    path = os.path.join(directory, "halt.bin")
    image = bytearray(0x10000)
    image[0xFFF0:0xFFF3] = b"\xf4\xeb\xfd"  # hlt; jmp back to the hlt
    with open(path, "wb") as f:
        f.write(image)
    return path


class QemuSide:
    """A QEMU process speaking qtest on stdio, read by a thread."""

    def __init__(self, firmware: str, devices: Sequence[str]) -> None:
        assert QEMU is not None
        cmd = [QEMU, "-M", "q35,pit=off", "-nodefaults", "-display", "none"]
        for d in devices:
            cmd += ["-device", d]
        cmd += ["-qtest", "stdio", "-qtest-log", "none", "-bios", firmware]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr = ""
        self.noise: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(NOISE):
                self.noise.append(line.rstrip("\n"))
            else:
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _next(self) -> str | None:
        try:
            return self.lines.get(timeout=REPLY_TIMEOUT_S)
        except queue.Empty:
            return None

    def run(self, program: Program) -> tuple[list[Step], int | None]:
        steps: list[Step] = []
        pending: list[str] = []
        dead = False
        lines = list(program.lines)
        i = 0
        while i < len(lines):
            if is_pause(lines[i]):
                if is_wait(lines[i]):
                    time.sleep(real_sleep_s(wait_ns(lines[i])))
                else:
                    time.sleep(float(lines[i].split()[1]))
                i += 1
                continue
            j = i
            while j < len(lines) and not is_pause(lines[j]):
                j += 1
            segment = lines[i:j]
            if not dead:
                try:
                    assert self.proc.stdin is not None
                    self.proc.stdin.write("".join(f"{ln}\n" for ln in segment))
                    self.proc.stdin.flush()
                except (BrokenPipeError, OSError):
                    dead = True
            for req in segment:
                reply = None
                while not dead:
                    got = self._next()
                    if got is None:
                        dead = True
                    elif got.startswith("IRQ "):
                        if _keep_irq(got):
                            pending.append(got)
                    else:
                        reply = got
                        break
                steps.append(Step(req, pending, EXITED if reply is None else reply))
                pending = []
            i = j
        return steps, self.proc.poll() if dead else None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


class DmamonSide:
    """The same devices in a dmamon machine, driven through its QtestSession."""

    def __init__(self, devices: Sequence[str], fixes: Iterable[tuple[str, bool]]) -> None:
        self.machine = Machine(devices=list(devices))
        for name, on in fixes:
            self.machine.engine.fixes.set(name, on)
        self.session = QtestSession(self.machine)
        self.carry: list[str] = []

    def run(self, program: Program) -> list[Step]:
        steps: list[Step] = []
        for line in program.lines:
            if line.startswith("sleep "):
                continue
            request = f"clock_step {wait_ns(line)}" if is_wait(line) else line
            out = self.session.handle_line(request)
            reply_at = next(k for k, ln in enumerate(out) if not ln.startswith("IRQ "))
            before = [ln for ln in out[:reply_at] if _keep_irq(ln)]
            after = [ln for ln in out[reply_at + 1 :] if _keep_irq(ln)]
            if is_wait(line):
                self.carry += before + after
                continue
            steps.append(Step(line, self.carry + before, out[reply_at]))
            self.carry = after
        return steps


def run_batch(firmware: str, programs: Sequence[Program]) -> list[Outcome]:
    """Run programs back to back on one QEMU and one dmamon machine."""
    first = programs[0]
    qemu = QemuSide(firmware, first.devices)
    ours = DmamonSide(first.devices, first.fixes)
    outcomes = []
    try:
        for p in programs:
            q_steps, exit_code = qemu.run(p)
            outcomes.append(Outcome(p, q_steps, ours.run(p), ours.machine, exit_code))
    finally:
        qemu.close()
    for o in outcomes:
        if o.qemu_exit is not None:
            o.qemu_stderr = qemu.stderr
    return outcomes


class Conformance:
    """Every registered program's outcome, computed once (all batches in parallel)."""

    def __init__(
        self, programs: Sequence[Program], batch: int = BATCH, workers: int = WORKERS
    ) -> None:
        names = [p.name for p in programs]
        assert len(names) == len(set(names)), "program names must be unique"
        self.programs = list(programs)
        self.batch = batch  # programs per QEMU process (fewer: slow programs overlap more)
        self.workers = workers
        self._outcomes: dict[str, Outcome] | None = None
        self._lock = threading.Lock()
        self.seconds = 0.0

    def batches(self) -> list[list[Program]]:
        groups: dict[tuple[object, ...], list[Program]] = {}
        for p in self.programs:
            groups.setdefault(p.batch_key, []).append(p)
        out = []
        for group in groups.values():
            for k in range(0, len(group), self.batch):
                out.append(group[k : k + self.batch])
        return out

    def outcome(self, name: str) -> Outcome:
        with self._lock:
            if self._outcomes is None:
                t0 = time.perf_counter()
                with tempfile.TemporaryDirectory() as d:
                    fw = write_firmware(d)
                    # longest first, so a batch that sleeps through many DMAs is not last
                    batches = sorted(self.batches(), key=_sleep_s, reverse=True)
                    with ThreadPoolExecutor(self.workers) as pool:
                        done = pool.map(lambda b: run_batch(fw, b), batches)
                        self._outcomes = {o.program.name: o for batch in done for o in batch}
                self.seconds = time.perf_counter() - t0
            return self._outcomes[name]


def _sleep_s(batch: Sequence[Program]) -> float:
    """How long the QEMU side of a batch sleeps in ``wait`` and ``sleep`` lines."""
    return sum(
        real_sleep_s(wait_ns(ln)) if is_wait(ln) else float(ln.split()[1])
        for p in batch
        for ln in p.lines
        if is_pause(ln)
    )


def run_alone(program: Program) -> Outcome:
    """One program in a QEMU process of its own (for programs that end QEMU)."""
    with tempfile.TemporaryDirectory() as d:
        return run_batch(write_firmware(d), [program])[0]
