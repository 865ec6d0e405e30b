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
