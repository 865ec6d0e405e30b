"""Deployment constants shared by the layer build and the CDK app: plain data, no CDK imports.

The Lambda runtime and architecture live here and nowhere else, so the dependency layer is always
built for the platform the functions run on.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

# ---- the Lambda platform ----------------------------------------------------------------------

PYTHON_VERSION = "3.14"
RUNTIME_NAME = f"python{PYTHON_VERSION}"  # a Lambda runtime identifier
ARCHITECTURE = "arm64"  # a Lambda architecture name: "arm64" or "x86_64"

#: The wheel platform tag pip installs the layer for, derived from ARCHITECTURE.
PIP_PLATFORM = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}[ARCHITECTURE]

#: Every wheel tag the runtime can load: the python3.12+ runtimes run on Amazon Linux 2023
#: (glibc 2.34), and newer wheels (argon2-cffi-bindings 25+) ship only manylinux_2_28 tags.
PIP_PLATFORMS: tuple[str, ...] = tuple(
    PIP_PLATFORM.replace("manylinux2014", tag)
    for tag in ("manylinux2014", "manylinux_2_28", "manylinux_2_34")
)

#: Packages the Lambda Python runtime already ships; the layer leaves them out (with whatever
#: only they need). aws-xray-sdk requires botocore: the runtime's copy serves it.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")

MB = 1024 * 1024
#: Lambda quotas: function code plus all its layers, unzipped; a zip uploaded directly.
UNZIPPED_LIMIT_BYTES = 250 * MB
ZIPPED_LIMIT_BYTES = 50 * MB

#: The shared layer's own budget, zipped (issue 13): what every function downloads and unpacks.
SHARED_LAYER_ZIPPED_BUDGET_BYTES = 15 * MB

#: Locked dependencies that no function imports, left out of every layer: pycparser is cffi's C
#: header parser (argon2's bindings are compiled ahead of time and load only ``_cffi_backend``);
#: dnspython serves email-validator's deliverability check, which shared.users and pydantic's
#: ``EmailStr`` turn off (``check_deliverability=False``).
NEVER_IMPORTED = ("pycparser", "dnspython")


@dataclass(frozen=True)
class PackageLayer:
    """A package only some functions import, in a layer of its own (with whatever only it pulls
    in) instead of the shared one: the CDK app attaches it to the functions whose code can import
    ``module`` (``infra.imports``), and to no other."""

    name: str  # its build folder, beside the shared layer's
    distribution: str  # its root in uv.lock
    module: str  # the top-level module a function imports
    description: str


PACKAGE_LAYERS: tuple[PackageLayer, ...] = (
    PackageLayer("pdf-layer", "pypdf", "pypdf", "Stratus PDF text extraction: pypdf"),
    PackageLayer("migrations-layer", "alembic", "alembic", "Stratus migrations: Alembic, Mako"),
)

DEFAULT_LAYER_DIR = REPO_ROOT / "build" / "layer"
#: Beside the layers: the sizes ``make layer`` measured (the benchmark's budget check reads them).
SIZES_FILE = "layer-sizes.json"
#: The static embedder's layer (numpy, tokenizers, safetensors and the model's two files), beside
#: the shared layer; only the functions that embed text get it, and only with ``embedder=static``.
EMBEDDER_LAYER_NAME = "embedder-layer"

METRICS_NAMESPACE = "Stratus"


def metrics_namespace(stage: str) -> str:
    """The CloudWatch namespace of one stage's business metrics: ``Stratus/<stage>``."""
    return f"{METRICS_NAMESPACE}/{stage}"


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
    retain_data: bool  # keep data on delete; in prod also the database's deletion protection
    db_instance_type: str  # an RDS instance class without the ``db.`` prefix
    db_allocated_storage_gb: int
    db_max_allocated_storage_gb: int  # storage autoscaling ceiling
    db_multi_az: bool
    cache_node_type: str  # an ElastiCache node type
    cache_nodes: int  # 1: a single primary; 2 or more: a replica and automatic failover
    # A WAF web ACL in front of the API: its rate rule blocks an IP past waf_rate_limit requests
    # in 5 minutes (WAF's minimum is 10).
    waf_enabled: bool = False
    waf_rate_limit: int = 2000
    # The database connections alarm: about 80 % of Postgres' default max_connections for the
    # instance class (LEAST(memory / 9531392, 5000)).
    db_connections_alarm: int = 60
    # Postgres' max_connections for the instance class (its default, LEAST(DBInstanceClassMemory
    # / 9531392, 5000)): the connection budget the workers' concurrency is checked against.
    db_max_connections: int = 75
    # The vector store: "serverless" (an OpenSearch Serverless collection, the default),
    # "domain" (a managed OpenSearch domain of these nodes) or "pgvector" (the RDS database
    # itself, no OpenSearch at all); ``-c vector_engine=`` overrides it.
    vector_engine: str = "serverless"
    vector_domain_nodes: int = 1
    vector_domain_instance_type: str = "t3.small.search"
    vector_domain_volume_gb: int = 10
    # Embeddings: "bedrock" (Titan Text Embeddings V2) or "static" (the static WordLlama model
    # in its own layer, no Bedrock); ``-c embedder=`` overrides it.
    embedder: str = "bedrock"
    # Disaster recovery: the second region that holds the buckets' replicas and copies of the
    # backups (None: no second region); ``-c dr_region=<region>|none`` overrides it.
    dr_region: str | None = None
    # A read replica of the database that the read paths which tolerate lag use (lists, search).
    db_read_replica: bool = False
    # AWS Backup restores the database from its latest recovery point every week, and a
    # function validates the restored copy (docs/operations/disaster-recovery.md).
    restore_testing: bool = False


STAGES: dict[str, StageConfig] = {
    "dev": StageConfig(
        "dev",
        log_retention_days=14,
        api_rate_limit=50,
        api_burst_limit=100,
        retain_data=False,
        db_instance_type="t4g.micro",
        db_allocated_storage_gb=20,
        db_max_allocated_storage_gb=50,
        db_multi_az=False,
        cache_node_type="cache.t4g.micro",
        cache_nodes=1,
    ),
    "prod": StageConfig(
        "prod",
        log_retention_days=90,
        api_rate_limit=500,
        api_burst_limit=1000,
        retain_data=True,
        db_instance_type="m7g.large",
        db_allocated_storage_gb=100,
        db_max_allocated_storage_gb=500,
        db_multi_az=True,
        cache_node_type="cache.m7g.large",
        cache_nodes=2,
        waf_enabled=True,
        waf_rate_limit=2000,
        db_connections_alarm=700,
        db_max_connections=875,
        vector_domain_nodes=2,
        vector_domain_instance_type="r7g.large.search",
        vector_domain_volume_gb=50,
        dr_region="us-west-2",
        db_read_replica=True,
        restore_testing=True,
    ),
}
DEFAULT_STAGE = "dev"


#: RDS Proxy may open this percentage of max_connections; the rest stays free for rotation and
#: an engineer's session.
PROXY_MAX_CONNECTIONS_PERCENT = 90
#: The queue workers that use Postgres may hold together at most this share of what the proxy
#: may open (each holds DATABASE_POOL_SIZE, 1, per concurrent invocation); the rest is the API's.
WORKER_CONNECTION_SHARE = 0.5


def worker_connection_budget(stage: StageConfig) -> int:
    """How many database connections the queue workers may hold together in ``stage``."""
    proxy = stage.db_max_connections * PROXY_MAX_CONNECTIONS_PERCENT // 100
    return int(proxy * WORKER_CONNECTION_SHARE)


class ConfigurationError(Exception):
    """The app cannot be synthesized as asked; the message says what to do."""


#: The stage settings a deployer may choose with ``-c key=value``, and their allowed values.
CHOICES: dict[str, tuple[str, ...]] = {
    "vector_engine": ("serverless", "domain", "pgvector"),
    "embedder": ("bedrock", "static"),
}


#: An AWS region name (``us-east-1``, ``eu-central-2``, ``us-gov-west-1``).
REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-[0-9]")


def recovery_region(value: object, stage: StageConfig) -> str | None:
    """``-c dr_region=``: a region, or ``none`` for no second region; unset: the stage's."""
    if value is None or value == "":
        return stage.dr_region
    text = str(value).strip().lower()
    if text == "none":
        return None
    if not REGION.fullmatch(text):
        raise ConfigurationError(f"-c dr_region={value}: use a region name (us-west-2) or none")
    return text


def stage_config(name: str, choices: Mapping[str, object] | None = None) -> StageConfig:
    """The configuration of environment ``name`` (``-c env=<name>``), with the deployer's
    ``choices`` (context values for the keys of :data:`CHOICES`) applied."""
    try:
        stage = STAGES[name]
    except KeyError:
        known = ", ".join(sorted(STAGES))
        raise ConfigurationError(f"unknown environment {name!r}: use -c env=<{known}>") from None
    chosen: dict[str, Any] = {}
    for key, value in (choices or {}).items():
        if value is None or value == "":
            continue
        if key not in CHOICES or str(value) not in CHOICES[key]:
            allowed = "|".join(CHOICES.get(key, ()))
            raise ConfigurationError(f"-c {key}={value}: use -c {key}=<{allowed}>")
        chosen[key] = str(value)
    return replace(stage, **chosen)
