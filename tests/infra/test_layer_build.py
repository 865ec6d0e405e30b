"""The layer build: what it installs and what it leaves to the Lambda runtime."""

from __future__ import annotations

import re

import pytest

from infra.config import PIP_PLATFORM, PIP_PLATFORMS, REPO_ROOT, RUNTIME_NAME, RUNTIME_PROVIDED
from layers.build import normalize, requirements, runtime_dependencies

pytestmark = pytest.mark.infra


def test_runtime_provided_packages_and_their_own_dependencies_are_left_out():
    # Given the locked runtime dependencies
    needed = runtime_dependencies(REPO_ROOT / "uv.lock")
    # Then nothing the Lambda runtime ships is installed, not even via aws-xray-sdk
    assert needed.isdisjoint(normalize(n) for n in RUNTIME_PROVIDED)
    # And botocore's own dependencies go too: urllib3 (the OpenSearch adapter's HTTP client)
    # is botocore's copy in the runtime
    assert "urllib3" not in needed
    assert "s3transfer" not in needed
    # And no REST client's unused gRPC stack, no numpy (the embedder layer has those)
    assert needed.isdisjoint({"opensearch-py", "grpcio", "protobuf", "requests", "numpy"})
    # And everything else is there, extras included
    assert {"aws-xray-sdk", "wrapt", "pydantic-core", "fastapi", "mangum"} <= needed
    assert "argon2-cffi" in needed
    assert "cryptography" not in needed  # HS256 needs no crypto backend: ~110 ms off cold starts
    assert "python-dateutil" in needed  # pg8000 needs it, not only botocore


def test_requirements_are_exact_pins_from_the_lock():
    needed = runtime_dependencies(REPO_ROOT / "uv.lock")
    lines = requirements(needed).splitlines()
    assert len(lines) == len(needed)
    assert all(re.match(r"^[a-z0-9-]+==\S+", line) for line in lines)


def test_platform_matches_the_runtime():
    assert RUNTIME_NAME == "python3.14"
    assert PIP_PLATFORM == "manylinux2014_aarch64"
    assert "manylinux_2_28_aarch64" in PIP_PLATFORMS  # wheels of newer packages carry only this


def test_the_embedder_layer_holds_the_model_runtime_and_no_hub_client():
    from layers.build import EMBEDDER_UNUSED, group_requirements

    # Given the embedder group's closure, as the embedder layer installs it
    needed = runtime_dependencies(REPO_ROOT / "uv.lock", provided=EMBEDDER_UNUSED, group="embedder")
    # Then it is numpy, tokenizers and safetensors, without the Hugging Face hub client that
    # tokenizers depends on but never imports to read a local file
    assert needed == {"numpy", "tokenizers", "safetensors"}
    # And the pins are those of the runtime's Python (the lock forks numpy by Python version)
    pins = dict(line.split("==") for line in group_requirements("embedder").splitlines())
    assert {"numpy", "tokenizers", "safetensors"} <= set(pins)
    assert pins["numpy"].startswith("2.5")  # the lock's numpy for Python >= 3.12


def test_the_shared_layer_leaves_out_what_has_a_layer_of_its_own_and_what_nothing_imports():
    from infra.config import NEVER_IMPORTED, PACKAGE_LAYERS
    from layers.build import package_layer_packages, shared_packages

    # Given what the shared layer and each package layer install
    shared = shared_packages()
    layers = {layer.name: package_layer_packages(layer) for layer in PACKAGE_LAYERS}
    # Then pypdf is the PDF layer's alone, alembic with its templates the migrations layer's
    assert layers == {"pdf-layer": {"pypdf"}, "migrations-layer": {"alembic", "mako", "markupsafe"}}
    assert shared.isdisjoint({"pypdf", "alembic", "mako", "markupsafe"})
    # And what no function imports is in no layer: cffi's parser, the DNS resolver, and
    # redis's async-timeout (its marker: Python below 3.11.3, not the runtime's 3.14)
    assert shared.isdisjoint({"pycparser", "dnspython", "async-timeout"})
    # And the layers together still hold every runtime dependency but those
    everything = runtime_dependencies(REPO_ROOT / "uv.lock")
    leftover = everything - shared - set().union(*layers.values())
    assert leftover == set(NEVER_IMPORTED)
    # And the layers share no package (one copy of each on the function's path)
    assert all(shared.isdisjoint(packages) for packages in layers.values())


_LOADED = """
import importlib, importlib.metadata, json, runpy, sys
for handler in sys.argv[1].split(","):
    runpy.run_path(handler)
for module in sys.argv[2].split(","):
    importlib.import_module(module)
from shared.platform.observability import get_tracer
assert get_tracer(("pg8000",)) is not None  # tracing on, as deployed: the X-Ray SDK loads
tops = {m.split(".")[0] for m in sys.modules}
print(json.dumps(sorted({
    d.lower().replace("_", "-")
    for top, dists in importlib.metadata.packages_distributions().items() if top in tops
    for d in dists
})))
"""


def test_every_package_in_a_layer_is_one_that_some_function_loads():
    import json
    import subprocess
    import sys

    from functions.registry import discover
    from infra.config import PACKAGE_LAYERS
    from infra.imports import packages_reached
    from layers.build import package_layer_packages, shared_packages

    # Given a fresh interpreter that imported every handler, then every top-level package their
    # code can reach (lazy imports included: pypdf, alembic, the Postgres driver), and made the
    # tracer as a deployed function does
    registry = discover()
    reached = set().union(*(packages_reached(e.folder) for e in registry))
    modules = sorted(m for m in reached if m not in sys.stdlib_module_names)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOADED,
            ",".join(str(e.folder / "handler.py") for e in registry),
            ",".join(modules),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={
            "PYTHONPATH": str(REPO_ROOT),
            "PATH": "/usr/bin:/bin",
            "AWS_LAMBDA_FUNCTION_NAME": "probe",
            "POWERTOOLS_TRACE_DISABLED": "false",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        },
    )
    loaded = set(json.loads(result.stdout))
    # Then every package a layer ships was loaded: none is there that nothing imports
    shipped = shared_packages().union(*(package_layer_packages(p) for p in PACKAGE_LAYERS))
    assert sorted(shipped - loaded) == []
    # And the packages left out were not
    assert loaded.isdisjoint({"pycparser", "dnspython", "async-timeout"})
