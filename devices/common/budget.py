"""Step budgets: how every guest-driven walk stays bounded.

A walker calls its ``tick(n, what)`` once per element it visits. Inside a machine that is
``Engine.tick``: past the engine's watchdog the activation ends as a modelled hang
(:class:`~dmamon.memory.MachineHalt` ``hung``), never a hung process. Outside a machine (unit
tests, offline decoding) :func:`step_budget` gives a tick with its own limit.
"""

from __future__ import annotations

from collections.abc import Callable

from dmamon.memory import MachineHalt

__all__ = ["Tick", "step_budget"]

Tick = Callable[[int, str], None]
"""``tick(n, what)``: count ``n`` units of work; raises MachineHalt past the budget."""


def step_budget(limit: int) -> Tick:
    """A tick that allows ``limit`` units of work, then raises a modelled hang.

    Args:
        limit: Units of work allowed (at least 0).

    Returns:
        A ``tick(n, what)`` callable.

    Raises:
        ValueError: ``limit`` is negative.
    """
    if limit < 0:
        raise ValueError(f"step budget must be at least 0, got {limit}")
    used = [0]

    def tick(n: int = 1, what: str = "walk") -> None:
        used[0] += n
        if used[0] > limit:
            raise MachineHalt("hung", f"watchdog: {what} did not finish within {limit} steps")

    return tick
