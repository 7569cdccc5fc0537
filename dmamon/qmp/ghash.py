"""Key order of QEMU's hash tables: ``QDict`` iteration (output member order) and glib's
``GHashTable`` (which unexpected argument QEMU reports)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = [
    "GHashSet",
    "mod_utf8",
    "qdict_order",
]


def mod_utf8(s: str) -> bytes:
    """A string as QEMU's C code holds it: UTF-8 with NUL as C0 80 (modified UTF-8)."""
    return s.encode("utf-8", "replace").replace(b"\x00", b"\xc0\x80")


_BUCKETS: dict[str, int] = {}


def _qdict_bucket(key: str) -> int:
    """QDict's bucket for a key: tdb_hash() modulo QDICT_BUCKET_MAX (qobject/qdict.c)."""
    b = _BUCKETS.get(key)
    if b is None:
        raw = mod_utf8(key)
        v = (0x238F13AF * len(raw)) & 0xFFFFFFFF
        for i, c in enumerate(raw):
            v = (v + (c << (i * 5 % 24))) & 0xFFFFFFFF
        b = ((1103515243 * v + 12345) & 0xFFFFFFFF) % 512
        if len(_BUCKETS) < 4096:
            _BUCKETS[key] = b
    return b


def qdict_order(keys: Iterable[str]) -> list[str]:
    """Keys in the order QEMU iterates a QDict built by inserting them in this order.

    Buckets ascending; inside a bucket the latest insertion comes first (QLIST_INSERT_HEAD).

    Args:
        keys: keys in insertion order.

    Returns:
        The iteration order.
    """
    ks = list(keys)
    idx = {k: i for i, k in enumerate(ks)}
    return sorted(ks, key=lambda k: (_qdict_bucket(k), -idx[k]))


# glib's prime_mod[] (ghash.c): the modulus for a table of 1 << shift slots.
_PRIME_MOD: Final = (
    1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521,
    131071, 262139, 524287, 1048573, 2097143, 4194301, 8388593, 16777213, 33554393,
    67108859, 134217689, 268435399, 536870909, 1073741789, 2147483647,
)  # fmt: skip


class GHashSet:
    """Just enough of glib 2.74's GHashTable (open addressing, quadratic probing,
    tombstones, in-place rehash) to know which key ``g_hash_table_iter_next`` returns
    first: QEMU reports *that* member as unexpected (qobject_input_check_struct)."""

    size: int
    mod: int
    mask: int

    def __init__(self) -> None:
        self._shift(3)
        self.hashes = [0] * self.size
        self.keys: list[str | None] = [None] * self.size
        self.nnodes = 0
        self.noccupied = 0

    def _shift(self, shift: int) -> None:
        self.size = 1 << shift
        self.mod = _PRIME_MOD[shift]
        self.mask = self.size - 1

    @staticmethod
    def _hash(key: str) -> int:
        h = 5381
        for c in mod_utf8(key):  # g_str_hash walks signed chars
            h = (h * 33 + (c - 256 if c >= 128 else c)) & 0xFFFFFFFF
        return h if h >= 2 else 2

    def _index(self, h: int) -> int:
        return ((h * 11) & 0xFFFFFFFF) % self.mod

    def _lookup(self, key: str, h: int) -> int:
        idx = self._index(h)
        step = 0
        tomb = -1
        while self.hashes[idx] != 0:
            nh = self.hashes[idx]
            if nh == h and self.keys[idx] == key:
                return idx
            if nh == 1 and tomb < 0:
                tomb = idx
            step += 1
            idx = (idx + step) & self.mask
        return tomb if tomb >= 0 else idx

    def insert(self, key: str) -> None:
        h = self._hash(key)
        idx = self._lookup(key, h)
        old = self.hashes[idx]
        if old >= 2:
            return
        self.hashes[idx] = h
        self.keys[idx] = key
        self.nnodes += 1
        if old == 0:
            self.noccupied += 1
            self._maybe_resize()

    def remove(self, key: str) -> None:
        idx = self._lookup(key, self._hash(key))
        if self.hashes[idx] < 2:
            return
        self.hashes[idx] = 1
        self.keys[idx] = None
        self.nnodes -= 1
        self._maybe_resize()

    def _maybe_resize(self) -> None:
        size, occ = self.size, self.noccupied
        if (size > self.nnodes * 4 and size > 8) or size <= occ + occ // 16:
            self._resize()

    def _resize(self) -> None:
        old_size = self.size
        n = int(self.nnodes * 1.333)
        shift = 0
        while n:
            n >>= 1
            shift += 1
        self._shift(max(shift, 3))
        if self.size > old_size:
            self.hashes += [0] * (self.size - old_size)
            self.keys += [None] * (self.size - old_size)
        moved = [False] * max(self.size, old_size)
        for i in range(old_size):
            nh = self.hashes[i]
            if nh < 2:
                self.hashes[i] = 0
                continue
            if moved[i]:
                continue
            self.hashes[i] = 0
            key, self.keys[i] = self.keys[i], None
            while True:
                idx = self._index(nh)
                step = 0
                while moved[idx]:
                    step += 1
                    idx = (idx + step) & self.mask
                moved[idx] = True
                replaced = self.hashes[idx]
                self.hashes[idx] = nh
                if replaced < 2:
                    self.keys[idx] = key
                    break
                nh = replaced
                key, self.keys[idx] = self.keys[idx], key
        if self.size < old_size:
            del self.hashes[self.size :]
            del self.keys[self.size :]
        self.noccupied = self.nnodes

    def first(self) -> str | None:
        for h, k in zip(self.hashes, self.keys, strict=True):
            if h >= 2:
                return k
        return None
