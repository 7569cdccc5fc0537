"""The scripts shipped in the package: the tour and the labs, found by name.

``source tour`` in the shell and ``dmamon run iommu-fault`` on the command line work from any
directory and in an installed copy, because the files are package data
(``dmamon/scripts/*.dmamon``, ``dmamon/scripts/labs/*.dmamon``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCRIPTS_DIR", "find_shipped", "shipped_names"]

SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
"""Where the shipped scripts live."""

_FOLDERS = (SCRIPTS_DIR, SCRIPTS_DIR / "labs")


def find_shipped(name: str) -> Path | None:
    """The shipped script called ``name`` (``tour``, ``iommu-fault``, with or without
    ``.dmamon``), or None. Only bare names are looked up: a path is the user's own file."""
    if "/" in name or "\\" in name:
        return None
    file = name if name.endswith(".dmamon") else f"{name}.dmamon"
    for folder in _FOLDERS:
        if (folder / file).is_file():
            return folder / file
    return None


def shipped_names() -> list[str]:
    """Every shipped script's name: the tour first, then the labs in name order."""
    return [p.stem for folder in _FOLDERS for p in sorted(folder.glob("*.dmamon"))]
