"""Walkers shared by device models: guest-built rings and lists, each bounded by a step budget."""

from dmamon.devices.common.budget import Tick, step_budget
from dmamon.devices.common.ring import HeadTailRing, RegAccess, RingState

__all__ = ["HeadTailRing", "RegAccess", "RingState", "Tick", "step_budget"]
