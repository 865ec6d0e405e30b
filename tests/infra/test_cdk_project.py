"""cdk.json, the pinned CLI and the shared platform constants stay honest."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from infra.config import REPO_ROOT

pytestmark = pytest.mark.infra


def _recommended_flags() -> dict[str, object]:
    """The feature flags the installed aws-cdk-lib recommends (shipped in its jsii tarball)."""
    spec = importlib.util.find_spec("aws_cdk")
    assert spec is not None and spec.submodule_search_locations
    (tarball,) = Path(spec.submodule_search_locations[0], "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        flags: dict[str, object] = json.load(member)
    return flags


def test_cdk_json_sets_exactly_the_recommended_feature_flags():
    # Upgrading aws-cdk-lib? Copy its package/recommended-feature-flags.json into cdk.json.
    config = json.loads((REPO_ROOT / "cdk.json").read_text())
    assert config["app"] == "python -m infra.app"
    assert config["output"] == "cdk.out"
    assert config["context"] == _recommended_flags()


def test_cdk_cli_is_pinned_exactly():
    package = json.loads((REPO_ROOT / "package.json").read_text())
    version = package["devDependencies"]["aws-cdk"]
    assert version[0].isdigit(), "pin aws-cdk to an exact version"
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == version


def test_layer_build_does_not_load_the_cdk():
    # The runtime constants live in infra.config, which must stay cheap to import.
    code = "import sys, layers.build; assert 'aws_cdk' not in sys.modules, 'CDK imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
