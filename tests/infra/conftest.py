"""Synthesize the CDK app once per session (a synth costs seconds) and share its templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.registry import discover
from infra.config import PACKAGE_LAYERS
from tests.infra.synth import Synthesized, synthesize

FRONTEND_ORIGIN = "https://app.example.com"
PROD_CONTEXT = {
    "frontend_origin": FRONTEND_ORIGIN,
    "alarm_email": "ops@example.com",
    "admin_email": "ops@example.com",
    "email_domain": "example.com",
}


@pytest.fixture(scope="session")
def layer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for ``build/layer``: the app only needs a ``python/`` folder to package."""
    directory = tmp_path_factory.mktemp("layer")
    (directory / "python").mkdir()
    (directory / "python" / "README").write_text("stub layer for the infrastructure tests\n")
    # and of the layers beside it: the embedder's (-c embedder=static) and the package layers
    for name in ("embedder-layer", *(layer.name for layer in PACKAGE_LAYERS)):
        stub = directory.parent / name / "python"
        stub.mkdir(parents=True, exist_ok=True)
        (stub / "README").write_text(f"stub {name} for the infrastructure tests\n")
    return directory


@pytest.fixture(scope="session")
def synthesized(layer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The real registry, synthesized for dev."""
    return synthesize(discover(), layer_dir=layer_dir, outdir=tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synthesized_prod(
    synthesized: Synthesized, layer_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    """The real registry, synthesized for prod as a deployer would: with the context of
    docs/deploy.md (frontend origin, alarm email, admin email, mail domain)."""
    return synthesize(
        synthesized.registry,
        layer_dir=layer_dir,
        outdir=tmp_path_factory.mktemp("cdk.out.prod"),
        env="prod",
        context=PROD_CONTEXT,
    )
