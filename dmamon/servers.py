"""The one socket policy of dmamon's servers (QMP and qtest).

A client of either protocol can read and write guest memory (and QMP can write files), so:

* UNIX sockets are owner-only from the first moment: the unbound socket is ``fchmod``-ed to
  0600 before ``bind`` (Linux gives the new file the inode's mode), so no other user can
  connect in a window before a ``chmod``.
* A socket file already at the path is removed only when it is stale: if a server still
  answers a ``connect`` there, dmamon refuses with a one-line error instead of stealing the
  path from it. Anything that is not a socket is never removed.
* TCP listens on loopback addresses only (``127.0.0.1``, ``::1``, ``localhost``).

Errors are :class:`~dmamon.memory.ConfigError` with one line of text.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from typing import Final

from dmamon.memory import ConfigError

__all__ = ["LOOPBACK", "listen_tcp", "listen_unix", "parse_tcp", "remove_unix"]

#: Host names a TCP server may bind, with their address family.
LOOPBACK: Final = {
    "127.0.0.1": socket.AF_INET,
    "localhost": socket.AF_INET,
    "::1": socket.AF_INET6,
}


def _clear_path(path: str, what: str) -> None:
    """Remove a stale socket at ``path``; refuse a live one or a non-socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise ConfigError(f"cannot create {what} socket {path}: {e.strerror or e}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise ConfigError(
            f"cannot create {what} socket {path}: a file that is not a socket is in the way"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # nobody answers: a stale socket from an earlier run
    else:
        raise ConfigError(f"cannot create {what} socket {path}: another server is listening there")
    finally:
        probe.close()


def listen_unix(path: str, what: str, backlog: int = 4) -> socket.socket:
    """A listening, owner-only UNIX stream socket at ``path``.

    Args:
        path: the socket file to create.
        what: the protocol, for error messages (``"QMP"``, ``"qtest"``).
        backlog: ``listen`` backlog.

    Raises:
        ConfigError: a live server or a non-socket is at ``path``, or it cannot be bound.
    """
    _clear_path(path, what)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.fchmod(sock.fileno(), 0o600)
        sock.bind(path)
        os.chmod(path, 0o600)
        sock.listen(backlog)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot create {what} socket {path}: {e.strerror or e}") from None
    return sock


def remove_unix(path: str) -> None:
    """Remove the socket file a server created (quietly; it may be gone already)."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def parse_tcp(tcp: tuple[str, int] | str, what: str) -> tuple[str, int]:
    """``"HOST:PORT"``, ``"tcp:HOST:PORT"``, ``"[::1]:PORT"`` or a tuple, checked.

    Raises:
        ConfigError: malformed, a host other than loopback, or a port out of range.
    """
    if isinstance(tcp, str):
        host, sep, port_text = tcp.removeprefix("tcp:").rpartition(":")
        if not sep:
            raise ConfigError(f"{what} TCP address must be HOST:PORT, not {tcp!r}")
        try:
            port = int(port_text, 10)
        except ValueError:
            raise ConfigError(f"{what} TCP port must be a number, not {port_text!r}") from None
    else:
        host, port = tcp
    host = host.strip("[]")
    if host not in LOOPBACK:
        raise ConfigError(
            f"{what} listens on the loopback interface only (127.0.0.1, ::1 or localhost), "
            f"not {host!r}: a {what} client can read and write guest memory and files"
        )
    if not 0 <= port <= 65535:
        raise ConfigError(f"{what} TCP port {port} is out of range (0-65535)")
    return host, port


def listen_tcp(host: str, port: int, what: str, backlog: int = 4) -> tuple[socket.socket, str]:
    """A listening TCP socket on a loopback host (checked by :func:`parse_tcp`).

    Returns:
        The socket and its address as ``tcp:127.0.0.1:PORT`` / ``tcp:[::1]:PORT``.

    Raises:
        ConfigError: the host is not loopback, or the port cannot be bound.
    """
    family = LOOPBACK.get(host)
    if family is None:
        parse_tcp((host, port), what)  # raises the loopback-only error
        raise AssertionError("unreachable")
    addr = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(backlog)
    except OSError as e:
        s.close()
        raise ConfigError(f"cannot listen for {what} on {addr}:{port}: {e.strerror or e}") from None
    bound = s.getsockname()[1]
    return s, f"tcp:[{addr}]:{bound}" if family == socket.AF_INET6 else f"tcp:{addr}:{bound}"
