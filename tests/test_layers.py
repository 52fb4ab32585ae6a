"""The architecture, enforced: every import in src/gankit (function-local ones included) flows
down the layers below, and no module imports another that (directly or not) imports it back.

Layers, lowest first. A module may import modules of its own layer or a lower one. A new module
must be given a layer here (the test fails otherwise), which is the point: its place is a decision.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: list[tuple[str, ...]] = [
    ("gankit.errors", "gankit.version", "gankit.constants", "gankit.utils"),   # foundations
    ("gankit.config", "gankit.presets", "gankit.lr_schedule"),                  # one config per run
    ("gankit.data", "gankit.nets", "gankit.objectives", "gankit.theory"),       # the paper's parts
    ("gankit.algorithm1", "gankit.optim", "gankit.metrics", "gankit.figures",   # Algorithm 1, and
     "gankit.diagnose"),                                                        # what reads its output
    ("gankit.engine",),                                                         # the one loop
    ("gankit.runs",),                                                           # run folders
    ("gankit.experiments",),                                                    # Table 1, figures
    ("gankit.commands", "gankit.cli"),                                          # the command line
    ("gankit", "gankit.__main__"),                                              # the public API
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def layer_of(module: str) -> int:
    """The layer of the longest prefix of ``module`` named in LAYERS."""
    best, rank = -1, None
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, rank = len(name), i
    if rank is None:
        raise AssertionError(f"{module} has no layer: add it to LAYERS in {__file__}")
    return rank


def imports_of(module: str) -> set[str]:
    """gankit modules imported anywhere in ``module``'s source (functions and classes included)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the package
                up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m == "gankit" or m.startswith("gankit.")}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    mine = layer_of(module)
    upward = sorted(f"{m} (layer {layer_of(m)})" for m in GRAPH[module] if layer_of(m) > mine)
    assert not upward, f"{module} (layer {mine}) imports upward: {', '.join(upward)}"


def test_no_import_cycle():
    """Depth-first search for a back edge; the message shows the cycle."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(GRAPH.get(m, ())):
            if n == m:
                continue
            if state.get(n) == 1:
                cycle = path[path.index(n):] + [n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n in GRAPH and state.get(n) is None:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if state.get(m) is None:
            visit(m)


def test_the_checks_can_fail():
    """The graph really sees function-local and relative imports (a check that sees nothing
    passes vacuously)."""
    assert "gankit.engine.loop" in GRAPH["gankit.runs.train"]
    assert "gankit.config" in GRAPH["gankit.engine.state"]
    assert all(m.startswith("gankit") for edges in GRAPH.values() for m in edges)
    assert sum(map(len, GRAPH.values())) > 100
