"""The package's layout: no import circles, and imports point down the layers of DESIGN.md."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "resilience"

#: Layers, bottom first: a module may import from its own layer and the ones below.
LAYERS: dict[str, int] = {
    "errors": 0,
    "categories": 0,
    "_spec": 0,
    "_state": 0,
    "_atomic": 0,
    "_clock": 0,
    "_about": 0,
    "catalogs": 1,
    "observe": 1,
    "classifier": 2,
    "classify": 2,
    "stores": 2,
    "elements": 3,
    "engine": 4,
    "testing": 4,
    "adapters": 5,
    "config": 5,
    "cli": 6,
    "integrations": 6,
    "__main__": 7,
}


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _target(module: str, name: str) -> str:
    """``from module import name``: the submodule ``module.name`` if there is one."""
    candidate = f"{module}.{name}"
    path = PACKAGE.parent / candidate.replace(".", "/")
    exists = path.with_suffix(".py").exists() or (path / "__init__.py").exists()
    return candidate if exists else module


def _imports(tree: ast.Module, *, top_level_only: bool) -> set[str]:
    """The ``resilience`` modules a module imports at run time (not under TYPE_CHECKING)."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt], nested: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, nested)
                continue
            counted = not (nested and top_level_only)
            if isinstance(node, ast.ImportFrom) and node.module and counted:
                if node.module.startswith("resilience"):
                    found.update(_target(node.module, alias.name) for alias in node.names)
            elif isinstance(node, ast.Import) and counted:
                found.update(a.name for a in node.names if a.name.startswith("resilience"))
            inner = nested or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ExceptHandler):
                    visit(child.body, inner)
                elif isinstance(child, ast.stmt):
                    visit([child], inner)

    visit(tree.body, False)
    return found


def _modules() -> dict[str, ast.Module]:
    return {
        _name(path): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


MODULES = _modules()


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return 8  # resilience itself: the public face, above everything
    return LAYERS[parts[1]]


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _layer(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    for imported in _imports(MODULES[module], top_level_only=False):
        assert imported != "resilience" or _layer(module) == 8, f"{module} imports resilience"
        assert _layer(imported) <= _layer(module), (
            f"{module} (layer {_layer(module)}) imports {imported} (layer {_layer(imported)})"
        )


def test_no_import_circles() -> None:
    graph = {
        module: {
            imported
            for imported in _imports(tree, top_level_only=True)
            if imported in MODULES and imported != module
        }
        for module, tree in MODULES.items()
    }
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycle = [*stack[stack.index(imported) :], imported]
                pytest.fail(f"import circle: {' -> '.join(cycle)}")
            if imported not in state:
                visit(imported)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
