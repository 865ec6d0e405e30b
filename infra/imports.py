"""What a function's code can import: the top-level packages its handler reaches.

The source of truth for which function gets which package layer (``infra.config.PACKAGE_LAYERS``):
the imports of the function's own folder, then every module of ``shared/`` they reach, lazy
imports inside functions included (grimp's import graph, as import-linter builds it). A function
that can reach ``pypdf`` gets the PDF layer; one that cannot, never carries it.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import grimp

#: The project's package that every function imports from (the shared layer ships it).
SHARED = "shared"


@cache
def _graph() -> grimp.ImportGraph:
    return grimp.build_graph(SHARED, include_external_packages=True, cache_dir=None)


def _imported(folder: Path) -> set[str]:
    """The absolute module names the function's own files import (any depth, lazy ones too):
    ``from a.b import c`` names ``a.b`` and ``a.b.c`` (``c`` may be a module)."""
    names: set[str] = set()
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@cache
def packages_reached(folder: Path) -> frozenset[str]:
    """The top-level packages (``pypdf``, ``sqlalchemy``, ``json``) that the function in
    ``folder`` can import, directly or through ``shared/``."""
    graph = _graph()
    reached: set[str] = set()
    for name in _imported(folder):
        top = name.split(".")[0]
        if top != SHARED:
            reached.add(top)
        elif name in graph.modules:
            reached.update(m.split(".")[0] for m in graph.find_upstream_modules(name))
    reached.discard(SHARED)
    return frozenset(reached)
