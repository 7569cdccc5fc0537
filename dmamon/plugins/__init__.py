"""Front-end plug-ins: one package per device model with its monitor commands and views.

Each plug-in is ``dmamon/plugins/<device>/``; importing it registers its commands, ``info``
subcommands and argument kinds with the core (:mod:`dmamon.monitor`, :mod:`dmamon.argspec`),
and its ``AREAS`` names the command areas it adds. Adding a device's front end is one line in
:data:`PLUGINS`. Central files consult the registries and never name a device type.
"""

from __future__ import annotations

import importlib

__all__ = ["PLUGINS", "load"]

PLUGINS = ("amdvi",)
"""The plug-in packages, in the order their areas appear."""


def load() -> tuple[str, ...]:
    """Import every plug-in (registering its commands); the areas they add, in order."""
    areas: list[str] = []
    for name in PLUGINS:
        module = importlib.import_module(f"dmamon.plugins.{name}")
        areas += [a for a in getattr(module, "AREAS", ()) if a not in areas]
    return tuple(areas)
