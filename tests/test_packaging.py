"""Every package folder reaches the wheel: pyproject's explicit package list (setuptools
``package-dir`` maps memory/ and devices/ into the dmamon namespace, which automatic discovery
cannot follow) must name each folder that holds an ``__init__.py``, map it to that folder,
and ship its ``py.typed``."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"dmamon": "dmamon", "memory": "dmamon.memory", "devices": "dmamon.devices"}


def package_folders() -> dict[str, str]:
    """Dotted package name -> folder (relative to the root) for every folder with code."""
    out = {}
    for folder, dotted in LAYERS.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder)
            name = ".".join([dotted, *rel.parts])
            out[name] = init.parent.relative_to(ROOT).as_posix()
    return out


def setuptools_table() -> dict[str, object]:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert isinstance(table, dict)
    return table


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = setuptools_table()["packages"]
    assert isinstance(listed, list)
    assert sorted(package_folders()) == sorted(listed)


def test_every_listed_package_maps_to_its_folder() -> None:
    package_dir = setuptools_table()["package-dir"]
    assert isinstance(package_dir, dict)
    assert {name: package_dir.get(name) for name in package_folders()} == package_folders()


def test_every_package_ships_its_py_typed_marker() -> None:
    data = setuptools_table()["package-data"]
    assert isinstance(data, dict)
    folders = package_folders()
    missing = [n for n in folders if "py.typed" not in data.get(n, [])]
    assert missing == []
    assert [n for n, f in folders.items() if not (ROOT / f / "py.typed").exists()] == []
