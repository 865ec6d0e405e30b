"""The CDK app follows the registry: a test registry with an authorizer, an admin route, queue
workers (one fed by bucket events) and a scheduled producer, synthesized once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.platform.declare import Bucket, Secret
from tests.infra.synth import Synthesized, actions_of, grant_mismatches, synthesize
from tests.support.registries import ALLOW_ALL_AUTHORIZER, make_registry

pytestmark = pytest.mark.infra

FILES = {
    "shop/orders": """
        from shared.platform.http import HttpFunction

        function = HttpFunction(method="POST", path="/orders", auth=True, roles=("admin",))


        @function.endpoint
        async def create_order() -> dict[str, str]:
            \"\"\"Create an order.\"\"\"
            return {"status": "created"}


        handler = function.handler
    """,
    "shop/catalog": """
        from shared.platform.http import HttpFunction

        function = HttpFunction(method="GET", path="/catalog/{item_id}", auth=False)


        @function.endpoint
        async def get_item(item_id: str) -> dict[str, str]:
            \"\"\"Read one catalog item.\"\"\"
            return {"id": item_id}


        handler = function.handler
    """,
    "auth/token": ALLOW_ALL_AUTHORIZER,
    "jobs/worker": """
        from typing import Any

        from shared.platform.declare import Function, QueueTrigger


        class Worker(Function):
            def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
                return {"batchItemFailures": []}


        function = Worker(
            trigger=QueueTrigger(queue="jobs", max_receive_count=3), timeout_seconds=30
        )
        handler = function.handler
    """,
    "jobs/ingest": """
        from typing import Any

        from shared.platform.declare import Function, QueueTrigger, bucket


        class Ingest(Function):
            def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
                return {"batchItemFailures": []}


        function = Ingest(
            trigger=QueueTrigger(queue="ingest", s3_bucket="uploads", s3_prefix="incoming/"),
            needs=(bucket("uploads"),),
        )
        handler = function.handler
    """,
    "jobs/nightly": """
        from typing import Any

        from shared.platform.declare import Function, ScheduleTrigger, queue, secret


        class Nightly(Function):
            def invoke(self, event: dict[str, Any], context: Any) -> None:
                return None


        function = Nightly(
            trigger=ScheduleTrigger("cron(0 3 * * ? *)"),
            needs=(queue("jobs"), secret("payments")),
        )
        handler = function.handler
    """,
}


@pytest.fixture(scope="module")
def custom(layer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    registry = make_registry(
        tmp_path_factory.mktemp("registry"),
        FILES,
        buckets=(Bucket("uploads"),),
        secrets=(Secret("payments", "Payment provider API key"),),
    )
    return synthesize(registry, layer_dir=layer_dir, outdir=tmp_path_factory.mktemp("cdk.out"))


def _one(custom: Synthesized, type_: str, **match: Any) -> tuple[str, dict[str, Any]]:
    found = [
        (k, r)
        for k, r in custom.resources(custom.api, type_).items()
        if all(r["Properties"].get(key) == value for key, value in match.items())
    ]
    assert len(found) == 1, (type_, match, found)
    return found[0]


def _from_stateful_stack(value: Any) -> bool:
    """``value`` is read from the stateful stack's outputs (weak references: the recommended
    ``@aws-cdk/core:defaultCrossStackReferences``), or imported from its exports."""
    if "Fn::GetStackOutput" in value:
        return bool(value["Fn::GetStackOutput"]["StackName"] == "stratus-dev-stateful")
    return "Fn::ImportValue" in value


def test_every_entry_becomes_a_function(custom):
    assert len(custom.functions()) == len(custom.registry.entries) == 6


def test_routes_follow_the_registry(custom):
    # Given the test registry's routes
    paths = {
        r["Properties"]["PathPart"]
        for r in custom.resources(custom.api, "AWS::ApiGateway::Resource").values()
    }
    # Then the API has exactly their resources, and not the real registry's
    assert paths == {"orders", "catalog", "{item_id}"}
    methods = custom.resources(custom.api, "AWS::ApiGateway::Method")
    assert sorted(m["Properties"]["HttpMethod"] for m in methods.values()) == ["GET", "POST"]


def test_authorizer_guards_the_auth_route_only(custom):
    # Given the declared TOKEN authorizer
    authorizer_id, authorizer = _one(custom, "AWS::ApiGateway::Authorizer")
    token_fn_id, _ = custom.function("auth-token")
    props = authorizer["Properties"]
    assert props["Type"] == "TOKEN"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    assert props["AuthorizerResultTtlInSeconds"] == 300
    assert custom.invoked(props["AuthorizerUri"]) == token_fn_id  # through its live alias
    # Then POST /orders (auth=True) uses it
    _, post = _one(custom, "AWS::ApiGateway::Method", HttpMethod="POST")
    assert post["Properties"]["AuthorizationType"] == "CUSTOM"
    assert post["Properties"]["AuthorizerId"] == {"Ref": authorizer_id}
    # And the public GET /catalog/{item_id} does not
    _, get = _one(custom, "AWS::ApiGateway::Method", HttpMethod="GET")
    assert get["Properties"]["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in get["Properties"]


def _mapping_of(custom: Synthesized, function_name: str) -> dict[str, Any]:
    """The event source mapping that feeds ``function_name`` (through its live alias)."""
    worker_id, _ = custom.function(function_name)
    (mapping,) = [
        m
        for m in custom.resources(custom.api, "AWS::Lambda::EventSourceMapping").values()
        if custom.invoked(m["Properties"]["FunctionName"]) == worker_id
    ]
    return mapping


def _queue_of(custom: Synthesized, function_name: str) -> tuple[str, dict[str, Any]]:
    mapping = _mapping_of(custom, function_name)
    queue_id = mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
    return queue_id, custom.resources(custom.api, "AWS::SQS::Queue")[queue_id]


def test_worker_queue_has_a_dead_letter_queue_and_a_long_enough_visibility(custom):
    # Given the "jobs" worker (timeout 30 s, max_receive_count=3)
    declaration = custom.registry["jobs-worker"].function
    queue_id, queue = _queue_of(custom, "jobs-worker")
    props = queue["Properties"]
    # Then a message is retried three times, then parked in the dead-letter queue
    redrive = props["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 3
    dlq_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    dlq = custom.resources(custom.api, "AWS::SQS::Queue")[dlq_id]
    # And a batch stays invisible for at least six function timeouts
    assert props["VisibilityTimeout"] >= 6 * declaration.timeout_seconds
    # And both queues are encrypted and refuse plain HTTP
    for logical_id, q in ((queue_id, queue), (dlq_id, dlq)):
        assert q["Properties"]["SqsManagedSseEnabled"] is True
        policies = custom.resources(custom.api, "AWS::SQS::QueuePolicy").values()
        assert any(
            {"Ref": logical_id} in p["Properties"]["Queues"]
            and any(
                s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                for s in p["Properties"]["PolicyDocument"]["Statement"]
            )
            for p in policies
        ), logical_id


def test_event_source_reports_batch_item_failures(custom):
    props = _mapping_of(custom, "jobs-worker")["Properties"]
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == 10
    assert props["ScalingConfig"] == {"MaximumConcurrency": 2}


def test_bucket_events_feed_the_ingest_queue(custom):
    # Given the worker whose queue listens to ObjectCreated under incoming/ in "uploads"
    queue_id, _ = _queue_of(custom, "jobs-ingest")
    _, notifications = _one(custom, "Custom::S3BucketNotifications")
    props = notifications["Properties"]
    # Then the stateful stack's bucket sends those events to that queue, without owning them
    assert props["Managed"] is False
    assert _from_stateful_stack(props["BucketName"])
    (config,) = props["NotificationConfiguration"]["QueueConfigurations"]
    assert config["Events"] == ["s3:ObjectCreated:*"]
    assert config["QueueArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert config["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "incoming/"}]


def test_needs_become_environment_variables_and_grants(custom):
    # Given the nightly job, which needs the "jobs" queue and the "payments" secret
    jobs_queue_id, _ = _queue_of(custom, "jobs-worker")
    _, nightly = custom.function("jobs-nightly")
    env = nightly["Properties"]["Environment"]["Variables"]
    # Then it gets the queue's URL and the secret's ARN (from the stateful stack)
    assert env["JOBS_QUEUE_URL"] == {"Ref": jobs_queue_id}
    assert _from_stateful_stack(env["PAYMENTS_SECRET_ARN"])
    # And may send to the queue and read the secret, nothing more on them
    actions = actions_of(custom.policy_statements("jobs-nightly"))
    assert "sqs:SendMessage" in actions
    assert "sqs:ReceiveMessage" not in actions
    assert "secretsmanager:GetSecretValue" in actions
    # And the ingest worker reads the bucket it declared
    _, ingest = custom.function("jobs-ingest")
    assert _from_stateful_stack(ingest["Properties"]["Environment"]["Variables"]["UPLOADS_BUCKET"])
    ingest_actions = actions_of(custom.policy_statements("jobs-ingest"))
    assert "s3:GetObject" in ingest_actions
    assert "s3:PutObject" not in ingest_actions
    assert "s3:DeleteObject" not in ingest_actions


def test_each_role_allows_what_the_local_runner_allows_and_no_more(custom):
    # The local runner refuses every call its grants table (functions/grants.py) does not earn;
    # the synthesized roles allow exactly those actions, on the services it checks.
    assert grant_mismatches(custom) == {}


def test_schedule_invokes_its_function(custom):
    nightly_id, _ = custom.function("jobs-nightly")
    _, rule = _one(custom, "AWS::Events::Rule", ScheduleExpression="cron(0 3 * * ? *)")
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": custom.alias("jobs-nightly")}
    assert custom.invoked(target["Arn"]) == nightly_id


def test_secrets_live_in_the_stateful_stack(custom):
    secrets = custom.resources(custom.stateful, "AWS::SecretsManager::Secret")
    # The declared secret, and the generated credentials of the database and Redis
    assert sorted(s["Properties"]["Name"] for s in secrets.values()) == [
        "stratus/dev/database",
        "stratus/dev/payments",
        "stratus/dev/redis-auth",
    ]


def test_synth_reports_no_warning_or_error(custom):
    # The rate-limited route needs Redis, which the data plane provisions: no warning at all.
    assert custom.problems() == []


def test_a_need_for_an_undeclared_resource_fails_the_synth(layer_dir: Path, tmp_path: Path):
    from infra.app import build_app
    from infra.config import ConfigurationError

    registry = make_registry(
        tmp_path,
        {
            "jobs/orphan": """
                from shared.platform.declare import Function, ScheduleTrigger, queue

                function = Function(trigger=ScheduleTrigger("rate(1 hour)"), needs=(queue("nope"),))
                handler = function.handler
            """
        },
    )
    with pytest.raises(ConfigurationError, match="needs the queue 'nope'"):
        build_app(registry=registry, layer_dir=layer_dir)


def test_gaps_are_reported_as_synth_warnings(layer_dir: Path, tmp_path: Path):
    # Given an auth route with no authorizer declared
    registry = make_registry(
        tmp_path,
        {
            "shop/admin": """
                from shared.platform.declare import DATABASE, EMAIL
                from shared.platform.http import HttpFunction

                function = HttpFunction(method="GET", path="/admin", needs=(DATABASE, EMAIL))
                handler = function.handler
            """
        },
    )
    # When it is synthesized
    custom = synthesize(registry, layer_dir=layer_dir, outdir=tmp_path / "cdk.out")
    # Then it shows up as a warning (the route stays closed: the function finds no principal)
    problems = "\n".join(custom.problems())
    assert "GET /admin requires auth but no authorizer is declared" in problems
    # And the database and email, which the app provisions, are no gap
    assert "needs" not in problems
    custom.stateful.resource_count_is("AWS::SES::EmailIdentity", 1)
    custom.api.resource_count_is("AWS::ApiGateway::Authorizer", 0)
