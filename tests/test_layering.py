"""Imports go one way: memory <- devices <- dmamon (ARCHITECTURE.md §1, style.md §3.2).

Every ``.py`` file under ``memory/``, ``devices/`` and ``dmamon/`` is parsed with ``ast``
(imports inside functions and ``if TYPE_CHECKING:`` blocks count too). The kernel may
import only the standard library and itself; devices may add the kernel; nothing below
``dmamon/`` may pull in a UI library; and nothing imports the folders by their bare names.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UI_LIBS = frozenset({"cmd2", "click", "prompt_toolkit", "rich", "pygments"})
LAYERS = {"memory": "dmamon.memory", "devices": "dmamon.devices", "dmamon": "dmamon"}
# What each layer may import from the dmamon namespace.
ALLOWED = {
    "dmamon.memory": ("dmamon.memory",),
    "dmamon.devices": ("dmamon.memory", "dmamon.devices"),
    "dmamon": ("dmamon",),
}


def module_name(folder: str, path: Path) -> str:
    """The dotted name a file is installed as (``memory/region.py`` -> ``dmamon.memory.region``)."""
    rel = path.relative_to(ROOT / folder).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([LAYERS[folder], *parts])


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every module a source file imports, relative imports resolved, with line numbers."""
    out: list[tuple[int, str]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return out


def violations(layer: str, module: str, imports: list[tuple[int, str]]) -> list[str]:
    """Why each import breaks the layering (empty when it is fine)."""
    bad = []
    for line, name in imports:
        top = name.split(".")[0]
        if top in ("memory", "devices"):
            bad.append(f"{module}:{line} imports {name!r} by its folder name; use 'dmamon.{name}'")
        elif top == "dmamon":
            if not any(name == a or name.startswith(a + ".") for a in ALLOWED[layer]):
                bad.append(f"{module}:{line} imports {name!r}, above its layer {layer!r}")
        elif layer != "dmamon" and top in UI_LIBS:
            bad.append(f"{module}:{line} imports the UI library {name!r}")
        elif (
            layer == "dmamon.memory" and top not in sys.stdlib_module_names and top != "__future__"
        ):
            bad.append(
                f"{module}:{line} imports {name!r}; the kernel uses the standard library only"
            )
    return bad


def sources() -> list[tuple[str, Path]]:
    return [
        (folder, path)
        for folder in LAYERS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


@pytest.mark.parametrize(
    "folder, path", sources(), ids=[str(p.relative_to(ROOT)) for _, p in sources()]
)
def test_imports_go_only_downward(folder: str, path: Path) -> None:
    module = module_name(folder, path)
    layer = LAYERS[folder]
    imports = imported_modules(path.read_text(), module, path.name == "__init__.py")
    assert violations(layer, module, imports) == []


def test_every_layer_has_sources() -> None:
    assert {folder for folder, _ in sources()} == set(LAYERS)


# -- the checker itself --------------------------------------------------------------------


def check(layer: str, module: str, source: str, is_package: bool = False) -> list[str]:
    return violations(layer, module, imported_modules(source, module, is_package))


def test_the_kernel_importing_a_device_is_caught() -> None:
    assert check("dmamon.memory", "dmamon.memory.x", "from dmamon.devices import Machine\n") == [
        "dmamon.memory.x:1 imports 'dmamon.devices', above its layer 'dmamon.memory'"
    ]


def test_a_device_importing_the_ui_is_caught_even_inside_a_function() -> None:
    src = "def f():\n    import dmamon.render\n    from cmd2 import Cmd\n"
    assert check("dmamon.devices", "dmamon.devices.x", src) == [
        "dmamon.devices.x:2 imports 'dmamon.render', above its layer 'dmamon.devices'",
        "dmamon.devices.x:3 imports the UI library 'cmd2'",
    ]


def test_relative_imports_are_resolved_before_checking() -> None:
    assert check("dmamon.memory", "dmamon.memory.x", "from . import region\n") == []
    assert check("dmamon.memory", "dmamon.memory.x", "from ..devices import edu\n") == [
        "dmamon.memory.x:1 imports 'dmamon.devices', above its layer 'dmamon.memory'"
    ]


def test_bare_folder_names_and_third_party_kernel_imports_are_caught() -> None:
    assert check("dmamon.devices", "dmamon.devices.x", "import memory.region\n") == [
        "dmamon.devices.x:1 imports 'memory.region' by its folder name; use 'dmamon.memory.region'"
    ]
    assert check("dmamon.memory", "dmamon.memory.x", "import numpy\n") == [
        "dmamon.memory.x:1 imports 'numpy'; the kernel uses the standard library only"
    ]


def test_the_front_end_may_import_everything() -> None:
    src = "import cmd2\nfrom dmamon.devices import Machine\nfrom dmamon.memory import MemTxResult\n"
    assert check("dmamon", "dmamon.shell", src) == []
