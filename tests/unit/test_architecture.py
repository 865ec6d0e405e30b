"""The architecture holds: the domain never imports the transport (import-linter, with a
negative example), and a function imports what its kind needs and no more."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from functions.registry import REPO_ROOT, discover
from shared.tables import MODEL_MODULES

REGISTRY = discover()
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The project's packages and import contracts, copied: a probe module can be added."""
    root = tmp_path_factory.mktemp("tree")
    for package in ("shared", "functions", "local", "infra", "ops"):
        shutil.copytree(
            REPO_ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_tree_keeps_its_import_contracts(tree_copy):
    result = _lint(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("domain_module", "statement", "contract"),
    [
        ("shared/documents/probe.py", "from shared.platform.http import HttpFunction", "transport"),
        ("shared/users/probe.py", "import fastapi", "transport"),
        ("shared/notifications/probe.py", "from shared.platform import worker", "transport"),
        ("shared/auth/probe.py", "def later():\n    import mangum", "transport"),
        ("shared/platform/probe.py", "from shared.documents import service", "no domain"),
    ],
)
def test_a_module_that_breaks_a_contract_fails_the_lint(
    tree_copy, domain_module, statement, contract
):
    # Given a domain module that imports the transport (or the platform that imports a domain)
    probe = tree_copy / domain_module
    probe.write_text(f'"""A probe."""\n\n{statement}\n')
    try:
        # When the lint step runs
        result = _lint(tree_copy)
    finally:
        probe.unlink()
    # Then it fails, naming the contract and the offending module
    assert result.returncode == 1
    assert f"{contract}" in result.stdout
    assert domain_module.removesuffix(".py").replace("/", ".") in result.stdout


_PROBE = """
import json, runpy, sys
runpy.run_path(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def _modules_imported_by(entry_name: str) -> set[str]:
    """Every module a fresh interpreter holds after importing the function's handler."""
    handler = REGISTRY[entry_name].folder / "handler.py"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(handler)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    )
    return set(json.loads(result.stdout))


def _loaded(modules: set[str], package: str) -> bool:
    return any(m == package or m.startswith(package + ".") for m in modules)


WORKERS = [e.name for e in REGISTRY if e.kind in {"queue", "schedule", "deploy"}]


@pytest.mark.parametrize("name", WORKERS)
def test_a_worker_loads_no_http_transport(name):
    modules = _modules_imported_by(name)
    assert not [p for p in ("fastapi", "starlette", "mangum") if _loaded(modules, p)]


@pytest.mark.parametrize("name", ["auth-authorizer", "system-health"])
def test_the_authorizer_and_health_load_no_orm(name):
    modules = _modules_imported_by(name)
    assert not _loaded(modules, "sqlalchemy.orm")
    assert not _loaded(modules, "alembic")


HTTP_FUNCTIONS = [e.name for e in REGISTRY if e.kind == "http"]


@pytest.mark.parametrize("name", HTTP_FUNCTIONS)
def test_every_endpoint_and_dependency_is_async(name):
    # Given an HTTP function's one route, and every dependency FastAPI resolves for it
    import inspect

    from fastapi.routing import APIRoute

    (route,) = REGISTRY[name].function.router.routes  # type: ignore[attr-defined]
    assert isinstance(route, APIRoute)
    calls, todo = [], [route.dependant]
    while todo:
        dependant = todo.pop()
        calls.append(dependant.call)
        todo.extend(dependant.dependencies)
    # Then each is a coroutine function: a sync one costs a thread-pool hop per request
    sync = [c for c in calls if c is not None and not inspect.iscoroutinefunction(c)]
    assert sync == []


#: What a function may not hold after its handler module is imported (clients, the tracer and
#: the heavy parsers load on first use), and at most how many modules, per kind: measured in a
#: fresh interpreter, with ~5 % of room. A regression (a heavy import at module level) fails.
NEVER_AT_IMPORT = (
    "boto3",
    "aws_xray_sdk",
    "pypdf",
    "opensearchpy",
    "numpy",
    "argon2",
    "jwt",
    "pydantic.v1",  # FastAPI would import it to ask whether a model is a v1 one (http.py)
)
MODULE_BUDGET = {"http": 710, "authorizer": 390, "queue": 535, "schedule": 560, "deploy": 690}
HEALTH_BUDGET = 560


@pytest.mark.parametrize("name", [e.name for e in REGISTRY])
def test_a_function_imports_what_its_declaration_needs_and_no_more(name):
    # Given a fresh interpreter that imported the function's handler
    entry = REGISTRY[name]
    modules = _modules_imported_by(name)
    # Then nothing that loads on first use is there already
    assert [p for p in NEVER_AT_IMPORT if _loaded(modules, p)] == []
    if entry.kind != "deploy":
        assert not _loaded(modules, "alembic")
    if name == "system-health":  # no dependency calls: no ORM, no driver, no Redis client
        assert not [p for p in ("sqlalchemy", "pg8000", "redis") if _loaded(modules, p)]
    # And it stays within its kind's module budget
    budget = HEALTH_BUDGET if name == "system-health" else MODULE_BUDGET[entry.kind]
    assert len(modules) <= budget, f"{name}: {len(modules)} modules, budget {budget}"


_FOREIGN_KEYS_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
from shared.platform.orm import Base
unresolved = []
for table in Base.metadata.tables.values():
    for key in table.foreign_keys:
        try:
            key.column
        except Exception as exc:
            unresolved.append(f"{key.parent}: {type(exc).__name__}")
print(json.dumps(unresolved))
"""


@pytest.mark.parametrize("module", MODEL_MODULES)
def test_a_models_module_alone_resolves_its_foreign_keys(module):
    # Given a fresh interpreter that imported one domain's models, as one function's handler
    # may import nothing else of the tables (a flush orders the tables by their foreign keys)
    result = subprocess.run(
        [sys.executable, "-c", _FOREIGN_KEYS_PROBE, module],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    )
    # Then every foreign key finds the table it names
    assert json.loads(result.stdout) == []
