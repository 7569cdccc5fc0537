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


# -- front ends: core commands and device plug-ins ------------------------------------------


def plugin_violations(module: str, imports: list[tuple[int, str]]) -> list[str]:
    """Core command modules (``dmamon.commands.*``) may use only the ``dmamon.devices`` root;
    a plug-in ``dmamon.plugins.<x>`` only ``dmamon.devices.<x>`` below the root, and no
    other plug-in. (The kernel, ``dmamon.memory``, and the core front end stay allowed.)"""
    parts = module.split(".")
    bad = []
    for line, name in imports:
        if module.startswith("dmamon.commands"):
            if name.startswith("dmamon.devices."):
                bad.append(f"{module}:{line} imports {name!r}; core commands use dmamon.devices")
            elif name.startswith("dmamon.plugins."):
                bad.append(f"{module}:{line} imports the plug-in {name!r}")
        elif module.startswith("dmamon.plugins.") and len(parts) >= 3:
            own = parts[2]
            for prefix in ("dmamon.devices.", "dmamon.plugins."):
                if name.startswith(prefix) and name.split(".")[2] != own:
                    bad.append(f"{module}:{line} imports {name!r}; plug-in {own!r} may not")
    return bad


FRONT = [p for f, p in sources() if f == "dmamon" and p.parent.name != "dmamon"]


@pytest.mark.parametrize("path", FRONT, ids=[str(p.relative_to(ROOT)) for p in FRONT])
def test_core_commands_and_plugins_stay_in_their_lanes(path: Path) -> None:
    module = module_name("dmamon", path)
    imports = imported_modules(path.read_text(), module, path.name == "__init__.py")
    assert plugin_violations(module, imports) == []


def test_a_core_command_importing_a_device_subpackage_is_caught() -> None:
    src = "from dmamon.devices import Machine\nfrom dmamon.devices.amdvi import AmdIommu\n"
    imports = imported_modules(src, "dmamon.commands.x", False)
    assert plugin_violations("dmamon.commands.x", imports) == [
        "dmamon.commands.x:2 imports 'dmamon.devices.amdvi'; core commands use dmamon.devices"
    ]


def test_a_plugin_importing_another_device_or_plugin_is_caught() -> None:
    src = (
        "from dmamon.devices.amdvi.formats import Pte\nfrom dmamon.devices.edu import Edu\n"
        "from dmamon.plugins.edu import views\nfrom dmamon.monitor import command\n"
    )
    imports = imported_modules(src, "dmamon.plugins.amdvi.x", False)
    assert plugin_violations("dmamon.plugins.amdvi.x", imports) == [
        "dmamon.plugins.amdvi.x:2 imports 'dmamon.devices.edu'; plug-in 'amdvi' may not",
        "dmamon.plugins.amdvi.x:3 imports 'dmamon.plugins.edu'; plug-in 'amdvi' may not",
    ]


# -- __all__: sorted and complete --------------------------------------------------------------


def all_sort_key(name: str) -> tuple[int, str]:
    """isort's order (ruff RUF022), the house style: CONSTANTS, then Classes, then the rest."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            assert isinstance(node, ast.Assign) and isinstance(node.value, ast.List | ast.Tuple)
            return [ast.literal_eval(e) for e in node.value.elts]
    return None


def all_problems(source: str) -> list[str]:
    """Why a module's ``__all__`` is not sorted and complete. Complete means: it names every
    public top-level function and class the module defines (constants and re-exports are the
    author's choice, as long as the list stays sorted)."""
    tree = ast.parse(source)
    names = declared_all(tree)
    if names is None:
        return []
    problems = []
    if names != sorted(names, key=all_sort_key):
        problems.append("__all__ is not sorted (CONSTANTS, Classes, functions)")
    defined = [
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not n.name.startswith("_")
    ]
    missing = [n for n in defined if n not in names]
    if missing:
        problems.append(f"__all__ leaves out {', '.join(missing)}")
    return problems


ALL_FILES = [p for _, p in sources()]


@pytest.mark.parametrize("path", ALL_FILES, ids=[str(p.relative_to(ROOT)) for p in ALL_FILES])
def test_every_all_is_sorted_and_complete(path: Path) -> None:
    assert all_problems(path.read_text()) == []


def test_every_plugin_module_declares_all() -> None:
    plugins = sorted((ROOT / "dmamon" / "plugins").rglob("*.py"))
    assert (
        plugins
        and [p.name for p in plugins if declared_all(ast.parse(p.read_text())) is None] == []
    )


def test_the_all_checker_catches_order_and_omissions() -> None:
    src = '__all__ = ["b", "A"]\n\ndef b(): ...\nclass A: ...\ndef c(): ...\ndef _d(): ...\n'
    assert all_problems(src) == [
        "__all__ is not sorted (CONSTANTS, Classes, functions)",
        "__all__ leaves out c",
    ]
