"""The dependency layer, and the one construct that makes every Lambda function the same way."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.grants import base_environment
from functions.registry import Entry
from infra.components.access import SharedResources, grant, placement
from infra.components.retention import LOG_RETENTION
from infra.config import (
    ARCHITECTURE,
    RUNTIME_NAME,
    ConfigurationError,
    PackageLayer,
    StageConfig,
    metrics_namespace,
    project_version,
)

# The runtime and architecture come from infra.config, which the layer build reads too.
_runtimes = [r for r in lambda_.Runtime.ALL if r.name == RUNTIME_NAME]
if not _runtimes:
    raise ConfigurationError(f"aws-cdk-lib does not know the Lambda runtime {RUNTIME_NAME}")
RUNTIME = _runtimes[0]
ARCH = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}[ARCHITECTURE]


def check_layer_dir(directory: Path) -> None:
    """Fail early, and say how to fix it, when the layer has not been built."""
    if not (directory / "python").is_dir():
        raise ConfigurationError(
            f"the Lambda layer is not built: {directory}/python does not exist."
            " Run `make layer` (or pass -c layer_dir=<a built layer directory>)."
        )


def _layer(scope: Construct, directory: Path, description: str) -> lambda_.LayerVersion:
    return lambda_.LayerVersion(
        scope,
        "Layer",
        code=lambda_.Code.from_asset(str(directory)),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCH],
        description=description,
    )


class DependencyLayer(Construct):
    """The layer every function uses: locked dependencies and ``shared/`` (``make layer``)."""

    def __init__(self, scope: Construct, id_: str, *, directory: Path) -> None:
        super().__init__(scope, id_)
        check_layer_dir(directory)
        self.layer = _layer(self, directory, "Stratus runtime dependencies and the shared package")


class EmbedderLayer(Construct):
    """The static embedder's layer (``make layer``: numpy, tokenizers, safetensors and the
    model's files), for the functions that embed text when the stage uses ``embedder=static``:
    the shared layer stays without numpy."""

    def __init__(self, scope: Construct, id_: str, *, directory: Path) -> None:
        super().__init__(scope, id_)
        if not (directory / "python").is_dir():
            raise ConfigurationError(
                f"-c embedder=static needs the embedder layer: {directory}/python does not"
                " exist. Run `make layer`."
            )
        self.layer = _layer(
            self, directory, "Stratus static embedder: numpy, tokenizers, safetensors, WordLlama"
        )


class PackageLayerConstruct(Construct):
    """A package layer (``infra.config.PACKAGE_LAYERS``, ``make layer``): a package only some
    functions import (pypdf, alembic), kept out of the shared layer."""

    def __init__(self, scope: Construct, id_: str, *, layer: PackageLayer, directory: Path) -> None:
        super().__init__(scope, id_)
        if not (directory / "python").is_dir():
            raise ConfigurationError(
                f"the {layer.name} is not built: {directory}/python does not exist."
                " Run `make layer`."
            )
        self.package = layer
        self.layer = _layer(self, directory, layer.description)


#: The alias every trigger invokes: the function's latest published version.
LIVE_ALIAS = "live"


class StratusFunction(Construct):
    """One declared function: runtime, architecture, layer, tracing, JSON logs with retention,
    sizing from its declaration, and an environment variable plus a grant for each need.

    A function the declaration marks for SnapStart (``Function.snap_start``: every kind but the
    deploy job, which runs once per deploy) gets it on its published versions, and a version
    behind the ``live`` alias; :attr:`invocable` is what its triggers must invoke (the alias,
    since SnapStart applies to published versions only, never to ``$LATEST``)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        entry: Entry,
        stage: StageConfig,
        layer: lambda_.ILayerVersion,
        resources: SharedResources,
        extra_layers: tuple[lambda_.ILayerVersion, ...] = (),
    ) -> None:
        super().__init__(scope, id_)
        declaration = entry.function
        self.entry = entry
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=LOG_RETENTION[stage.log_retention_days],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # Only functions that need Postgres or Redis run in the VPC (cold starts, endpoints).
        network = placement(declaration.needs, resources, self.node.path)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCH,
            code=lambda_.Code.from_asset(str(entry.folder), exclude=["__pycache__", "*.pyc"]),
            handler=entry.handler_name,
            layers=[layer, *extra_layers],
            description=(declaration.description or f"Stratus {entry.name}")[:256],
            timeout=cdk.Duration.seconds(declaration.timeout_seconds),
            memory_size=declaration.memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            snap_start=(
                lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if declaration.snap_start else None
            ),
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=self.log_group,
            vpc=network.vpc if network else None,
            vpc_subnets=network.subnets if network else None,
            security_groups=network.security_groups if network else None,
            environment=base_environment(
                service=entry.service,
                stage=stage.name,
                version=project_version(),
                metrics_namespace=metrics_namespace(stage.name),
            ),
        )
        for access in declaration.needs:
            grant(self.function, access, resources, stage)
        self.alias: lambda_.Alias | None = None
        if declaration.snap_start:
            # current_version is a new version whenever the code or configuration changes; the
            # alias moves to it, and the snapshot is taken when it is published.
            self.alias = lambda_.Alias(
                self, "Live", alias_name=LIVE_ALIAS, version=self.function.current_version
            )
            cdk.Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "every deploy publishes a version (current_version) behind the live alias",
            )

    @property
    def invocable(self) -> lambda_.IFunction:
        """What a trigger invokes: the ``live`` alias with SnapStart, else the function."""
        return self.alias if self.alias is not None else self.function
