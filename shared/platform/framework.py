"""FastAPI, imported with its own pydantic models built on first use.

Importing FastAPI defines some forty pydantic models of its own, nearly all of them the OpenAPI
document's (``fastapi.openapi.models``), and pydantic builds each one's validator and
serializer as the class is created: a tenth of an HTTP function's import of FastAPI and its
dependencies, in every cold start, for models a function never touches in Lambda (the OpenAPI
document is generated offline, by ``make openapi``; the functions serve no docs route).

:func:`import_fastapi` imports FastAPI's modules that the platform uses with pydantic's
``defer_build`` default on, and only for that import: each of those models is then built by
pydantic itself the first time it is used (``ConfigDict(defer_build=True)``, pydantic's own
deferral), and every model defined afterwards, ours and those FastAPI makes for a route, is
built as usual. ``shared.platform.http`` calls it before anything imports FastAPI; the
handlers take FastAPI's names from ``shared.platform.http`` (an import-linter contract in
``pyproject.toml``), so no handler imports FastAPI first. Where the pydantic internal it sets
is missing (another pydantic), FastAPI is imported as it is, and nothing else changes.
"""

from __future__ import annotations

import importlib
import sys

#: What ``shared.platform.http`` imports of FastAPI (the models they define are deferred).
MODULES = (
    "fastapi",
    "fastapi.dependencies.utils",
    "fastapi.exceptions",
    "fastapi.responses",
    "fastapi.routing",
)


def import_fastapi() -> bool:
    """Import :data:`MODULES`; True when FastAPI's own models were deferred (False: FastAPI was
    imported already, or this pydantic has no such default)."""
    if "fastapi" in sys.modules:
        return False
    try:
        from pydantic._internal._config import config_defaults
    except ImportError:  # pragma: no cover - another pydantic: import as it is
        config_defaults = {}
    deferring = config_defaults.get("defer_build") is False
    if deferring:
        config_defaults["defer_build"] = True
    try:
        for name in MODULES:
            importlib.import_module(name)
    finally:
        if deferring:
            config_defaults["defer_build"] = False
    return deferring


DEFERRED = import_fastapi()
