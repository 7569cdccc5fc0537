"""QEMU's trace-pattern matcher (glib ``g_pattern_match_simple``).

Only two characters are special: ``*`` matches any run of characters (also none) and
``?`` matches exactly one. There are no character classes and no escapes, so ``[`` and
``\\`` match themselves, unlike :func:`fnmatch.fnmatchcase`. Every front end (``trace-event``,
``info trace-events``, ``-trace``, QMP ``trace-event-set-state``) matches with this one
function so they cannot disagree.
"""

from __future__ import annotations

__all__ = ["glob_match", "is_glob"]


def is_glob(pattern: str) -> bool:
    """Whether QEMU treats ``pattern`` as a pattern rather than an exact event name
    (``trace_event_is_pattern``: it has a ``*``)."""
    return "*" in pattern


def glob_match(pattern: str, name: str) -> bool:
    """Whether ``name`` matches ``pattern`` with ``*`` and ``?`` as the only wildcards.

    Linear-time greedy matching with one backtrack point (the last ``*``), so a hostile
    pattern such as ``*a*a*a*b`` cannot take exponential time.
    """
    p = n = 0
    star = -1  # index in pattern just after the last '*'
    star_n = 0  # where in name that '*' currently stops
    plen, nlen = len(pattern), len(name)
    while n < nlen:
        if p < plen and pattern[p] == "*":
            p += 1
            star, star_n = p, n
        elif p < plen and (pattern[p] == "?" or pattern[p] == name[n]):
            p += 1
            n += 1
        elif star >= 0:
            star_n += 1  # let the last '*' swallow one more character
            p, n = star, star_n
        else:
            return False
    while p < plen and pattern[p] == "*":
        p += 1
    return p == plen
