"""QMP over sockets: :class:`QmpServer` and :func:`serve_qmp` (UNIX and loopback TCP, one
client at a time; the socket policy is :mod:`dmamon.servers`')."""

from __future__ import annotations

import os
import selectors
import socket
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from dmamon.memory import ConfigError
from dmamon.qmp.base import MAX_MESSAGE, HmpCallable
from dmamon.qmp.session import QmpSession
from dmamon.servers import listen_tcp, listen_unix, parse_tcp, remove_unix

if TYPE_CHECKING:
    from dmamon.devices.machine import Machine

__all__ = [
    "QmpServer",
    "serve_qmp",
]


class QmpServer:
    """Listening sockets and the loop that serves QMP clients one after another.

    Sockets are bound when the object is created, so a TCP port 0 is known at once
    (:attr:`tcp_port`). :meth:`serve` runs on the calling thread; :meth:`shutdown` may be
    called from any thread and makes it return promptly.

    Args:
        machine: the machine.
        hmp: the human-monitor runner (see :class:`QmpSession`).
        unix_path: UNIX socket to create (see :mod:`dmamon.servers` for the policy).
        tcp: ``(host, port)`` or ``"host:port"``; the host must be a loopback address.
        max_message: cap on one incomplete JSON message.
        send_timeout: seconds a client may stall a reply before it is dropped.

    Raises:
        ConfigError: no address, a non-loopback host, or a socket that cannot be created.
    """

    def __init__(
        self,
        machine: Machine,
        hmp: HmpCallable,
        *,
        unix_path: str | os.PathLike[str] | None = None,
        tcp: tuple[str, int] | str | None = None,
        max_message: int = MAX_MESSAGE,
        send_timeout: float = 30.0,
    ) -> None:
        if unix_path is None and tcp is None:
            raise ConfigError("QMP needs a UNIX socket path or a loopback TCP address")
        self.machine = machine
        self.hmp = hmp
        self.max_message = max_message
        self.send_timeout = send_timeout
        self.unix_path = os.fspath(unix_path) if unix_path is not None else None
        self.tcp_port: int | None = None
        self.addresses: list[str] = []
        self._listeners: list[socket.socket] = []
        self._stop = False
        self._wake_r, self._wake_w = socket.socketpair()
        try:
            if self.unix_path is not None:
                self._listen_unix(self.unix_path)
            if tcp is not None:
                self._listen_tcp(*parse_tcp(tcp, "QMP"))
        except BaseException:
            self.close()
            raise

    def _listen_unix(self, path: str) -> None:
        self._listeners.append(listen_unix(path, "QMP"))
        self.addresses.append(f"unix:{path}")
        self._unix_bound = True

    def _listen_tcp(self, host: str, port: int) -> None:
        s, address = listen_tcp(host, port, "QMP")
        self._listeners.append(s)
        self.tcp_port = s.getsockname()[1]
        self.addresses.append(address)

    # -- running ---------------------------------------------------------------------------

    def serve(self, *, once: bool = False) -> str:
        """Accept and serve clients, one at a time, until told to stop.

        Args:
            once: return after the first client disconnects.

        Returns:
            Why it returned: ``"quit"`` (a client ran ``quit``), ``"once"``,
            ``"shutdown"`` or ``"interrupt"`` (Ctrl-C: a normal way to stop a server, so
            no traceback and no error status).
        """
        sel = selectors.DefaultSelector()
        try:
            for s in self._listeners:
                sel.register(s, selectors.EVENT_READ, "listen")
            sel.register(self._wake_r, selectors.EVENT_READ, "wake")
            while not self._stop:
                for key, _mask in sel.select():
                    if self._stop or key.data == "wake":
                        break
                    assert isinstance(key.fileobj, socket.socket)
                    try:
                        conn, _peer = key.fileobj.accept()
                    except OSError:
                        continue
                    why = self._serve_client(conn)
                    if why in ("quit", "shutdown"):
                        return why
                    if once:
                        return "once"
            return "shutdown"
        except KeyboardInterrupt:
            return "interrupt"
        finally:
            sel.close()

    def _serve_client(self, conn: socket.socket) -> str:
        sel = selectors.DefaultSelector()
        session = QmpSession(self.machine, self.hmp, max_message=self.max_message)
        try:
            conn.settimeout(self.send_timeout)
            sel.register(conn, selectors.EVENT_READ, "client")
            sel.register(self._wake_r, selectors.EVENT_READ, "wake")
            conn.sendall(session.greeting())
            while not self._stop:
                for key, _mask in sel.select():
                    if key.data == "wake" or self._stop:
                        return "shutdown"
                    data = conn.recv(1 << 16)
                    if not data:
                        return "eof"
                    out = session.feed(data)
                    if out:
                        conn.sendall(out)
                    if session.quit:
                        return "quit"
            return "shutdown"
        except OSError:
            return "error"  # the client went away or stalled: serve the next one
        except Exception:  # a dmamon bug must not take the server down with this client
            return "error"
        finally:
            session.close()
            sel.close()
            conn.close()

    def shutdown(self) -> None:
        """Make :meth:`serve` return (thread-safe; the current client is disconnected)."""
        self._stop = True
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def close(self) -> None:
        """Close the sockets and remove the UNIX socket file."""
        for s in self._listeners:
            s.close()
        self._listeners = []
        if self.unix_path is not None and getattr(self, "_unix_bound", False):
            self._unix_bound = False
            remove_unix(self.unix_path)
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> QmpServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve_qmp(
    machine: Machine,
    hmp: HmpCallable,
    *,
    unix_path: str | os.PathLike[str] | None = None,
    tcp: tuple[str, int] | str | None = None,
    once: bool = False,
    ready: Callable[[QmpServer], None] | None = None,
) -> str:
    """Serve QMP on a UNIX socket and/or loopback TCP until ``quit`` (or one client).

    Args:
        machine: the machine.
        hmp: runs a human-monitor command line, returns its text (``SystemExit`` = quit).
        unix_path: UNIX socket path (created 0600, removed on return).
        tcp: ``"127.0.0.1:4444"``, ``"[::1]:4444"``, ``"localhost:4444"`` or a tuple.
        once: return when the first client disconnects.
        ready: called with the bound server before serving (to print its addresses).

    Returns:
        ``"quit"``, ``"once"``, ``"shutdown"`` or ``"interrupt"`` (Ctrl-C).

    Raises:
        ConfigError: a bad or non-loopback address, or a socket that cannot be created.
    """
    with QmpServer(machine, hmp, unix_path=unix_path, tcp=tcp) as server:
        try:
            if ready is not None:
                ready(server)
            return server.serve(once=once)
        except KeyboardInterrupt:  # Ctrl-C between ready() and the serving loop
            return "interrupt"
