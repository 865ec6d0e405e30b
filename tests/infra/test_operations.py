"""Operations on the synthesized templates: alarms and the dashboard, backups, the WAF in prod,
the API's access logs, CORS, usage plan and timeouts."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest

from infra.components.api import CORS_EXPOSE_HEADERS, INTEGRATION_TIMEOUT_SECONDS
from infra.config import stage_config
from tests.infra.conftest import FRONTEND_ORIGIN
from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def prod(synthesized_prod: Synthesized) -> Synthesized:
    """Prod, as deployed: with the frontend's origin and an alarm email given as context."""
    return synthesized_prod


def _alarms(synth: Synthesized) -> list[dict[str, Any]]:
    return [r["Properties"] for r in synth.resources(synth.api, "AWS::CloudWatch::Alarm").values()]


def _single_metric_alarms(synth: Synthesized, namespace: str, metric: str) -> list[dict[str, Any]]:
    return [
        a
        for a in _alarms(synth)
        if a.get("Namespace") == namespace and a.get("MetricName") == metric
    ]


def _ref(synth: Synthesized, construct: Any) -> dict[str, str]:
    stack = cdk.Stack.of(construct)  # the API stack, or a nested stack of it
    return {"Ref": stack.resolve(stack.get_logical_id(construct))}


# ---- monitoring -----------------------------------------------------------------------------


def test_alarm_topic_is_encrypted_and_tls_only(synthesized: Synthesized, prod: Synthesized):
    # Given both environments
    for synth in (synthesized, prod):
        # Then one alarm topic, under a KMS key, accepts publishing over TLS only
        (topic,) = synth.resources(synth.api, "AWS::SNS::Topic").values()
        assert "KmsMasterKeyId" in topic["Properties"]
        (policy,) = synth.resources(synth.api, "AWS::SNS::TopicPolicy").values()
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )
        # And every alarm notifies it, treating missing data as healthy
        topic_ref = _ref(synth, synth.api_stack.monitoring.topic.node.default_child)
        for alarm in _alarms(synth):
            assert alarm["AlarmActions"] == [topic_ref]
            assert alarm["TreatMissingData"] == "notBreaching"
    # And the email subscription exists only when alarm_email is given
    assert not synthesized.resources(synthesized.api, "AWS::SNS::Subscription")
    (subscription,) = prod.resources(prod.api, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"


def test_every_function_alarms_on_errors_and_throttles(synthesized: Synthesized):
    # Given the dev environment
    # Then each function has one Errors and one Throttles alarm, firing on the first one
    for metric in ("Errors", "Throttles"):
        alarms = _single_metric_alarms(synthesized, "AWS/Lambda", metric)
        alarmed = [synthesized.dereference(a["Dimensions"][0]["Value"]) for a in alarms]
        expected = [
            _ref(synthesized, f.function.node.default_child)
            for f in synthesized.api_stack.functions.values()
        ]
        assert sorted(map(json.dumps, alarmed)) == sorted(map(json.dumps, expected)), metric
        for alarm in alarms:
            assert alarm["Threshold"] == 0
            assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
            assert alarm["Statistic"] == "Sum"


def test_every_dead_letter_queue_alarms_on_its_first_message(synthesized: Synthesized):
    # Given the dev environment
    # Then each dead-letter queue (and no work queue) alarms when one message is visible
    alarms = _single_metric_alarms(synthesized, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    queues = synthesized.api_stack.queues.values()
    assert queues, "the registry declares worker queues"
    assert len(alarms) == len(queues)
    expected = {
        json.dumps(
            synthesized.api_stack.resolve(
                q.dead_letter_queue.node.default_child.get_att("QueueName")
            )
        )
        for q in queues
    }
    assert {json.dumps(a["Dimensions"][0]["Value"]) for a in alarms} == expected
    for alarm in alarms:
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_the_outbox_alarms_on_a_stuck_effect_and_an_old_backlog(synthesized: Synthesized):
    from infra.components.monitoring import OUTBOX_BACKLOG_AGE_SECONDS

    # Given the dev environment, whose relay emits its metrics under its service name
    service = synthesized.registry["system-outbox-relay"].service
    # Then one alarm fires on the first stuck effect, one on a backlog older than 15 minutes
    (stuck,) = _single_metric_alarms(synthesized, "Stratus/dev", "OutboxStuck")
    (age,) = _single_metric_alarms(synthesized, "Stratus/dev", "OutboxOldestPendingAge")
    for alarm in (stuck, age):
        assert alarm["Dimensions"] == [{"Name": "service", "Value": service}]
        assert alarm["Statistic"] == "Maximum"
    assert (stuck["Threshold"], stuck["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert (age["Threshold"], age["ComparisonOperator"]) == (
        OUTBOX_BACKLOG_AGE_SECONDS,
        "GreaterThanThreshold",
    )


def test_api_alarms_on_5xx_rate_and_p99_latency(synthesized: Synthesized):
    # Given the dev environment
    alarms = _alarms(synthesized)
    # Then the 5XX rate is a math expression of 5XXError over Count, alarming above 1 %
    (rate,) = [a for a in alarms if any("Expression" in m for m in a.get("Metrics", []))]
    assert rate["Threshold"] == 1
    assert rate["ComparisonOperator"] == "GreaterThanThreshold"
    (expression,) = [m["Expression"] for m in rate["Metrics"] if "Expression" in m]
    assert "100 * errors / requests" in expression
    by_id = {m["Id"]: m for m in rate["Metrics"]}
    assert by_id["errors"]["MetricStat"]["Metric"]["MetricName"] == "5XXError"
    assert by_id["requests"]["MetricStat"]["Metric"]["MetricName"] == "Count"
    assert by_id["errors"]["MetricStat"]["Period"] == 300
    # And p99 latency alarms above 3 s
    (latency,) = _single_metric_alarms(synthesized, "AWS/ApiGateway", "Latency")
    assert latency["ExtendedStatistic"] == "p99"
    assert latency["Threshold"] == 3000


def test_database_and_redis_alarms(prod: Synthesized):
    # Given prod, whose Redis has a replica
    # Then the database alarms on CPU and connections, and every Redis node on its memory
    assert len(_single_metric_alarms(prod, "AWS/RDS", "CPUUtilization")) == 1
    (connections,) = _single_metric_alarms(prod, "AWS/RDS", "DatabaseConnections")
    assert connections["Threshold"] == stage_config("prod").db_connections_alarm
    memory = _single_metric_alarms(prod, "AWS/ElastiCache", "DatabaseMemoryUsagePercentage")
    assert len(memory) == stage_config("prod").cache_nodes


def test_dashboard_shows_the_api_and_every_function(synthesized: Synthesized):
    # Given the dev environment
    (dashboard,) = synthesized.resources(synthesized.api, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    # Then it graphs the API and each function
    assert "5XXError" in body and "Latency" in body
    for name in synthesized.api_stack.functions:
        assert f"{name}: invocations" in body


# ---- backups --------------------------------------------------------------------------------


def test_backup_plan_is_daily_and_keeps_30_days(synthesized: Synthesized, prod: Synthesized):
    for synth in (synthesized, prod):
        # Given either environment
        # Then one plan has a daily rule whose recovery points are deleted after 30 days
        # (beside its continuous one: tests/infra/test_recovery.py)
        (plan,) = synth.resources(synth.stateful, "AWS::Backup::BackupPlan").values()
        rules = {r["RuleName"]: r for r in plan["Properties"]["BackupPlan"]["BackupPlanRule"]}
        assert set(rules) == {"continuous", "daily"}
        rule = rules["daily"]
        assert rule["Lifecycle"] == {"DeleteAfterDays": 30}
        assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"
        # And the vault is encrypted with a KMS key of the stack
        (vault,) = synth.resources(synth.stateful, "AWS::Backup::BackupVault").values()
        assert "Fn::GetAtt" in vault["Properties"]["EncryptionKeyArn"]


def test_backup_selects_the_versioned_buckets_and_the_database(synthesized: Synthesized):
    # Given the dev environment
    stateful = synthesized.stateful_artifact.template["Resources"]
    (selection,) = synthesized.resources(
        synthesized.stateful, "AWS::Backup::BackupSelection"
    ).values()
    resources = json.dumps(selection["Properties"]["BackupSelection"]["Resources"])
    # Then every bucket is selected, and is versioned, as S3 backups require
    buckets = synthesized.resources(synthesized.stateful, "AWS::S3::Bucket")
    assert buckets
    for logical_id, bucket in buckets.items():
        assert logical_id in resources
        assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    # And so is the database
    (database,) = [k for k, r in stateful.items() if r["Type"] == "AWS::RDS::DBInstance"]
    assert database in resources
    # And the backup role may back up and restore S3
    role_policies = json.dumps(
        [
            r["Properties"].get("ManagedPolicyArns")
            for r in stateful.values()
            if r["Type"] == "AWS::IAM::Role"
        ]
    )
    assert "AWSBackupServiceRolePolicyForS3Backup" in role_policies
    assert "AWSBackupServiceRolePolicyForS3Restore" in role_policies


# ---- WAF ------------------------------------------------------------------------------------


def test_waf_guards_the_prod_stage_only(synthesized: Synthesized, prod: Synthesized):
    # Given dev: no web ACL
    assert not synthesized.resources(synthesized.api, "AWS::WAFv2::WebACL")
    assert not synthesized.resources(synthesized.api, "AWS::WAFv2::WebACLAssociation")
    # Given prod: a regional web ACL with a per-IP rate rule and AWS's common rule set
    (acl_id, acl), *_ = prod.resources(prod.api, "AWS::WAFv2::WebACL").items()
    properties = acl["Properties"]
    assert properties["Scope"] == "REGIONAL"
    assert properties["DefaultAction"] == {"Allow": {}}
    statements = [rule["Statement"] for rule in properties["Rules"]]
    rate = [s["RateBasedStatement"] for s in statements if "RateBasedStatement" in s]
    assert rate == [
        {
            "AggregateKeyType": "IP",
            "Limit": stage_config("prod").waf_rate_limit,
            "EvaluationWindowSec": 300,
        }
    ]
    managed = [
        s["ManagedRuleGroupStatement"]["Name"]
        for s in statements
        if "ManagedRuleGroupStatement" in s
    ]
    assert managed == ["AWSManagedRulesCommonRuleSet"]
    # And it is associated with the API stage
    (association,) = prod.resources(prod.api, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert "restapis" in json.dumps(association["Properties"]["ResourceArn"])


# ---- API hardening --------------------------------------------------------------------------


def test_stage_writes_json_access_logs_with_retention(synthesized: Synthesized):
    # Given the dev environment
    (stage,) = synthesized.resources(synthesized.api, "AWS::ApiGateway::Stage").values()
    settings = stage["Properties"]["AccessLogSetting"]
    # Then each request is logged as one JSON object carrying the request id
    log_format = json.loads(settings["Format"])
    assert log_format["requestId"] == "$context.requestId"
    assert {"status", "ip", "httpMethod", "resourcePath", "integrationLatency"} <= set(log_format)
    # To a log group of the stack kept as long as the functions' logs
    stack = synthesized.api_stack
    log_group_id = stack.resolve(stack.get_logical_id(stack.api.access_logs.node.default_child))
    assert log_group_id in json.dumps(settings["DestinationArn"])
    log_group = synthesized.api_artifact.template["Resources"][log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 14
    # And API Gateway has the account's CloudWatch role it needs to write them
    assert synthesized.resources(synthesized.api, "AWS::ApiGateway::Account")


def test_usage_plan_throttles_as_the_stage_config_says(prod: Synthesized):
    (plan,) = prod.resources(prod.api, "AWS::ApiGateway::UsagePlan").values()
    config = stage_config("prod")
    assert plan["Properties"]["Throttle"] == {
        "RateLimit": config.api_rate_limit,
        "BurstLimit": config.api_burst_limit,
    }
    assert len(plan["Properties"]["ApiStages"]) == 1


def test_cors_only_for_the_frontend_origin(synthesized: Synthesized, prod: Synthesized):
    # Given dev without frontend_origin: no preflight method at all
    dev_methods = synthesized.resources(synthesized.api, "AWS::ApiGateway::Method").values()
    assert not [m for m in dev_methods if m["Properties"]["HttpMethod"] == "OPTIONS"]
    # Given prod with frontend_origin: preflights answer for that origin only
    preflights = [
        m
        for m in prod.resources(prod.api, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "OPTIONS"
    ]
    assert preflights
    for method in preflights:
        assert method["Properties"]["AuthorizationType"] == "NONE"
        (response,) = method["Properties"]["Integration"]["IntegrationResponses"]
        headers = response["ResponseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == (
            f"'{FRONTEND_ORIGIN}'"
        )
        assert headers["method.response.header.Access-Control-Allow-Headers"] == (
            "'Authorization,Content-Type,X-Request-Id,X-Session-Mode'"
        )
        assert headers["method.response.header.Access-Control-Expose-Headers"] == (
            f"'{','.join(CORS_EXPOSE_HEADERS)}'"
        )
    # And API Gateway's own errors carry the origin too, and expose the request id
    for response in prod.resources(prod.api, "AWS::ApiGateway::GatewayResponse").values():
        headers = response["Properties"]["ResponseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == (
            f"'{FRONTEND_ORIGIN}'"
        )
        assert "X-Request-Id" in headers["gatewayresponse.header.Access-Control-Expose-Headers"]
    # And every function behind a route adds the headers to its own responses (shared.platform.http)
    for entry, _ in prod.registry.routes:
        _, function = prod.function(entry.name)
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["FRONTEND_ORIGIN"] == FRONTEND_ORIGIN, entry.name
    for entry, _ in synthesized.registry.routes:
        _, function = synthesized.function(entry.name)
        assert "FRONTEND_ORIGIN" not in function["Properties"]["Environment"]["Variables"]
    # And the browser may post the presigned upload form to the bucket, from that origin only
    (bucket,) = prod.resources(prod.stateful, "AWS::S3::Bucket").values()
    (rule,) = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == [FRONTEND_ORIGIN]
    assert set(rule["AllowedMethods"]) == {"POST", "GET", "HEAD"}
    (dev_bucket,) = synthesized.resources(synthesized.stateful, "AWS::S3::Bucket").values()
    assert "CorsConfiguration" not in dev_bucket["Properties"]


@pytest.mark.parametrize("origin", ["https://app.example.com/", "app.example.com", "*"])
def test_a_frontend_origin_browsers_would_never_send_fails_the_synth(
    synthesized, layer_dir, origin
):
    from infra.app import build_app
    from infra.config import ConfigurationError

    with pytest.raises(ConfigurationError, match="frontend_origin"):
        build_app(
            registry=synthesized.registry, layer_dir=layer_dir, context={"frontend_origin": origin}
        )


def test_functions_behind_the_api_finish_before_its_timeout(synthesized: Synthesized):
    # Given every function a route or the authorizer invokes
    behind_api = {entry.name for entry, _ in synthesized.registry.routes}
    behind_api |= {entry.name for entry, _ in synthesized.registry.authorizers}
    assert behind_api
    # Then its timeout is below API Gateway's 29 s integration timeout
    for name in behind_api:
        _, function = synthesized.function(name)
        assert function["Properties"]["Timeout"] < INTEGRATION_TIMEOUT_SECONDS, name


# ---- business metrics (shared/platform/observability.py) -------------------------------------


def test_the_business_metrics_that_page_have_alarms_in_the_stage_namespace(
    synthesized: Synthesized, prod: Synthesized
):
    from infra.components.monitoring import (
        FAILED_LOGINS_PER_PERIOD,
        INGEST_FAILURES_PER_PERIOD,
        RATE_LIMITED_PER_PERIOD,
        SEARCH_P99_MS,
    )

    for synth, stage in ((synthesized, "dev"), (prod, "prod")):
        namespace = f"Stratus/{stage}"
        # Then each paging metric has one alarm in the stage's own namespace, by service
        (failed,) = _single_metric_alarms(synth, namespace, "FailedLogins")
        assert failed["Dimensions"] == [{"Name": "service", "Value": "auth"}]
        assert failed["Threshold"] == FAILED_LOGINS_PER_PERIOD
        (ingest,) = _single_metric_alarms(synth, namespace, "IngestFailures")
        assert ingest["Threshold"] == INGEST_FAILURES_PER_PERIOD
        (search,) = _single_metric_alarms(synth, namespace, "SearchLatency")
        assert (search["ExtendedStatistic"], search["Threshold"]) == ("p99", SEARCH_P99_MS)
        limited = _single_metric_alarms(synth, namespace, "RateLimited")
        services = {a["Dimensions"][0]["Value"] for a in limited}
        assert services == {e.service for e, _ in synth.registry.routes}
        assert {a["Threshold"] for a in limited} == {RATE_LIMITED_PER_PERIOD}
        # And every one notifies the alarm topic
        for alarm in (failed, ingest, search, *limited):
            assert alarm["AlarmActions"] and alarm["OKActions"]
        # And the functions emit their metrics into that namespace
        for _, function in synth.functions().items():
            env = function["Properties"]["Environment"]["Variables"]
            assert env["POWERTOOLS_METRICS_NAMESPACE"] == namespace
