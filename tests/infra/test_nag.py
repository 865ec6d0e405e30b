"""cdk-nag's AwsSolutions pack: nothing reported without a written reason, in dev and prod.

The pack runs in every synth of :func:`infra.app.build_app` (``infra/nag.py``); CDK writes what it
found, suppressed findings with their reasons included, to ``validation-report.json`` in the
cloud assembly, which these tests read as plain JSON."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import stage_config
from infra.nag import MIN_REASON_LENGTH, PACK, SUPPRESSIONS, Suppression
from tests.infra.synth import Synthesized, synthesize

pytestmark = pytest.mark.infra

#: Rules that report one finding per managed policy or wildcard: a suppression names them.
GRANULAR_RULES = {"AwsSolutions-IAM4", "AwsSolutions-IAM5"}


def _pack_report(outdir: Path) -> dict[str, Any] | None:
    """The AwsSolutions part of the validation report in ``outdir``, None when it did not run."""
    report = json.loads((outdir / "validation-report.json").read_text())
    reports = [r for r in report["pluginReports"] if r["pluginName"] == PACK]
    return reports[0] if reports else None


def _report(synth: Synthesized) -> dict[str, Any]:
    report = _pack_report(Path(synth.api_artifact.assembly.directory))
    assert report is not None, "the AwsSolutions pack did not run"
    return report


def _findings(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['ruleName']} at {c['constructPath']}"
        for v in violations
        for c in v["violatingConstructs"]
    ]


# ---- the real app ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def choices(
    synthesized: Synthesized, layer_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[Synthesized]:
    """dev with each deployer's choice that a suppression is written for (-c vector_engine=...)."""
    chosen = sorted({s.choice for s in SUPPRESSIONS if s.choice is not None})
    return [
        synthesize(
            synthesized.registry,
            layer_dir=layer_dir,
            outdir=tmp_path_factory.mktemp(f"cdk.out.{key}.{value}"),
            context={key: value},
        )
        for key, value in chosen
    ]


def test_nothing_is_reported_without_a_reason_in_dev_or_prod(
    synthesized: Synthesized, synthesized_prod: Synthesized, choices: list[Synthesized]
):
    # Given both environments, and dev with the deployer's choices, synthesized with the pack on
    for synth in (synthesized, synthesized_prod, *choices):
        report = _report(synth)
        # Then the pack found things, and every one of them was acknowledged: no error, no warning
        assert report["suppressedViolations"], "the pack reported nothing at all"
        assert _findings(report["violations"]) == []
        assert report["conclusion"] == "success"


def test_every_suppressed_finding_carries_the_reason_written_in_nag_py(
    synthesized: Synthesized, synthesized_prod: Synthesized, choices: list[Synthesized]
):
    reasons = {s.reason for s in SUPPRESSIONS}
    for synth in (synthesized, synthesized_prod, *choices):
        for finding in _report(synth)["suppressedViolations"]:
            # Then each was acknowledged for its own rule, with one of our written reasons
            assert finding["acknowledgedId"] == f"{PACK}::{finding['ruleName']}"
            assert finding["reason"] in reasons, finding["ruleName"]


def test_every_suppression_is_specific_justified_and_still_needed(
    synthesized: Synthesized, synthesized_prod: Synthesized, choices: list[Synthesized]
):
    used = {
        (finding["ruleName"].partition("[")[0], finding["reason"])
        for synth in (synthesized, synthesized_prod, *choices)
        for finding in _report(synth)["suppressedViolations"]
    }
    for suppression in SUPPRESSIONS:
        where = f"{suppression.rule} at {suppression.paths}"
        # A reason of real length (cdk-nag itself asks for 10 characters)
        assert len(suppression.reason) >= MIN_REASON_LENGTH, where
        assert suppression.rule.startswith(f"{PACK}-"), where
        assert suppression.paths, where
        # A granular rule names the managed policy or wildcard it accepts
        assert bool(suppression.findings) == (suppression.rule in GRANULAR_RULES), where
        # And no suppression outlives its finding
        assert (suppression.rule, suppression.reason) in used, f"unused: {where}"


def test_the_fixes_that_replace_suppressions(
    synthesized: Synthesized, synthesized_prod: Synthesized
):
    for synth in (synthesized, synthesized_prod):
        # The VPC's rejected traffic goes to a flow log kept 90 days
        (flow_log,) = synth.resources(synth.stateful, "AWS::EC2::FlowLog").values()
        assert flow_log["Properties"]["ResourceType"] == "VPC"
        assert flow_log["Properties"]["TrafficType"] == "REJECT"
        # The API stage logs execution errors, into a group with a retention made before it
        (stage,) = synth.resources(synth.api, "AWS::ApiGateway::Stage").values()
        (settings,) = stage["Properties"]["MethodSettings"]
        assert settings["LoggingLevel"] == "ERROR"
        assert settings["DataTraceEnabled"] is False
        groups = synth.resources(synth.api, "AWS::Logs::LogGroup")
        (execution_logs,) = [
            logical_id
            for logical_id, group in groups.items()
            if "API-Gateway-Execution-Logs_" in json.dumps(group["Properties"].get("LogGroupName"))
        ]
        assert groups[execution_logs]["Properties"]["RetentionInDays"] > 0
        assert execution_logs in stage["DependsOn"]


# ---- the pack itself, on small apps -------------------------------------------------------------


def _small_app(outdir: Path, *, context: dict[str, Any] | None = None) -> tuple[Any, Any]:
    import aws_cdk as cdk

    from infra.app import cdk_json_context

    app = cdk.App(outdir=str(outdir), context={**cdk_json_context(), **(context or {})})
    return app, cdk.Stack(app, "stratus-test-api")


def test_a_new_unjustified_finding_fails_the_synth_and_is_reported(tmp_path: Path):
    from aws_cdk import aws_sqs as sqs

    from infra import nag

    # Given a stack with a queue that is unencrypted, has no dead-letter queue and allows plain HTTP
    app, stack = _small_app(tmp_path)
    sqs.Queue(stack, "Queue", encryption=sqs.QueueEncryption.UNENCRYPTED)
    nag.check(app, stage=stage_config("dev"), stacks={"api": stack})
    # When it is synthesized, then the synth fails on the pack's errors
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    # And the report names each finding, none of them suppressed
    report = _pack_report(tmp_path)
    assert report is not None
    assert report["conclusion"] == "failure"
    findings = _findings(report["violations"])
    for rule in ("SQS2", "SQS3", "SQS4"):
        assert f"AwsSolutions-{rule} at stratus-test-api/Queue/Resource" in findings
    assert not report.get("suppressedViolations")


def test_a_suppression_is_as_narrow_as_its_reason(tmp_path: Path):
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_lambda as lambda_
    from constructs import Construct

    from infra import nag
    from infra.components.function import RUNTIME

    # Given two traced functions made as StratusFunction names them; one may also send any email
    app, stack = _small_app(tmp_path)
    functions = {}
    for name in ("TracedFunction", "MailerFunction"):
        functions[name] = lambda_.Function(
            Construct(stack, name),
            "Function",
            runtime=RUNTIME,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
            tracing=lambda_.Tracing.ACTIVE,
        )
    functions["MailerFunction"].add_to_role_policy(
        iam.PolicyStatement(actions=["ses:SendEmail"], resources=["*"])
    )
    nag.check(app, stage=stage_config("dev"), stacks={"api": stack})
    # When synthesized, then the synth fails on the mailer's wildcard
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = _pack_report(tmp_path)
    assert report is not None
    # For X-Ray's '*' is accepted where it is the only '*', and SES on '*' is reported
    wildcard = "AwsSolutions-IAM5[Resource::*]"
    policy = "Function/ServiceRole/DefaultPolicy/Resource"
    assert _findings(report["violations"]) == [
        f"{wildcard} at stratus-test-api/MailerFunction/{policy}"
    ]
    assert f"{wildcard} at stratus-test-api/TracedFunction/{policy}" in _findings(
        report["suppressedViolations"]
    )


def test_the_nag_context_flag_turns_the_pack_off(tmp_path: Path):
    from aws_cdk import aws_sqs as sqs

    from infra import nag

    # Given -c nag=false
    app, stack = _small_app(tmp_path, context={"nag": "false"})
    sqs.Queue(stack, "Queue", encryption=sqs.QueueEncryption.UNENCRYPTED)
    # Then the pack is not registered and the synth goes through
    assert nag.check(app, stage=stage_config("dev"), stacks={"api": stack}) is None
    app.synth()
    assert not (tmp_path / "validation-report.json").exists() or _pack_report(tmp_path) is None


@pytest.mark.parametrize(
    ("path", "matched"),
    [
        ("UsersGetFunction/Function/ServiceRole/Resource", True),
        ("Nested/UsersGetFunction/Function/ServiceRole/Resource", False),  # * stops at /
        ("UsersGetFunction/Function/ServiceRole/DefaultPolicy/Resource", False),
    ],
)
def test_a_suppression_matches_its_rule_finding_stack_path_env_and_choice(path: str, matched: bool):
    dev, prod = stage_config("dev"), stage_config("prod")
    suppression = Suppression(
        "AwsSolutions-IAM4",
        "api",
        ("*Function/Function/ServiceRole/Resource",),
        "a reason long enough to be a reason, for the test",
        findings=("Policy::x",),
        envs=("dev",),
    )
    found = {"rule": "AwsSolutions-IAM4", "finding": "Policy::x", "stack": "api", "path": path}
    assert suppression.matches(**found, stage=dev) is matched
    # The finding, the stack and the environment must match too
    assert not suppression.matches(**{**found, "finding": "Policy::y"}, stage=dev)
    assert not suppression.matches(**{**found, "stack": "stateful"}, stage=dev)
    assert not suppression.matches(**found, stage=prod)
    # And so must the deployer's choice, when the suppression names one
    domain_only = dataclasses.replace(suppression, choice=("vector_engine", "domain"))
    assert not domain_only.matches(**found, stage=dev)
    chosen = stage_config("dev", {"vector_engine": "domain"})
    assert domain_only.matches(**found, stage=chosen) is matched
