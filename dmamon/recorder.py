"""``record``: a session journal that becomes a replayable script.

The monitor writes every successful command line to :attr:`Monitor.recording`. A
:class:`Recorder` there keeps, while no file is attached, the lines that set up the
machine (``device_add``, ``fix``, ``trace-event``, ``log``, ...), so that ``record FILE``
can start the file with a ``# machine:`` header (the session's command line) and that
set-up: ``dmamon run FILE`` then replays on the same machine in the same state.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["STATE_COMMANDS", "Recorder"]

STATE_COMMANDS = ("device_add", "device_del", "fix", "trace-event", "log", "logfile")
"""Commands whose effect lasts and that a recording made later must repeat first."""


class Recorder(io.StringIO):
    """What :attr:`Monitor.recording` holds: a journal of set-up lines, and the file being
    recorded to, if any.

    Args:
        machine_args: the session's machine options, as a shell-quoted line (may be "").
    """

    def __init__(self, machine_args: str = "") -> None:
        super().__init__()
        self.machine_args = machine_args
        self.journal: list[str] = []
        self.file: TextIO | None = None
        self.path = ""
        self.count = 0
        self._paused = 0

    def write(self, text: str) -> int:
        """Take one command line from the monitor (journal it, or write it to the file)."""
        if self._paused or not text.strip():
            return len(text)
        if self.file is not None:
            self.file.write(text)
            self.count += 1
        elif text.split(" ", 1)[0].strip() in STATE_COMMANDS:
            self.journal.append(text.rstrip("\n"))
        return len(text)

    def flush(self) -> None:
        """Flush the file being recorded to."""
        if self.file is not None:
            self.file.flush()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Lines run inside (the command of an ``expect``, a ``source``d file) are not
        recorded: the outer line is, and replaying it runs them again."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def start(self, f: TextIO, path: str) -> None:
        """Attach ``f``: header, then the set-up so far."""
        self.stop()
        if self.machine_args:
            f.write(f"# machine: {self.machine_args}\n")
        f.write("# recorded by dmamon: replay with `dmamon run FILE`\n")
        for line in self.journal:
            f.write(line + "\n")
        f.flush()
        self.file, self.path, self.count = f, path, 0

    def stop(self) -> bool:
        """Detach and close the file; False when none was attached."""
        if self.file is None:
            return False
        self.file.close()
        self.file = None
        return True

    @property
    def recording(self) -> bool:
        """True while a file is attached."""
        return self.file is not None

    def close(self) -> None:
        """End of the session."""
        self.stop()
        super().close()
