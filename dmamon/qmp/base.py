"""What every part of the QMP server shares: limits, error classes and :class:`QmpError`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = [
    "COMMAND_NOT_FOUND",
    "DEVICE_NOT_FOUND",
    "GENERIC_ERROR",
    "MAX_MEMORY_XFER",
    "MAX_MESSAGE",
    "MAX_NESTING",
    "MAX_TOKENS",
    "QEMU_VERSION",
    "HmpCallable",
    "JsonValue",
    "QmpError",
]


#: The QEMU release whose QMP dmamon speaks, reported in the greeting and ``query-version``:
#: the upstream release every reply and error string here was checked against, so a client
#: that gates behaviour on the version (qmp-shell prints it, management tools compare it)
#: sees the protocol it gets. Micro 0 rather than Debian's 7.2.22: no distribution patches
#: are imitated. dmamon's own version goes into ``package`` (``"dmamon 0.1.0"``).
QEMU_VERSION: Final = (7, 2, 0)

#: Default cap on one buffered, incomplete JSON message (QEMU's is 64 MiB).
MAX_MESSAGE: Final = 1 << 20
#: Nesting limit of one message (``json-streamer.c`` MAX_NESTING).
MAX_NESTING: Final = 1 << 10
#: Token limit of one message (QEMU's is 2 Mi; each buffered token costs Python ~100 bytes).
MAX_TOKENS: Final = 1 << 17
#: Largest block ``x-dmamon-memory-read``/``-write`` move in one command.
MAX_MEMORY_XFER: Final = 1 << 20

_U64: Final = (1 << 64) - 1
_I64_MIN: Final = -(1 << 63)
_I64_MAX: Final = (1 << 63) - 1

GENERIC_ERROR: Final = "GenericError"
COMMAND_NOT_FOUND: Final = "CommandNotFound"
DEVICE_NOT_FOUND: Final = "DeviceNotFound"

JsonValue = object
HmpCallable = Callable[[str], str]


class QmpError(Exception):
    """A command failed: becomes ``{"error": {"class": ..., "desc": ...}}``.

    Args:
        desc: the human-readable message, QEMU's wording where QEMU has one.
        error_class: a QAPI ``ErrorClass`` name (``GenericError``, ``CommandNotFound``,
            ``DeviceNotFound``, ...).
    """

    def __init__(self, desc: str, error_class: str = GENERIC_ERROR) -> None:
        super().__init__(desc)
        self.desc = desc
        self.error_class = error_class
