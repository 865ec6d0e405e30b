"""The CDK app: ``npx cdk synth [-c env=prod] [-c layer_dir=build/layer]`` runs this module.

Everything is derived from the function registry (``functions/registry.py``); tests build the
app from a registry of their own with :func:`build_app`.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from functions.registry import Registry, discover
from infra import nag
from infra.components.function import check_layer_dir
from infra.config import (
    CHOICES,
    DEFAULT_LAYER_DIR,
    DEFAULT_STAGE,
    REPO_ROOT,
    ConfigurationError,
    recovery_region,
    stage_config,
)
from infra.stacks import ApiStack, RecoveryStack, StatefulStack


def cdk_json_context() -> dict[str, Any]:
    """The context of ``cdk.json`` (feature flags above all), so an app built without the CLI,
    in tests or by ``python -m infra.app``, synthesizes exactly what the CLI would."""
    with (REPO_ROOT / "cdk.json").open() as file:
        context: dict[str, Any] = json.load(file).get("context", {})
    return context


def stack_names(env: str) -> tuple[str, str]:
    """The stateful and API stack names of environment ``env``."""
    return f"stratus-{env}-stateful", f"stratus-{env}-api"


def recovery_stack_name(env: str) -> str:
    """The name of environment ``env``'s stack in its recovery region."""
    return f"stratus-{env}-recovery"


def add_stacks(
    app: cdk.App,
    *,
    registry: Registry,
    env: str,
    layer_dir: Path,
    aws_env: cdk.Environment | None = None,
) -> tuple[StatefulStack, ApiStack]:
    """Add environment ``env``'s stacks for ``registry`` to ``app``."""
    stage = stage_config(env, {key: app.node.try_get_context(key) for key in CHOICES})
    stage = replace(stage, dr_region=recovery_region(app.node.try_get_context("dr_region"), stage))
    check_layer_dir(layer_dir)
    stateful_name, api_name = stack_names(env)
    recovery = None
    if stage.dr_region:
        primary = aws_env.region if aws_env else None
        if primary == stage.dr_region:
            raise ConfigurationError(
                f"the recovery region {stage.dr_region} is the primary region:"
                " choose another with -c dr_region=<region> (or none)"
            )
        recovery = RecoveryStack(
            app,
            recovery_stack_name(env),
            stage=stage,
            buckets=registry.buckets,
            env=cdk.Environment(
                account=aws_env.account if aws_env else None, region=stage.dr_region
            ),
            description=f"Stratus {env}: replicas of the buckets and copies of the backups",
        )
    stateful = StatefulStack(
        app,
        stateful_name,
        stage=stage,
        buckets=registry.buckets,
        secrets=registry.secrets,
        needs={kind for entry in registry for kind in entry.function.need_kinds},
        env=aws_env,
        description=f"Stratus {env}: network, database, cache, buckets and secrets",
    )
    if recovery is not None:  # its replicas and vault must exist before anything points at them
        stateful.add_stack_dependency(recovery)
    api = ApiStack(
        app,
        api_name,
        registry=registry,
        stage=stage,
        layer_dir=layer_dir,
        resources=stateful.resources,
        env=aws_env,
        description=f"Stratus {env}: functions, API, queues and schedules",
    )
    # RDS Proxy target groups take no tags (CloudFormation's schema), though CDK would add them.
    untaggable = ["AWS::RDS::DBProxyTargetGroup"]
    stacks: dict[nag.StackKind, cdk.Stack] = {"stateful": stateful, "api": api}
    if recovery is not None:
        stacks["recovery"] = recovery
    for stack in stacks.values():
        cdk.Tags.of(stack).add("project", "stratus", exclude_resource_types=untaggable)
        cdk.Tags.of(stack).add("environment", env, exclude_resource_types=untaggable)
    nag.check(app, stage=stage, stacks=stacks)
    return stateful, api


def build_app(
    *,
    registry: Registry,
    env: str = DEFAULT_STAGE,
    layer_dir: Path = DEFAULT_LAYER_DIR,
    outdir: str | None = None,
    context: dict[str, Any] | None = None,
) -> cdk.App:
    """A synthesizable app for ``registry``: what tests use instead of the CLI. ``context``
    adds to (or overrides) cdk.json's, as ``-c key=value`` does."""
    app = cdk.App(outdir=outdir, context={**cdk_json_context(), **(context or {})})
    add_stacks(app, registry=registry, env=env, layer_dir=layer_dir)
    return app


def main() -> None:
    # Context given to the CLI (-c) or in cdk.json takes precedence over the constructor's.
    app = cdk.App(context=cdk_json_context())
    env = str(app.node.try_get_context("env") or DEFAULT_STAGE)
    layer_dir = Path(app.node.try_get_context("layer_dir") or DEFAULT_LAYER_DIR)
    if not layer_dir.is_absolute():
        layer_dir = REPO_ROOT / layer_dir
    # Environment-agnostic unless the CLI resolved an account and region from credentials.
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    aws_env = cdk.Environment(account=account, region=region) if account and region else None
    try:
        add_stacks(app, registry=discover(), env=env, layer_dir=layer_dir, aws_env=aws_env)
    except ConfigurationError as exc:
        raise SystemExit(f"error: {exc}") from None
    app.synth()


if __name__ == "__main__":
    main()
