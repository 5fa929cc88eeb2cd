"""The package's shape (issue 13): one-way layers, no import cycles, no module over 500 lines, and no task
named outside the task table. Read from the source with `ast`, every import counted (a function-level
import is still a dependency)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "facex_video"

# Lowest first: a module may import its own layer and those before it, never one after it.
LAYERS = ["core", "models", "media", "faces", "ford", "tasks", "render", "edit", "video", "eval", "api", "cli"]
# top-level modules outside a layer folder, and the layer they belong to
MODULE_LAYERS = {"envcheck": "cli"}

TASK_NAMES = ("swap", "headswap", "hairswap", "reenact", "edit", "inpaint", "mix")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """The facex_video modules `name` imports (a `from package import module` counts as the module)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("facex_video")}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + [node.module or ""]).rstrip(".") \
                if node.level else node.module
            if base and base.startswith("facex_video"):
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) == 1:
        return None  # the package itself
    return MODULE_LAYERS.get(parts[1], parts[1]) if len(parts) == 2 and parts[1] in MODULE_LAYERS else parts[1]


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles() == []


def test_every_module_lives_in_a_layer():
    assert {n for n in MODULES if n != "facex_video" and _layer(n) not in LAYERS} == set()


def test_layers_import_only_downward():
    upward = sorted(f"{a} -> {b}" for a, deps in GRAPH.items() for b in deps
                    if _layer(a) in LAYERS and _layer(b) in LAYERS and LAYERS.index(_layer(b)) > LAYERS.index(_layer(a)))
    assert upward == []


def test_ray_is_imported_only_by_the_ray_runner():
    users = {n for n, p in MODULES.items()
             if re.search(r"^\s*(import ray|from ray[ .])", p.read_text(), re.MULTILINE)}
    assert users <= {"facex_video.video.runner_ray"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_500_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= 500, f"{name}: {lines} lines"


def test_no_task_name_is_compared_outside_the_task_table():
    """A task's behaviour is a field of its record (tasks/table.py); nothing else spells a task's name in
    a comparison or a membership test."""
    names = "|".join(TASK_NAMES)
    literal = rf"""["'](?:{names})["']"""
    compare = re.compile(rf"(==|!=|\bin)\s*\(?\s*{literal}|{literal}\s*(==|!=)|\bin\s*\(\s*{literal}\s*,")
    found = [f"{n}:{i}: {line.strip()}" for n, p in MODULES.items() if n != "facex_video.tasks.table"
             for i, line in enumerate(p.read_text().splitlines(), 1) if compare.search(line)]
    assert found == []


def _layer_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {layer: set() for layer in LAYERS}
    for a, deps in GRAPH.items():
        for b in deps:
            la, lb = _layer(a), _layer(b)
            if la in LAYERS and lb in LAYERS and la != lb:
                edges[la].add(lb)
    return edges


def test_the_layer_diagram_in_the_docs_is_the_imports():
    """docs/architecture.md's layer block lists, for each layer from the top, every layer it imports."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    block = doc.split("<!-- layers: begin -->")[1].split("<!-- layers: end -->")[0]
    drawn = {}
    for line in block.strip().strip("`").strip().splitlines():
        layer, _, targets = line.partition("->")
        drawn[layer.strip()] = {t.strip() for t in targets.split(",") if t.strip()}
    assert list(drawn) == LAYERS[::-1]
    assert drawn == _layer_edges()
