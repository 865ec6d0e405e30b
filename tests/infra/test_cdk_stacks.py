"""The CDK app built from the real registry: what every function, the API and the stateful
stack must look like."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.gateway import BINARY_MEDIA_TYPES, GATEWAY_RESPONSES
from infra.config import ConfigurationError

pytestmark = pytest.mark.infra


def test_every_registry_entry_becomes_one_function(synthesized):
    # Given the real registry, synthesized
    # Then there is one function per entry, and no other function in the API stack
    functions = synthesized.functions()
    assert len(functions) == len(synthesized.registry.entries)
    others = {
        logical_id
        for logical_id in synthesized.resources(synthesized.api, "AWS::Lambda::Function")
        if logical_id not in functions
    }
    # The rest are CDK's own: S3 notifications, the deploy trigger's provider, and the web
    # app's deployment, its bucket's emptying on delete and, in dev (no frontend origin), the
    # uploads bucket's CORS rule for the distribution (infra/components/site.py)
    assert all(
        o.startswith(
            (
                "BucketNotificationsHandler",
                "AWSCDKTriggerCustomResourceProvider",
                "CustomCDKBucketDeployment",
                "CustomS3AutoDeleteObjectsCustomResourceProvider",
                "AWS679f53fac002430cb0da5b7982bd2287",
            )
        )
        for o in others
    ), others
    notifying = any(q.s3_bucket for _, q in synthesized.registry.queues)
    site = 3 if synthesized.registry.routes else 0
    assert len(others) == int(notifying) + int(bool(synthesized.registry.deploy_jobs)) + site
    for entry in synthesized.registry:
        synthesized.function(entry.name)


def test_health_function_is_made_the_standard_way(synthesized):
    # Given the health function's declaration
    declaration = synthesized.registry["system-health"].function
    # When its resource is read from the template
    _, resource = synthesized.function("system-health")
    props = resource["Properties"]
    # Then it runs Python 3.14 on arm64 with the layer, tracing and JSON logs
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "handler.handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    layers = synthesized.resources(synthesized.api, "AWS::Lambda::LayerVersion")
    assert props["Layers"] == [{"Ref": logical_id} for logical_id in dependency_layers(layers)]
    # And its sizing and environment come from the declaration and the stage
    assert props["Timeout"] == declaration.timeout_seconds
    assert props["MemorySize"] == declaration.memory_mb
    env = props["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "system"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Stratus/dev"
    assert env["STAGE"] == "dev"
    assert env["PYDANTIC_DISABLE_PLUGINS"] == "__all__"  # no entry-point scan at cold start
    # And it logs to its own log group, kept two weeks in dev
    log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = synthesized.resources(synthesized.api, "AWS::Logs::LogGroup")[log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 14


def dependency_layers(layers: dict) -> dict:
    """The project's layer (layers/build.py), not the AWS CLI layer of CDK's site deployment."""
    return {k: v for k, v in layers.items() if k.startswith("Dependencies")}


def test_layer_targets_the_functions_runtime(synthesized):
    layers = synthesized.resources(synthesized.api, "AWS::Lambda::LayerVersion")
    (layer,) = dependency_layers(layers).values()
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.14"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


def test_health_is_a_public_get_with_lambda_proxy_integration(synthesized):
    from aws_cdk.assertions import Match

    # Given the REST API
    made = synthesized.api_stack.functions["system-health"]
    health_alias = synthesized.api_stack.resolve(
        synthesized.api_stack.get_logical_id(made.alias.node.default_child)
    )
    resources = synthesized.resources(synthesized.api, "AWS::ApiGateway::Resource")
    (resource_id,) = [k for k, r in resources.items() if r["Properties"]["PathPart"] == "health"]
    # Then GET /health reaches the health function (its live alias) through a proxy
    # integration, with no auth
    synthesized.api.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "GET",
            "ResourceId": {"Ref": resource_id},
            "AuthorizationType": "NONE",
            "Integration": {
                "Type": "AWS_PROXY",
                "IntegrationHttpMethod": "POST",
                "Uri": Match.object_like(
                    {"Fn::Join": ["", Match.array_with([{"Ref": health_alias}])]}
                ),
            },
        },
    )


def test_api_stage_is_named_after_the_env_traced_and_throttled(synthesized):
    from aws_cdk.assertions import Match

    synthesized.api.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "dev",
            "TracingEnabled": True,
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {"ThrottlingRateLimit": Match.any_value(), "ThrottlingBurstLimit": 100}
                    )
                ]
            ),
        },
    )
    synthesized.api.has_output("ApiUrl", {})
    synthesized.api.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"BinaryMediaTypes": list(BINARY_MEDIA_TYPES)}
    )


@pytest.mark.parametrize(
    ("response_type", "status", "title"),
    [
        ("MISSING_AUTHENTICATION_TOKEN", 404, "Not Found"),
        ("UNAUTHORIZED", 401, "Unauthorized"),
        ("ACCESS_DENIED", 403, "Forbidden"),
        ("THROTTLED", 429, "Too Many Requests"),
        ("REQUEST_TOO_LARGE", 413, "Content Too Large"),
        ("DEFAULT_5XX", 500, "Internal Server Error"),
    ],
)
def test_gateway_errors_are_problem_documents(synthesized, response_type, status, title):
    # Given the gateway response API Gateway uses for this error
    found = [
        r["Properties"]
        for r in synthesized.resources(synthesized.api, "AWS::ApiGateway::GatewayResponse").values()
        if r["Properties"]["ResponseType"] == response_type
    ]
    assert len(found) == 1, response_type
    props = found[0]
    # Then the client gets an RFC 9457 problem with the right status and the request id
    assert props["StatusCode"] == str(status)
    headers = props["ResponseParameters"]
    assert headers["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
    assert headers["gatewayresponse.header.X-Request-Id"] == "context.requestId"
    body = json.loads(props["ResponseTemplates"]["application/json"])
    assert body == {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": GATEWAY_RESPONSES[response_type].detail,
        "request_id": "$context.requestId",
    }
    # And a 401 says which scheme to use
    if status == 401:
        assert headers["gatewayresponse.header.WWW-Authenticate"] == "'Bearer'"


def test_buckets_are_private_encrypted_versioned_and_tls_only(synthesized):
    from aws_cdk.assertions import Match

    buckets = synthesized.resources(synthesized.stateful, "AWS::S3::Bucket")
    assert len(buckets) == len(synthesized.registry.buckets) > 0
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        synthesized.stateful.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": logical_id},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_only_the_stateful_stack_is_termination_protected(synthesized):
    assert synthesized.stateful_artifact.termination_protection is True
    assert not synthesized.api_artifact.termination_protection


def test_synth_reports_no_warning_or_error(synthesized):
    # Email and vectors are the known, acknowledged gaps; the database and cache are provisioned.
    assert synthesized.problems() == []


def test_unbuilt_layer_fails_with_a_hint(synthesized, tmp_path: Path):
    from infra.app import build_app

    with pytest.raises(ConfigurationError, match="make layer"):
        build_app(registry=synthesized.registry, layer_dir=tmp_path / "missing")


def test_unknown_env_is_refused(synthesized, layer_dir: Path):
    from infra.app import build_app

    with pytest.raises(ConfigurationError, match="unknown environment 'staging'"):
        build_app(registry=synthesized.registry, env="staging", layer_dir=layer_dir)


@pytest.fixture(scope="module")
def prod(synthesized_prod):
    return synthesized_prod


def test_prod_keeps_its_data_and_logs_longer(prod):
    # Given the prod environment (-c env=prod)
    # Then its buckets survive the deletion of their stack or resource
    for bucket in prod.resources(prod.stateful, "AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"
        assert bucket["UpdateReplacePolicy"] == "Retain"
    assert prod.stateful_artifact.termination_protection is True
    # And its functions log for three months to a stage named prod
    for log_group in prod.resources(prod.api, "AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["RetentionInDays"] == 90
    _, health = prod.function("system-health")
    assert health["Properties"]["Environment"]["Variables"]["STAGE"] == "prod"
    (stage,) = prod.resources(prod.api, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == "prod"
