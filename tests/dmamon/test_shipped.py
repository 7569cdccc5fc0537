"""The tour and the labs ship in the package and are found by name from any directory."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from dmamon.cli import main
from dmamon.shipped import SCRIPTS_DIR, find_shipped, shipped_names

ROOT = Path(__file__).resolve().parents[2]


def test_the_tour_and_every_lab_are_found_by_their_bare_names() -> None:
    names = shipped_names()
    assert names[0] == "tour"
    assert {"iommu-fault", "iommu-inval-race", "reentrancy-edu", "reentrancy-e1000e"} <= set(names)
    for name in names:
        found = find_shipped(name)
        assert found is not None and found.is_file()
        assert find_shipped(f"{name}.dmamon") == found


def test_a_path_is_never_taken_for_a_shipped_name() -> None:
    assert find_shipped("labs/iommu-fault") is None
    assert find_shipped("./tour") is None
    assert find_shipped("nosuch") is None


def test_package_data_ships_every_script_folder() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = data["package-data"]["dmamon"]
    folders = {p.parent for p in SCRIPTS_DIR.rglob("*.dmamon")}
    shipped = {(ROOT / "dmamon" / g).parent for g in globs if g.endswith(".dmamon")}
    assert folders <= shipped


def test_dmamon_run_takes_a_lab_by_name_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", "iommu-fault"])
    assert result.exit_code == 0, result.output
    assert "1 file, " in result.output


def test_dmamon_run_names_the_shipped_scripts_when_nothing_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", "nosuch"])
    assert result.exit_code == 2
    assert "'nosuch': no such file, nor a shipped script (tour, " in result.output
