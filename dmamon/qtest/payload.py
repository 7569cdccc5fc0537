"""qtest payloads: ``write``'s hex DATA and ``b64write``'s glib-style base64, and the
virtual-time stamp of the qtest log."""

from __future__ import annotations

import binascii

from dmamon.qtest.base import _BadInput

__all__: list[str] = []

_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64 = frozenset(_B64_ALPHABET)
_B64_RANK = {c: i for i, c in enumerate(_B64_ALPHABET)}


def _hex_payload(cmd: str, data: str, size: int) -> bytes:
    """``write``'s DATA: hex bytes after ``0x``, zero-filled to SIZE, extra digits ignored
    (an odd last digit too, as QEMU's ``i * 2 + 4 <= data_len`` test drops it)."""
    if data[:2] not in ("0x", "0X"):
        raise _BadInput(f"ERR {cmd}: DATA must be hex digits after 0x, not '{data}'")
    usable = min(size, (len(data) - 2) // 2)
    digits = data[2 : 2 + 2 * usable]
    try:
        if digits and not (digits.isascii() and digits.isalnum()):
            raise ValueError
        raw = bytes.fromhex(digits)
    except ValueError:
        raise _BadInput(f"ERR {cmd}: DATA has a character that is not a hex digit") from None
    return raw + bytes(size - usable)


def _b64decode(text: str) -> bytes:
    """glib ``g_base64_decode``: characters outside the alphabet are skipped, ``=`` counts
    as a zero digit that suppresses output, a trailing partial quantum is dropped."""
    clean = "".join(c for c in text if c in _B64 or c == "=")
    whole = clean[: len(clean) // 4 * 4]
    try:
        if "=" not in whole[:-2]:
            return binascii.a2b_base64(whole.encode("ascii"), strict_mode=False)
    except binascii.Error:
        pass
    out = bytearray()
    for i in range(0, len(whole), 4):
        q = whole[i : i + 4]
        v = 0
        for c in q:
            v = (v << 6) | _B64_RANK.get(c, 0)
        out.append((v >> 16) & 0xFF)
        if q[2] != "=":
            out.append((v >> 8) & 0xFF)
        if q[3] != "=":
            out.append(v & 0xFF)
    return bytes(out)


def _vt(ns: int) -> str:
    """Virtual time as QEMU's qtest log prints elapsed time (``%.06f`` seconds)."""
    return f"{ns // 1_000_000_000}.{(ns // 1000) % 1_000_000:06d}"
