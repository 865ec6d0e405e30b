"""Deployment constants shared by the layer build and the CDK app: plain data, no CDK imports.

The Lambda runtime and architecture live here and nowhere else, so the dependency layer is always
built for the platform the functions run on.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# ---- the Lambda platform ----------------------------------------------------------------------

PYTHON_VERSION = "3.14"
RUNTIME_NAME = f"python{PYTHON_VERSION}"  # a Lambda runtime identifier
ARCHITECTURE = "arm64"  # a Lambda architecture name: "arm64" or "x86_64"

#: The wheel platform tag pip installs the layer for, derived from ARCHITECTURE.
PIP_PLATFORM = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}[ARCHITECTURE]

#: Packages the Lambda Python runtime already ships; the layer leaves them out (with whatever
#: only they need). aws-xray-sdk requires botocore: the runtime's copy serves it.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")

MB = 1024 * 1024
#: Lambda quotas: function code plus all its layers, unzipped; a zip uploaded directly.
UNZIPPED_LIMIT_BYTES = 250 * MB
ZIPPED_LIMIT_BYTES = 50 * MB

DEFAULT_LAYER_DIR = REPO_ROOT / "build" / "layer"

METRICS_NAMESPACE = "Stratus"


def project_version() -> str:
    """The version in pyproject.toml, stamped on every function as ``APP_VERSION``."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


# ---- environments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageConfig:
    """What differs between the deployed environments."""

    name: str
    log_retention_days: int  # one of CloudWatch Logs' allowed values
    api_rate_limit: int  # steady-state requests per second, whole stage
    api_burst_limit: int
    retain_data: bool  # keep buckets and secrets when the stack or resource is deleted


STAGES: dict[str, StageConfig] = {
    "dev": StageConfig(
        "dev", log_retention_days=14, api_rate_limit=50, api_burst_limit=100, retain_data=False
    ),
    "prod": StageConfig(
        "prod", log_retention_days=90, api_rate_limit=500, api_burst_limit=1000, retain_data=True
    ),
}
DEFAULT_STAGE = "dev"


class ConfigurationError(Exception):
    """The app cannot be synthesized as asked; the message says what to do."""


def stage_config(name: str) -> StageConfig:
    """The configuration of environment ``name`` (``-c env=<name>``)."""
    try:
        return STAGES[name]
    except KeyError:
        known = ", ".join(sorted(STAGES))
        raise ConfigurationError(f"unknown environment {name!r}: use -c env=<{known}>") from None
