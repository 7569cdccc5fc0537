"""The gdb-style ``/fmt`` argument of HMP ``x``, ``xp``, ``print``, ``i`` and ``o``.

``/[count][format letters][size letters]``, letters in any order, the last of each kind winning:

* format: ``o`` octal, ``d`` signed decimal, ``u`` unsigned decimal, ``x`` hex, ``c`` char,
  ``i`` instructions;
* size: ``b`` 1, ``h`` 2, ``w`` 4, ``g`` or ``L`` 8 bytes.

As in QEMU 7.2 (``monitor/hmp.c``), format and size are *sticky*: a spec that leaves one out
reuses the last one given, starting from ``x`` and 4 bytes, and a command with no spec at all
reuses both with a count of 1. The state is shared by every command that takes a ``/fmt``
(``print /d`` changes what a later ``xp`` prints). :class:`FormatState` holds it, one per
monitor session.
"""

from __future__ import annotations

from dataclasses import dataclass

from dmamon.hmpexpr import HmpError

__all__ = [
    "FORMAT_LETTERS",
    "SIZE_LETTERS",
    "DumpFormat",
    "FormatState",
    "split_format",
]

FORMAT_LETTERS = "oduxic"
"""Format letters, as QEMU accepts them."""

SIZE_LETTERS = {"b": 1, "h": 2, "w": 4, "g": 8, "L": 8}
"""Size letters and their byte counts. Note: ``l`` is not one (``invalid char in format: 'l'``)."""

_SPACE = " \t\n\v\f\r"


@dataclass(frozen=True, slots=True)
class DumpFormat:
    """One parsed ``/fmt``.

    Attributes:
        count: number of items (default 1).
        format: one of ``o d u x i c``.
        size: item size in bytes (1, 2, 4 or 8); -1 for format ``i`` given without a size,
            which QEMU uses to mean "the CPU's current mode".
    """

    count: int = 1
    format: str = "x"
    size: int = 4

    @property
    def nbytes(self) -> int:
        """Bytes a memory dump with this format covers: ``count * size`` (0 for ``i``)."""
        # Format c prints one byte per item but still covers count * size bytes (QEMU:
        # `xp /2c` after a 2-byte size prints four characters).
        return self.count * self.size if self.format != "i" else 0


class FormatState:
    """The sticky default format and size of one monitor session.

    Attributes:
        format: the format letter used when a spec gives none (initially ``x``).
        size: the size used when a spec gives none (initially 4).
    """

    __slots__ = ("format", "size")

    def __init__(self) -> None:
        self.format = "x"
        self.size = 4

    def reset(self) -> None:
        """Go back to QEMU's start-up defaults, ``x`` and 4 bytes."""
        self.format = "x"
        self.size = 4

    def parse(self, spec: str | None, *, dump_command: str | None = None) -> DumpFormat:
        """Parse one ``/fmt`` and update the sticky defaults, as QEMU does.

        Args:
            spec: the spec as typed, with its leading ``/`` (``"/4xw"``), or None (or ``""``)
                when the command was given none.
            dump_command: for commands that dump memory (``xp``, ``x``): the command name.
                dmamon has no CPU to disassemble with, so format ``i`` is then refused, and
                the sticky state is left as it was.

        Returns:
            The format to use for this command.

        Raises:
            HmpError: ``invalid char in format: 'q'`` for a bad letter, or
                ``xp: format 'i' needs a CPU; dmamon has none``.
            ValueError: ``spec`` does not start with ``/`` (a caller bug).
        """
        if not spec:
            fmt = DumpFormat(1, self.format, self.size if self.format != "i" else -1)
            self._refuse_insn(fmt, dump_command)
            return fmt
        if not spec.startswith("/"):
            raise ValueError(f"format spec must start with '/': {spec!r}")
        body = spec[1:].rstrip(_SPACE)
        digits = len(body) - len(body.lstrip("0123456789"))
        count = int(body[:digits]) if digits else 1
        format_letter: str | None = None
        size: int | None = None
        for c in body[digits:]:
            if c in FORMAT_LETTERS:
                format_letter = c
            elif c in SIZE_LETTERS:
                size = SIZE_LETTERS[c]
            else:
                raise HmpError(f"invalid char in format: '{c}'")
        fmt_letter = format_letter or self.format
        if fmt_letter == "i":
            # QEMU: with format i, a missing size stays -1 and the sticky size is not touched.
            fmt = DumpFormat(count, "i", size if size is not None else -1)
            self._refuse_insn(fmt, dump_command)
        else:
            fmt = DumpFormat(count, fmt_letter, size if size is not None else self.size)
            self.size = fmt.size
        self.format = fmt_letter
        return fmt

    @staticmethod
    def _refuse_insn(fmt: DumpFormat, dump_command: str | None) -> None:
        if fmt.format == "i" and dump_command is not None:
            raise HmpError(f"{dump_command}: format 'i' needs a CPU; dmamon has none")


def split_format(args: str) -> tuple[str | None, str]:
    """Split a leading ``/fmt`` off an argument string, as HMP's ``/`` argument type does.

    Args:
        args: the text after the command name, e.g. ``"/4xw 0x1000"`` or ``"0x1000"``
            (for a joined ``xp/4xw 0x1000`` pass ``"/4xw 0x1000"``).

    Returns:
        ``(spec, rest)``: the spec up to the next whitespace, or None when ``args`` does not
        start with ``/``; and the remaining text with leading whitespace removed.
    """
    text = args.lstrip(_SPACE)
    if not text.startswith("/"):
        return None, text
    end = 1
    while end < len(text) and text[end] not in _SPACE:
        end += 1
    return text[:end], text[end:].lstrip(_SPACE)
