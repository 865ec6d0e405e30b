"""Every promise of the production app, asserted on the synthesized templates of both
environments: the functions and their triggers, the authorizer, encryption, TLS-only policies,
queue ratios, least privilege, the connection budget, the vector store, email, secrets and the
migrations that run before the API takes traffic."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.config import stage_config, worker_connection_budget
from tests.infra.synth import Synthesized, actions_of, grant_mismatches, synthesize

pytestmark = pytest.mark.infra

#: Services whose resources hold data: no wildcard action on them, and no "*" resource.
DATA_SERVICES = {
    "s3",
    "sqs",
    "secretsmanager",
    "rds",
    "elasticache",
    "aoss",
    "es",
    "ses",
    "kms",
    "bedrock",
    "dynamodb",
    "sns",
}


@pytest.fixture(scope="module", params=["dev", "prod"])
def env(request, synthesized, synthesized_prod) -> Synthesized:
    return {"dev": synthesized, "prod": synthesized_prod}[request.param]


def _is_prod(env: Synthesized) -> bool:
    return env.api_artifact.stack_name == "stratus-prod-api"


def _all(env: Synthesized, type_: str) -> dict[str, dict[str, Any]]:
    return {**env.resources(env.stateful, type_), **env.resources(env.api, type_)}


def _needing(env: Synthesized, kind: str) -> set[str]:
    return {e.name for e in env.registry if kind in e.function.need_kinds}


# ---- functions and triggers ---------------------------------------------------------------------


def test_one_function_per_declaration_each_made_the_same_way(env):
    functions = env.functions()
    assert len(functions) == len(env.registry.entries)
    retention = stage_config("prod" if _is_prod(env) else "dev").log_retention_days
    log_groups = env.resources(env.api, "AWS::Logs::LogGroup")
    for entry in env.registry:
        _, function = env.function(entry.name)
        props = function["Properties"]
        assert props["Architectures"] == ["arm64"], entry.name
        assert props["TracingConfig"] == {"Mode": "Active"}, entry.name
        assert props["LoggingConfig"]["LogFormat"] == "JSON", entry.name
        (group_id,) = [props["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_groups[group_id]["Properties"]["RetentionInDays"] == retention, entry.name


def test_every_route_queue_schedule_and_deploy_job_is_wired(env):
    methods = env.resources(env.api, "AWS::ApiGateway::Method").values()
    served = [m for m in methods if m["Properties"]["HttpMethod"] != "OPTIONS"]
    assert len(served) == len(env.registry.routes)
    mappings = env.resources(env.api, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len(env.registry.queues)
    rules = env.resources(env.api, "AWS::Events::Rule").values()
    scheduled = [r for r in rules if "ScheduleExpression" in r["Properties"]]
    assert len(scheduled) == len(env.registry.schedules)
    assert len(env.resources(env.api, "Custom::Trigger")) == len(env.registry.deploy_jobs)


def test_the_authorizer_guards_every_protected_route_and_only_those(env):
    (authorizer_id,) = env.resources(env.api, "AWS::ApiGateway::Authorizer")
    public = {(r.method, r.path) for _, r in env.registry.routes if not r.auth}
    methods = [
        m["Properties"]
        for m in env.resources(env.api, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] != "OPTIONS"
    ]
    guarded = [m for m in methods if m["AuthorizationType"] == "CUSTOM"]
    assert all(m["AuthorizerId"] == {"Ref": authorizer_id} for m in guarded)
    assert len(guarded) == len(env.registry.routes) - len(public)
    assert len(methods) - len(guarded) == len(public)


# ---- encryption and TLS -------------------------------------------------------------------------


def test_everything_that_stores_data_is_encrypted(env):
    for bucket in _all(env, "AWS::S3::Bucket").values():
        assert bucket["Properties"]["BucketEncryption"], bucket
    for queue in _all(env, "AWS::SQS::Queue").values():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props
    instances = _all(env, "AWS::RDS::DBInstance").values()
    (database,) = [d for d in instances if "SourceDBInstanceIdentifier" not in d["Properties"]]
    assert database["Properties"]["StorageEncrypted"] is True
    assert "KmsKeyId" in database["Properties"]
    # prod's read replica is encrypted as its source is (CloudFormation takes no flag for it)
    for replica in instances:
        if "SourceDBInstanceIdentifier" in replica["Properties"]:
            assert "PostgresInstance" in str(replica["Properties"]["SourceDBInstanceIdentifier"])
    (redis,) = _all(env, "AWS::ElastiCache::ReplicationGroup").values()
    assert redis["Properties"]["AtRestEncryptionEnabled"] is True
    assert redis["Properties"]["TransitEncryptionEnabled"] is True
    for topic in _all(env, "AWS::SNS::Topic").values():
        assert "KmsMasterKeyId" in topic["Properties"]
    policies = _all(env, "AWS::OpenSearchServerless::SecurityPolicy").values()
    encryption = [p for p in policies if p["Properties"]["Type"] == "encryption"]
    assert len(encryption) == 1
    assert json.loads(encryption[0]["Properties"]["Policy"])["AWSOwnedKey"] is True


def _refuses_plain_http(policy: dict[str, Any]) -> bool:
    return any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Statement"]
    )


def test_every_bucket_queue_and_topic_refuses_plain_http(env):
    bucket_policies = _all(env, "AWS::S3::BucketPolicy").values()
    for logical_id in env.resources(env.stateful, "AWS::S3::Bucket"):
        assert any(
            p["Properties"]["Bucket"] == {"Ref": logical_id}
            and _refuses_plain_http(p["Properties"]["PolicyDocument"])
            for p in bucket_policies
        ), logical_id
    queue_policies = env.resources(env.api, "AWS::SQS::QueuePolicy").values()
    for logical_id in env.resources(env.api, "AWS::SQS::Queue"):
        assert any(
            {"Ref": logical_id} in p["Properties"]["Queues"]
            and _refuses_plain_http(p["Properties"]["PolicyDocument"])
            for p in queue_policies
        ), logical_id
    topic_policies = env.resources(env.api, "AWS::SNS::TopicPolicy").values()
    for logical_id in env.resources(env.api, "AWS::SNS::Topic"):
        assert any(
            {"Ref": logical_id} in p["Properties"]["Topics"]
            and _refuses_plain_http(p["Properties"]["PolicyDocument"])
            for p in topic_policies
        ), logical_id


def test_the_stores_accept_tls_only(env):
    groups = _all(env, "AWS::RDS::DBParameterGroup").values()  # prod: the replica's too
    assert len(groups) == (2 if _is_prod(env) else 1)
    for parameters in groups:
        assert parameters["Properties"]["Parameters"]["rds.force_ssl"] == "1"
    (proxy,) = _all(env, "AWS::RDS::DBProxy").values()
    assert proxy["Properties"]["RequireTLS"] is True
    for function in env.functions().values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        if "DATABASE_HOST" in variables:
            assert variables["DATABASE_TLS"] == "true"
        if "OPENSEARCH_ENDPOINT" in variables:
            # The collection's endpoint attribute is an https:// URL; shared.vectors refuses
            # any other scheme outside loopback
            assert "CollectionEndpoint" in json.dumps(variables["OPENSEARCH_ENDPOINT"])


# ---- queues -------------------------------------------------------------------------------------


def test_every_worker_queue_redrives_after_five_receives_and_outwaits_its_worker(env):
    queues = env.resources(env.api, "AWS::SQS::Queue")
    mappings = env.resources(env.api, "AWS::Lambda::EventSourceMapping").values()
    functions = env.functions()
    # The webhook sender's queue alone gives a message one receive: a send is never redriven
    # into a second call (docs/webhooks.md)
    once = env._logical_id(env.api_stack.queues["webhook-send"].queue)
    for mapping in mappings:
        props = mapping["Properties"]
        queue_id = props["EventSourceArn"]["Fn::GetAtt"][0]
        queue = queues[queue_id]["Properties"]
        worker = functions[env.invoked(props["FunctionName"])]["Properties"]
        expected = 1 if queue_id == once else 5
        assert queue["RedrivePolicy"]["maxReceiveCount"] == expected, queue_id
        assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"], queue_id
        dead_letter_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert queues[dead_letter_id]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["ScalingConfig"]["MaximumConcurrency"] >= 2


def test_the_ingest_claim_outwaits_a_live_worker_and_yields_to_a_redelivery(env):
    """The claim's staleness, the visibility timeout, maxReceiveCount and the function timeout
    agree in the template (shared.platform.redelivery), so a message redelivered after its
    worker died always takes the claim over, and a live worker's claim is never taken."""
    from datetime import timedelta

    from shared.documents.ingest import STALE_AFTER, TIMING

    logical_id, function = env.function("documents-ingest")
    timeout = function["Properties"]["Timeout"]
    (mapping,) = [
        m["Properties"]
        for m in env.resources(env.api, "AWS::Lambda::EventSourceMapping").values()
        if env.invoked(m["Properties"]["FunctionName"]) == logical_id
    ]
    queue = env.resources(env.api, "AWS::SQS::Queue")[mapping["EventSourceArn"]["Fn::GetAtt"][0]]
    visibility = queue["Properties"]["VisibilityTimeout"]
    receives = queue["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    # The template holds the numbers the claim was derived from
    assert (timeout, visibility, receives) == (
        TIMING.function_timeout_seconds,
        TIMING.visibility_timeout_seconds,
        TIMING.max_receive_count,
    )
    # A live invocation's claim (at most `timeout` old) is never stale
    assert timedelta(seconds=timeout) < STALE_AFTER
    # A redelivered message comes back `visibility` after its receive: the dead worker's claim,
    # made at most `timeout` after that receive, is stale by then
    assert timedelta(seconds=visibility - timeout) >= STALE_AFTER
    # The maintenance job waits a whole cycle before calling a document stuck, and gives it as
    # many attempts as its message has receives
    assert TIMING.stuck_after >= timedelta(seconds=visibility + timeout)
    assert TIMING.max_attempts == receives


def test_the_workers_stay_inside_the_database_connection_budget(env):
    stage = stage_config("prod" if _is_prod(env) else "dev")
    database_workers = {
        env.function(name)[0]
        for name in _needing(env, "database")
        if env.registry[name].kind == "queue"
    }
    assert database_workers
    held = sum(
        m["Properties"]["ScalingConfig"]["MaximumConcurrency"]
        for m in env.resources(env.api, "AWS::Lambda::EventSourceMapping").values()
        if env.invoked(m["Properties"]["FunctionName"]) in database_workers
    )
    assert 0 < held <= worker_connection_budget(stage)
    (proxy_target,) = _all(env, "AWS::RDS::DBProxyTargetGroup").values()
    config = proxy_target["Properties"]["ConnectionPoolConfigurationInfo"]
    assert config["MaxConnectionsPercent"] == 90
    assert stage.db_connections_alarm < stage.db_max_connections


def test_a_worker_fleet_over_the_connection_budget_fails_the_synth(layer_dir, tmp_path: Path):
    from infra.app import build_app
    from infra.config import ConfigurationError
    from tests.support.registries import make_registry

    registry = make_registry(
        tmp_path,
        {
            "jobs/greedy": """
                from typing import Any

                from shared.platform.declare import DATABASE, Function, QueueTrigger


                class Worker(Function):
                    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
                        return {"batchItemFailures": []}


                function = Worker(
                    trigger=QueueTrigger(queue="greedy", max_concurrency=500), needs=(DATABASE,)
                )
                handler = function.handler
            """
        },
    )
    with pytest.raises(ConfigurationError, match="database connections at once"):
        build_app(registry=registry, layer_dir=layer_dir)


# ---- least privilege ----------------------------------------------------------------------------


def _service_of(action: str) -> str:
    return action.split(":", 1)[0]


def _site_deployment_only(statement: dict) -> bool:
    """A grant of CDK's site deployment (infra/components/site.py) on the web app's bucket and
    the bootstrap assets bucket alone: the exported app's public files, no user data."""
    resources = statement["Resource"]
    text = json.dumps(resources if isinstance(resources, list) else [resources])
    names = re.findall(r'"Ref": "([A-Za-z0-9]+)"|GetAtt": \["([A-Za-z0-9]+)"', text)
    buckets = {a or b for a, b in names}
    assets = "cdk-hnb659fds-assets-" in text
    return bool(buckets or assets) and all(n.startswith("SiteBucket") for n in buckets)


def test_no_wildcard_action_and_no_star_resource_on_data(env):
    for template in (env.stateful_artifact.template, env.api_artifact.template):
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] not in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
                continue
            if logical_id.startswith("CustomCDKBucketDeployment"):
                statements = resource["Properties"]["PolicyDocument"]["Statement"]
                s3_statements = [
                    st for st in statements if _service_of(actions_of([st]).pop()) == "s3"
                ]
                assert all(_site_deployment_only(st) for st in s3_statements), logical_id
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                if statement["Effect"] != "Allow":
                    continue
                actions = actions_of([statement])
                data = {a for a in actions if _service_of(a) in DATA_SERVICES}
                assert not [a for a in data if "*" in a], (logical_id, statement)
                resources = statement["Resource"]
                resources = resources if isinstance(resources, list) else [resources]
                if data:
                    assert "*" not in resources, (logical_id, statement)


def test_each_function_may_touch_only_what_it_declares(env):
    for entry in env.registry:
        actions = actions_of(env.policy_statements(entry.name))
        kinds = entry.function.need_kinds
        services = {_service_of(a) for a in actions} - {"xray", "ec2"}
        allowed = {
            "s3": "bucket",
            "sqs": "queue",
            "aoss": "vectors",
            "es": "vectors",
            "bedrock": "embeddings",
            "ses": "email",
        }
        for service in services - {"secretsmanager"}:
            if service == "sqs" and entry.kind == "queue":
                continue  # its own queue, through the event source mapping
            assert allowed.get(service) in kinds, (entry.name, service)
        if "secretsmanager" in services:
            assert kinds & {"secret", "database", "cache"}, entry.name


# ---- vectors, embeddings, email -----------------------------------------------------------------


def test_the_vector_collection_is_private_and_its_data_policy_names_exactly_its_users(env):
    (collection,) = env.resources(env.stateful, "AWS::OpenSearchServerless::Collection").values()
    assert collection["Properties"]["Type"] == "VECTORSEARCH"
    assert collection["Properties"]["StandbyReplicas"] == (
        "ENABLED" if _is_prod(env) else "DISABLED"
    )
    (network,) = [
        p["Properties"]
        for p in env.resources(env.stateful, "AWS::OpenSearchServerless::SecurityPolicy").values()
        if p["Properties"]["Type"] == "network"
    ]
    rendered = json.dumps(network["Policy"])
    assert '\\"AllowFromPublic\\":false' in rendered
    (endpoint_id,) = env.resources(env.stateful, "AWS::OpenSearchServerless::VpcEndpoint")
    assert {"Ref": endpoint_id} in network["Policy"]["Fn::Join"][1]
    (access,) = env.resources(env.api, "AWS::OpenSearchServerless::AccessPolicy").values()
    principals = {
        part["Fn::GetAtt"][0]
        for part in access["Properties"]["Policy"]["Fn::Join"][1]
        if isinstance(part, dict)
    }
    expected = {
        env.function(name)[1]["Properties"]["Role"]["Fn::GetAtt"][0]
        for name in _needing(env, "vectors")
    }
    assert principals == expected and expected
    for name in (e.name for e in env.registry):
        actions = actions_of(env.policy_statements(name))
        assert ("aoss:APIAccessAll" in actions) is (name in _needing(env, "vectors")), name


def test_only_the_embedding_functions_may_invoke_the_one_bedrock_model(env):
    for entry in env.registry:
        statements = [
            s for s in env.policy_statements(entry.name) if "bedrock:InvokeModel" in actions_of([s])
        ]
        if entry.name not in _needing(env, "embeddings"):
            assert not statements, entry.name
            continue
        (statement,) = statements
        assert "foundation-model/amazon.titan-embed-text-v2:0" in json.dumps(statement["Resource"])
        _, function = env.function(entry.name)
        assert function["Properties"]["Environment"]["Variables"]["EMBEDDER"] == "bedrock"


def test_each_role_allows_what_the_local_runner_allows_and_no_more(env):
    # The local runner refuses every call its grants table (functions/grants.py) does not earn;
    # each real function's role allows exactly those actions, on the services it checks.
    assert grant_mismatches(env) == {}


def test_mail_goes_out_from_the_verified_identity_only(env):
    (identity,) = env.resources(env.stateful, "AWS::SES::EmailIdentity").values()
    senders = _needing(env, "email")
    assert senders
    for name in senders:
        _, function = env.function(name)
        sender = function["Properties"]["Environment"]["Variables"]["EMAIL_SENDER"]
        if _is_prod(env):
            # -c email_domain=example.com: the domain is verified (Easy DKIM), mail comes from it
            assert identity["Properties"]["EmailIdentity"] == "example.com"
            assert sender == "no-reply@example.com"
        else:
            assert identity["Properties"]["EmailIdentity"] == sender
        (statement,) = [
            s for s in env.policy_statements(name) if "ses:SendEmail" in actions_of([s])
        ]
        assert "identity/" in json.dumps(statement["Resource"])


def test_a_managed_domain_can_replace_the_collection(synthesized, layer_dir, tmp_path_factory):
    # Given the deployer's choice of a managed domain
    domain_env = synthesize(
        synthesized.registry,
        layer_dir=layer_dir,
        outdir=tmp_path_factory.mktemp("cdk.out.domain"),
        context={"vector_engine": "domain"},
    )
    # Then there is no collection, and one encrypted, HTTPS-only domain inside the VPC
    domain_env.stateful.resource_count_is("AWS::OpenSearchServerless::Collection", 0)
    (domain,) = domain_env.resources(domain_env.stateful, "AWS::OpenSearchService::Domain").values()
    props = domain["Properties"]
    assert props["EncryptionAtRestOptions"]["Enabled"] is True
    assert props["NodeToNodeEncryptionOptions"]["Enabled"] is True
    assert props["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert props["DomainEndpointOptions"]["TLSSecurityPolicy"] == "Policy-Min-TLS-1-2-2019-07"
    assert props["VPCOptions"]["SubnetIds"]
    # And the vector functions get HTTP methods on its indexes, and the "es" signing service
    for name in _needing(domain_env, "vectors"):
        actions = actions_of(domain_env.policy_statements(name))
        assert "es:ESHttpPost" in actions and "aoss:APIAccessAll" not in actions
        _, function = domain_env.function(name)
        assert function["Properties"]["Environment"]["Variables"]["OPENSEARCH_SERVICE"] == "es"


def test_pgvector_on_the_database_replaces_opensearch_with_a_static_embedder(
    synthesized, layer_dir, tmp_path_factory
):
    # Given the deployer's choice of pgvector in RDS and the static embedder: no OpenSearch, no
    # Bedrock
    pg_env = synthesize(
        synthesized.registry,
        layer_dir=layer_dir,
        outdir=tmp_path_factory.mktemp("cdk.out.pgvector"),
        context={"vector_engine": "pgvector", "embedder": "static"},
    )
    # Then no collection, no domain, no data access policy exists
    for kind in (
        "AWS::OpenSearchServerless::Collection",
        "AWS::OpenSearchServerless::AccessPolicy",
        "AWS::OpenSearchServerless::VpcEndpoint",
        "AWS::OpenSearchService::Domain",
    ):
        pg_env.stateful.resource_count_is(kind, 0)
        pg_env.api.resource_count_is(kind, 0)
    vector_functions = _needing(pg_env, "vectors")
    embedding_functions = _needing(pg_env, "embeddings")
    assert vector_functions and embedding_functions
    layers = pg_env.resources(pg_env.api, "AWS::Lambda::LayerVersion")
    (embedder_layer,) = [
        lid for lid, layer in layers.items() if "embedder" in layer["Properties"]["Description"]
    ]
    for entry in pg_env.registry:
        _, function = pg_env.function(entry.name)
        props = function["Properties"]
        actions = actions_of(pg_env.policy_statements(entry.name))
        assert not any(a.startswith(("aoss:", "es:ESHttp", "bedrock:")) for a in actions), entry
        attached = {layer["Ref"] for layer in props["Layers"]}
        # And only the functions that embed text carry the model's layer
        assert (embedder_layer in attached) is (entry.name in embedding_functions), entry.name
        variables = props.get("Environment", {}).get("Variables", {})
        if entry.name in vector_functions:
            # The vectors live in the database these functions reach already
            assert variables["VECTOR_STORE"] == "pgvector"
            assert "DATABASE_SECRET_ARN" in variables and "VpcConfig" in props
        if entry.name in embedding_functions:
            assert variables["EMBEDDER"] == "static"
    # And the deploy job, which creates the extension, runs as the database's master user
    _, migrate = pg_env.function("system-migrate")
    assert "DATABASE_SECRET_ARN" in migrate["Properties"]["Environment"]["Variables"]


def test_an_unknown_choice_fails_the_synth(synthesized, layer_dir):
    from infra.app import build_app
    from infra.config import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"vector_engine=<serverless\|domain\|pgvector>"):
        build_app(
            registry=synthesized.registry, layer_dir=layer_dir, context={"vector_engine": "pg"}
        )


# ---- secrets and the deploy job -----------------------------------------------------------------


def test_secrets_are_generated_in_the_shape_their_readers_expect(env):
    secrets = {
        s["Properties"]["Name"]: s["Properties"]
        for s in env.resources(env.stateful, "AWS::SecretsManager::Secret").values()
    }
    stage = "prod" if _is_prod(env) else "dev"
    signing = secrets[f"stratus/{stage}/signing-keys"]["GenerateSecretString"]
    assert json.loads(signing["SecretStringTemplate"]) == {"current": "k1"}
    assert signing["GenerateStringKey"] == "k1" and signing["PasswordLength"] >= 32
    admin = secrets[f"stratus/{stage}/admin"]["GenerateSecretString"]
    assert admin["GenerateStringKey"] == "password"
    expected_email = "ops@example.com" if _is_prod(env) else ""
    assert json.loads(admin["SecretStringTemplate"]) == {"email": expected_email}


def test_the_migrations_run_before_any_other_function_and_the_api_stage(env):
    ((trigger_id, trigger),) = env.resources(env.api, "Custom::Trigger").items()
    migrate_id, migrate = env.function("system-migrate")
    handler = trigger["Properties"]["HandlerArn"]["Ref"]
    assert handler.startswith("SystemMigrateFunctionCurrentVersion")
    assert trigger["Properties"]["InvocationType"] == "RequestResponse"
    assert int(trigger["Properties"]["Timeout"]) == migrate["Properties"]["Timeout"] * 1000
    resources = env.api_artifact.template["Resources"]
    for logical_id in env.functions():
        if logical_id != migrate_id and logical_id in resources:
            assert trigger_id in resources[logical_id].get("DependsOn", []), logical_id
    # A nested stack's functions (infra.stacks.api.NESTED_SERVICES) wait with their stack
    nested = env.resources(env.api, "AWS::CloudFormation::Stack")
    assert nested
    for logical_id in nested:
        assert trigger_id in resources[logical_id].get("DependsOn", []), logical_id
    (stage_id,) = env.resources(env.api, "AWS::ApiGateway::Stage")
    assert trigger_id in resources[stage_id].get("DependsOn", [])
    # And the job reaches the database and the admin secret, from inside the VPC
    variables = migrate["Properties"]["Environment"]["Variables"]
    assert {"DATABASE_HOST", "DATABASE_SECRET_ARN", "ADMIN_SECRET_ARN"} <= set(variables)
    assert "VpcConfig" in migrate["Properties"]


def test_secret_values_never_reach_a_template(env):
    for template in (env.stateful_artifact.template, env.api_artifact.template):
        text = json.dumps(template)
        assert not re.search(r'"SecretString"\s*:', text)
        assert '"Password"' not in text
