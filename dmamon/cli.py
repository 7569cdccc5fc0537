"""The ``dmamon`` command line (click).

``dmamon`` starts the interactive shell on the default machine; ``dmamon run FILE...`` is
batch mode; ``dmamon qtest`` and ``dmamon qmp`` serve QEMU's two machine protocols. The
machine options are the same everywhere and spelled as QEMU spells them (``-M q35 -m 1G
-device edu,id=edu0 -trace PATTERN -d guest_errors``). cmd2 is imported only when the
shell starts, so ``--help`` and ``--version`` stay instant.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from dmamon import __version__

if TYPE_CHECKING:
    from dmamon.devices import Machine
    from dmamon.monitor import Monitor

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class MachineOptions:
    """What the machine options say."""

    machine_type: str = "q35"
    memory: str = "128M"
    devices: list[str] = field(default_factory=list)
    nodefaults: bool = False
    paused: bool = False
    traces: list[str] = field(default_factory=list)
    log_items: str | None = None
    logfile: str | None = None

    def merged(self, other: MachineOptions) -> MachineOptions:
        """Options given after the subcommand win over those given before it."""
        d = MachineOptions()
        d.machine_type = other.machine_type if other.machine_type != "q35" else self.machine_type
        d.memory = other.memory if other.memory != "128M" else self.memory
        d.devices = self.devices + other.devices
        d.nodefaults = self.nodefaults or other.nodefaults
        d.paused = self.paused or other.paused
        d.traces = self.traces + other.traces
        d.log_items = other.log_items or self.log_items
        d.logfile = other.logfile or self.logfile
        return d


def machine_options(f: F) -> F:
    """The QEMU-spelled machine options shared by every subcommand."""
    options = [
        click.option(
            "-M",
            "--machine",
            "machine_type",
            default="q35",
            show_default=True,
            help="Board (only q35).",
        ),
        click.option(
            "-m",
            "--memory",
            default="128M",
            show_default=True,
            help="RAM size: a number of MiB, or with a K/M/G suffix.",
        ),
        click.option(
            "-device",
            "--device",
            "devices",
            multiple=True,
            metavar="SPEC",
            help="Add a device: TYPE[,id=NAME][,prop=value...] (repeatable).",
        ),
        click.option(
            "-nodefaults",
            "--nodefaults",
            is_flag=True,
            help="Start without the default devices (edu,id=edu0).",
        ),
        click.option(
            "-S",
            "paused",
            is_flag=True,
            help="Start paused (QEMU -S): time moves only by clock commands.",
        ),
        click.option(
            "-trace",
            "--trace",
            "traces",
            multiple=True,
            metavar="[enable=]PATTERN",
            help="Enable trace events (glob; events=FILE reads a list; repeatable).",
        ),
        click.option(
            "-d", "log_items", metavar="ITEMS", help="Log items, e.g. guest_errors,unimp."
        ),
        click.option("-D", "logfile", metavar="FILE", help="Write log and trace lines to FILE."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def _collect(kwargs: dict[str, Any]) -> MachineOptions:
    return MachineOptions(
        machine_type=kwargs.pop("machine_type"),
        memory=kwargs.pop("memory"),
        devices=list(kwargs.pop("devices")),
        nodefaults=kwargs.pop("nodefaults"),
        paused=kwargs.pop("paused"),
        traces=list(kwargs.pop("traces")),
        log_items=kwargs.pop("log_items"),
        logfile=kwargs.pop("logfile"),
    )


def _trace_patterns(spec: str) -> list[str]:
    """QEMU ``-trace [enable=]PATTERN[,events=FILE]``: patterns, ``-NAME`` disables."""
    patterns: list[str] = []
    for part in spec.split(","):
        if part.startswith("events="):
            path = Path(part[len("events=") :])
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as e:
                raise click.UsageError(f"-trace {spec}: cannot read {path}: {e.strerror}") from None
            patterns += [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
        elif part.startswith("enable="):
            patterns.append(part[len("enable=") :])
        elif part.startswith("file="):
            raise click.UsageError("-trace file=: only the simple trace backend has it")
        elif part:
            patterns.append(part)
    return patterns


def script_options(path: Path, base: MachineOptions) -> MachineOptions:
    """``base`` merged with the options of the script's ``# machine:`` header.

    A script with a header owns its machine: ``-device``/``-nodefaults`` given on the
    command line as well is an error, since merging them would move the script's devices
    to other slots and break what it asserts about them.

    Raises:
        click.UsageError: ``FILE:LINE:`` the header has an unknown option or clashes.
    """
    from dmamon.monitor import MonitorError
    from dmamon.runner import machine_header

    try:
        number, args, misspelt = machine_header(path)
    except MonitorError as e:
        raise click.UsageError(str(e)) from None
    if misspelt:
        click.echo(
            f"{path}:{misspelt}: warning: not a machine header (write '# machine: OPTIONS')",
            err=True,
        )
    if not args:
        return base
    if base.devices or base.nodefaults:
        raise click.UsageError(
            f"{path}:{number}: the script's '# machine:' line sets its devices; "
            "drop -device/-nodefaults from the command line"
        )

    def _parse(**kwargs: Any) -> MachineOptions:
        return _collect(kwargs)

    cmd = click.command("machine")(machine_options(_parse))
    try:
        ctx = cmd.make_context(str(path), args)
    except click.ClickException as e:
        raise click.UsageError(f"{path}:{number}: # machine: {e.format_message()}") from None
    return base.merged(_collect(dict(ctx.params)))


def build_machine(opts: MachineOptions) -> Machine:
    """Build the machine the options describe.

    Raises:
        click.UsageError: bad machine type, size, device spec, trace pattern or log item.
    """
    from dmamon.devices import Machine, parse_size
    from dmamon.memory import ConfigError

    try:
        size = parse_size(opts.memory)
        devices: list[str] | None = list(opts.devices)
        if not opts.devices and not opts.nodefaults:
            devices = None
        machine = Machine(size, devices, opts.machine_type, paused=opts.paused)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    tracer = machine.tracer
    for spec in opts.traces:
        for pattern in _trace_patterns(spec):
            on = not pattern.startswith("-")
            try:
                tracer.set_state(pattern.lstrip("-"), on)
            except KeyError:
                click.echo(
                    f"dmamon: -trace {pattern}: warning: trace event '{pattern.lstrip('-')}' "
                    "does not exist",
                    err=True,
                )
    if opts.log_items:
        try:
            tracer.set_log_items(opts.log_items.split(","))
        except KeyError as e:
            raise click.UsageError(f"-d {opts.log_items}: unknown log item {e.args[0]!r}") from None
    return machine


def session_args(opts: MachineOptions) -> list[str]:
    """The machine options of ``opts`` as a command line (a recording's ``# machine:``)."""
    args: list[str] = []
    if opts.machine_type != "q35":
        args += ["-M", opts.machine_type]
    if opts.memory != "128M":
        args += ["-m", opts.memory]
    if opts.nodefaults:
        args.append("-nodefaults")
    for spec in opts.devices:
        args += ["-device", spec]
    if opts.paused:
        args.append("-S")
    for spec in opts.traces:
        args += ["-trace", spec]
    if opts.log_items:
        args += ["-d", opts.log_items]
    return args


def make_monitor(machine: Machine, opts: MachineOptions, out: TextIO, log: TextIO) -> Monitor:
    """A monitor over ``machine`` writing output to ``out`` and log lines to ``log``."""
    from dmamon.commands import AREAS  # noqa: F401  (registers every command)
    from dmamon.monitor import Monitor
    from dmamon.recorder import Recorder

    mon = Monitor(machine, out, log)
    mon.recording = Recorder(shlex.join(session_args(opts)))
    if opts.logfile:
        try:
            mon.logfile = Path(opts.logfile).open("a", encoding="utf-8")  # noqa: SIM115
        except OSError as e:
            raise click.UsageError(f"-D {opts.logfile}: {e.strerror}") from None
    return mon


class _QemuGroup(click.Group):
    """Reads QEMU's one-dash long options (``-display none``) as QEMU does."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from dmamon.qemu_argv import UnsupportedOption, normalise

        try:
            args = normalise(args)
        except UnsupportedOption as e:
            raise click.UsageError(str(e), ctx) from None
        return super().parse_args(ctx, args)


@click.group(
    cls=_QemuGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "-V", "--version", prog_name="dmamon")
@machine_options
@click.option(
    "--script",
    "startup",
    type=click.Path(exists=True, dir_okay=False),
    help="Run a .dmamon script first, then stay in the shell.",
)
@click.pass_context
def main(ctx: click.Context, /, startup: str | None, **kwargs: Any) -> None:
    """A QEMU-style monitor over a simulated machine, for DMA and IOMMU work.

    With no subcommand, start the interactive shell on the default machine (q35-like,
    128 MiB, edu at 00:01.0). Type 'help' there; 'source tour' runs the first lab.
    """
    opts = _collect(kwargs)
    ctx.obj = opts
    if ctx.invoked_subcommand is not None:
        return
    machine = build_machine(opts)
    mon = make_monitor(machine, opts, sys.stdout, sys.stderr)
    if startup:
        mon.run_file(Path(startup), keep_going=True)
    if mon.quit_requested:
        return
    from dmamon.shell import run_shell

    try:
        code = run_shell(mon)
    except Exception as e:  # never a traceback in front of a user
        click.echo(f"dmamon: internal error: {type(e).__name__}: {e}", err=True)
        code = 1
    finally:
        mon.close()
    ctx.exit(code)


def _script_files(
    ctx: click.Context, param: click.Parameter, names: tuple[str, ...]
) -> tuple[Path, ...]:
    """Each FILE as a path: an existing file, else a shipped script of that name."""
    from dmamon.shipped import find_shipped, shipped_names

    out = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            raise click.BadParameter(f"'{name}' is a directory.", ctx, param)
        shipped = None if path.exists() else find_shipped(name)
        if not path.exists() and shipped is None:
            known = ", ".join(shipped_names())
            raise click.BadParameter(
                f"'{name}': no such file, nor a shipped script ({known}).", ctx, param
            )
        out.append(shipped or path)
    return tuple(out)


@main.command("run")
@machine_options
@click.option("--keep-going", "-k", is_flag=True, help="Run on after a failure and report all.")
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, writable=True),
    help="Write JUnit XML: one test case per script and per assertion.",
)
@click.option("--echo", is_flag=True, help="Print each command before its output.")
@click.argument("files", nargs=-1, required=True, callback=_script_files)
@click.pass_context
def run(
    ctx: click.Context,
    /,
    files: tuple[Path, ...],
    keep_going: bool,
    junit: str | None,
    echo: bool,
    **kwargs: Any,
) -> None:
    """Run .dmamon scripts (or .qtest files) in batch mode.

    FILE may also name a shipped script (tour, iommu-fault, reentrancy-edu, ...).
    Exit status: 0 when every command and assertion held, 1 otherwise, 2 for usage errors.
    Each failure is reported as FILE:LINE: message. Each file runs on a fresh machine.
    """
    from dmamon.runner import run_files

    opts = (ctx.obj or MachineOptions()).merged(_collect(kwargs))
    code = run_files(
        list(files),
        lambda path: build_machine(script_options(path, opts)),
        lambda m: make_monitor(m, opts, sys.stdout, sys.stderr),
        keep_going=keep_going,
        junit=Path(junit) if junit else None,
        echo=echo,
        err=sys.stderr,
    )
    ctx.exit(code)


@main.command("qtest")
@machine_options
@click.option(
    "--socket",
    "socket_path",
    type=click.Path(dir_okay=False),
    help="Serve on a UNIX socket instead of stdin/stdout.",
)
@click.option(
    "--log",
    "qtest_log",
    type=click.Path(dir_okay=False),
    help="Write QEMU's qtest log ([R +t] / [S +t] lines, virtual time).",
)
@click.pass_context
def qtest(
    ctx: click.Context, /, socket_path: str | None, qtest_log: str | None, **kwargs: Any
) -> None:
    """Speak QEMU's qtest protocol on stdin/stdout or a UNIX socket."""
    from dmamon import qtest as qt

    opts = (ctx.obj or MachineOptions()).merged(_collect(kwargs))
    machine = build_machine(opts)
    log = open(qtest_log, "w", encoding="utf-8") if qtest_log else None  # noqa: SIM115
    try:
        if socket_path:
            qt.serve_unix(machine, socket_path, log=log)
        else:
            qt.serve_stdio(machine, sys.stdin, sys.stdout, log=log)
    except KeyboardInterrupt:  # Ctrl-C ends the server: no click "Aborted!"
        ctx.exit(130)
    finally:
        if log is not None:
            log.close()


@main.command("qmp")
@machine_options
@click.option(
    "--socket",
    "socket_path",
    type=click.Path(dir_okay=False),
    help="Serve QMP on this UNIX socket (created owner-only).",
)
@click.option("--tcp", metavar="HOST:PORT", help="Serve QMP on TCP, loopback addresses only.")
@click.pass_context
def qmp(ctx: click.Context, /, socket_path: str | None, tcp: str | None, **kwargs: Any) -> None:
    """Serve QMP (JSON) as QEMU does; qemu.qmp and qmp-shell work unchanged."""
    from dmamon import qmp as qm

    if not socket_path and not tcp:
        raise click.UsageError("give --socket PATH or --tcp HOST:PORT")
    opts = (ctx.obj or MachineOptions()).merged(_collect(kwargs))
    machine = build_machine(opts)
    mon = make_monitor(machine, opts, sys.stdout, sys.stderr)

    def hmp(line: str) -> str:
        with mon.capture() as lines:
            mon.execute(line)
        if mon.quit_requested:
            raise SystemExit(0)
        return "".join(f"{ln}\r\n" for ln in lines)

    tcp_addr = None
    if tcp:
        host, _, port = tcp.rpartition(":")
        if not port.isdigit():
            raise click.UsageError(f"--tcp {tcp}: expected HOST:PORT")
        tcp_addr = (host or "127.0.0.1", int(port))
    try:
        qm.serve_qmp(
            machine,
            hmp,
            unix_path=socket_path,
            tcp=tcp_addr,
            ready=lambda srv: click.echo(f"dmamon: QMP on {' '.join(srv.addresses)}", err=True),
        )
    except (OSError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:  # Ctrl-C ends the server: no click "Aborted!"
        ctx.exit(130)
