"""The package layout: no import cycle, statistics apart from the store and the web, imports at the top.

The import graph is read from the source with :mod:`ast`, so the test sees every import,
including those that run only inside a function.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("server", "web", "geo", "clustering")


def _modules() -> dict[str, Path]:
    out = {"server": ROOT / "server.py"}
    for pkg in PACKAGES[1:]:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """``(module imported, at module level?)`` for each import of a project module in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            # "from geo import analysis" imports the module geo.analysis
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:  # "import geo.store.models.x" -> the module it names
                t = t.rpartition(".")[0]
            if t and t != name:
                found.append((t, id(node) in top))
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _group(name: str, depth: int) -> str:
    return ".".join(name.split(".")[:depth])


def test_the_graph_sees_the_project():
    assert {"server", "web.api", "geo.analysis", "geo.store.models", "clustering.getis_ord"} <= set(MODULES)
    assert ("geo.store.models", True) in GRAPH["geo.store.queries"]
    assert ("geo.analysis", True) in GRAPH["web.api"]


def test_no_import_cycle_among_modules():
    edges = {m: {t for t, _ in imports} for m, imports in GRAPH.items()}
    assert _cycles(edges) == []


@pytest.mark.parametrize("depth", [1, 2], ids=["top-level packages", "subpackages"])
def test_no_import_cycle_among_packages(depth):
    """Neither between server, web, geo and clustering, nor between geo's subpackages
    (store, ingest, committee, render and geo's own modules)."""
    edges = defaultdict(set)
    for m, imports in GRAPH.items():
        for t, _ in imports:
            a, b = _group(m, depth), _group(t, depth)
            if a != b and not (depth == 2 and (a == _group(b, 1) or b == _group(a, 1))):
                edges[a].add(b)
    assert _cycles(edges) == []


def test_the_layers_point_one_way():
    """clustering knows nothing of the rest; geo knows nothing of the web; nothing imports server."""
    allowed = {"clustering": {"clustering"}, "geo": {"geo", "clustering"},
               "web": {"web", "geo", "clustering"}, "server": {"web", "geo", "clustering"}}
    wrong = [(m, t) for m, imports in GRAPH.items() for t, _ in imports
             if _group(t, 1) not in allowed[_group(m, 1)]]
    assert wrong == []


def test_statistics_use_neither_flask_nor_the_store():
    banned = ("flask", "flask_babel", "flask_login", "sqlalchemy", "werkzeug", "geo", "web", "server")
    used = []
    for name, path in MODULES.items():
        if not name.startswith("clustering"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            used += [(name, m) for m in mods if m.split(".")[0] in banned]
    assert used == []


def test_project_imports_are_at_module_level():
    """An import inside a function hides a dependency (and used to dodge cycles)."""
    inner = sorted({(m, t) for m, imports in GRAPH.items() for t, top in imports if not top})
    assert inner == []
