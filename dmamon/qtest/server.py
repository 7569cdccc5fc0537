"""qtest servers: a pair of streams (``-qtest stdio``) and a UNIX socket (``-qtest unix:``)."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from dmamon.qtest.cnum import _trusted
from dmamon.qtest.session import QtestSession

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = ["serve_stdio", "serve_unix"]

_READ_SIZE = 1 << 16


def _serve_stream(
    session: QtestSession, read: Callable[[], bytes], write: Callable[[bytes], None]
) -> int:
    """Lines in, replies out, one write per chunk read (pipelined and lock-step clients
    both work: every complete line in a chunk is answered before the next read)."""
    pending = b""
    total = 0
    while True:
        data = read()
        if not data:
            break
        pending += data
        cut = pending.rfind(b"\n")
        if cut < 0:
            continue
        text = pending[:cut].decode("utf-8", "surrogateescape")
        pending = pending[cut + 1 :]
        out: list[str] = []
        total += session.feed_lines(text.split("\n"), out, _trusted(text))
        if out:
            out.append("")
            write("\n".join(out).encode("utf-8", "surrogateescape"))
    if pending:  # an unterminated last line (QEMU would never run it)
        out = []
        total += session.feed_lines((pending.decode("utf-8", "surrogateescape"),), out)
        if out:
            out.append("")
            write("\n".join(out).encode("utf-8", "surrogateescape"))
    return total


def _reader(stream: IO[Any]) -> Callable[[], bytes]:
    raw = getattr(stream, "buffer", stream)
    try:
        fd = raw.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is not None:
        return lambda: os.read(fd, _READ_SIZE)
    read = getattr(raw, "read1", None) or raw.read

    def chunk() -> bytes:
        data = read(_READ_SIZE)
        return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data

    return chunk


def _writer(stream: IO[Any]) -> Callable[[bytes], None]:
    with contextlib.suppress(OSError, ValueError):
        stream.flush()  # whatever was printed before goes first
    raw = getattr(stream, "buffer", None)
    if raw is None and isinstance(stream, io.TextIOBase):

        def write_text(data: bytes) -> None:
            stream.write(data.decode("utf-8", "surrogateescape"))
            stream.flush()

        return write_text
    target = stream if raw is None else raw

    def write(data: bytes) -> None:
        target.write(data)
        target.flush()

    return write


def serve_stdio(
    machine: Machine,
    stdin: IO[Any] | None = None,
    stdout: IO[Any] | None = None,
    log: IO[str] | None = None,
) -> int:
    """Serve qtest on a pair of streams until end of input (QEMU ``-qtest stdio``).

    Args:
        machine: the machine.
        stdin: requests (text or binary; default ``sys.stdin``).
        stdout: replies (default ``sys.stdout``).
        log: QEMU's qtest log, with virtual time, or None.

    Returns:
        How many request lines ran.
    """
    session = QtestSession(machine, log)
    session.open()
    try:
        return _serve_stream(session, _reader(stdin or sys.stdin), _writer(stdout or sys.stdout))
    except (BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        return 0
    finally:
        session.closed()
        session.close()


def serve_unix(
    machine: Machine,
    path: str,
    log: IO[str] | None = None,
    *,
    max_clients: int | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve qtest on a UNIX socket, one client after another (QEMU ``-qtest unix:PATH``).

    A client's end of file ends that client, not the server; the machine, the clock and
    the IRQ intercept carry over from one client to the next, as in QEMU.

    Args:
        machine: the machine.
        path: the socket file (the policy of :mod:`dmamon.servers`: owner-only, a stale
            socket replaced, a live server's refused).
        log: QEMU's qtest log, with virtual time, or None.
        max_clients: stop after this many clients (None: serve until interrupted).
        ready: called once the socket listens.

    Raises:
        ConfigError: the path cannot be used.
    """
    from dmamon.servers import listen_unix, remove_unix  # start-up time: only here

    sock = listen_unix(path, "qtest", backlog=1)
    session = QtestSession(machine, log)
    served = 0
    try:
        if ready is not None:
            ready()
        while max_clients is None or served < max_clients:
            conn, _ = sock.accept()
            served += 1
            with conn:
                session.open()
                try:
                    _serve_stream(session, functools.partial(conn.recv, _READ_SIZE), conn.sendall)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    session.closed()
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        sock.close()
        remove_unix(path)
