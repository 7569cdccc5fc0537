"""Names a package exports but loads on first use (PEP 562).

Device packages re-export their ``info()`` records and guest drivers for convenience, but the
machine needs neither to run: building their dataclasses at start-up would cost every batch
script and every qtest process time it never uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that imports ``names[name]`` (a sub-module
    name) on first use of ``name`` and caches the value in the package."""

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        pkg = importlib.import_module(package)
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(pkg, name, value)
        return value

    return __getattr__
