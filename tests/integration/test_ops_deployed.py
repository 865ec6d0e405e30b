"""The ops CLI against a deployed stage, on moto: the stage's resources found by the outputs of
its two CloudFormation stacks (never typed), then redriven, rotated, restored and traced with
the same calls AWS would get."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from infra import outputs
from ops import backup, keys, redrive
from ops.target import OpsError, deployed_target, resolve
from ops.trace import trace
from shared.platform.keyring import new_secret, parse

pytestmark = pytest.mark.integration

REGION = "us-east-1"


def _stack(cloudformation, name: str, values: dict[str, str]) -> None:
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in values.items()},
    }
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))


@pytest.fixture
def stage(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        sqs = session.client("sqs")
        dlq = sqs.create_queue(QueueName="stratus-dev-IngestDLQ-x1")["QueueUrl"]
        queue = sqs.create_queue(QueueName="stratus-dev-Ingest-x1")["QueueUrl"]
        secrets = session.client("secretsmanager")
        signing = secrets.create_secret(Name="SigningKeys-x1", SecretString=new_secret())["ARN"]
        rds = session.client("rds")
        rds.create_db_instance(
            DBInstanceIdentifier="stratus-dev-db-x1",
            DBInstanceClass="db.t4g.micro",
            Engine="postgres",
            MasterUsername="stratus",
            MasterUserPassword="not-a-real-password",
            AllocatedStorage=20,
        )
        cloudformation = session.client("cloudformation")
        _stack(
            cloudformation,
            "stratus-dev-stateful",
            {
                outputs.secret_arn("signing-keys"): signing,
                outputs.DATABASE_INSTANCE: "stratus-dev-db-x1",
            },
        )
        _stack(
            cloudformation,
            "stratus-dev-api",
            {
                outputs.queue_url("ingest"): queue,
                outputs.dead_letter_url("ingest"): dlq,
                outputs.function_name("documents-create"): "stratus-dev-DocumentsCreate-x1",
                outputs.function_name("documents-ingest"): "stratus-dev-DocumentsIngest-x1",
            },
        )
        yield deployed_target("dev", session)


def test_a_stage_is_found_by_its_stack_outputs(stage):
    assert stage.output(outputs.queue_url("ingest")).endswith("stratus-dev-Ingest-x1")
    with pytest.raises(OpsError, match="not in the outputs of the stratus-dev stacks"):
        stage.output(outputs.queue_url("nope"))


def test_a_missing_stack_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws(), pytest.raises(OpsError, match="cannot read stack stratus-prod-stateful"):
        resolve("prod")
    with pytest.raises(OpsError, match="unknown STAGE=qa"):
        resolve("qa")


def test_redrive_moves_the_dead_letters_back_with_their_request_id(stage):
    sqs = stage.client("sqs")
    dlq = stage.output(outputs.dead_letter_url("ingest"))
    for n in range(12):  # more than one receive's worth
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=json.dumps({"n": n}),
            MessageAttributes={"request_id": {"DataType": "String", "StringValue": f"req-{n}"}},
        )
    done = redrive.redrive(stage, "ingest")
    assert (done.moved, done.left) == (12, 0)
    received = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=stage.output(outputs.queue_url("ingest")),
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        received += batch
    assert sorted(json.loads(m["Body"])["n"] for m in received) == list(range(12))
    assert {m["MessageAttributes"]["request_id"]["StringValue"] for m in received} == {
        f"req-{n}" for n in range(12)
    }


def test_the_signing_key_rotates_in_the_stage_secret(stage):
    secrets = stage.client("secretsmanager")
    arn = stage.output(outputs.secret_arn("signing-keys"))
    rotation = keys.rotate(stage, "signing")
    ring = parse(secrets.get_secret_value(SecretId=arn)["SecretString"])
    assert (rotation.previous_kid, rotation.current_kid) == ("k1", "k2")
    assert ring.current_kid == "k2" and set(ring.keys) == {"k1", "k2"}
    keys.retire(stage, "signing")
    ring = parse(secrets.get_secret_value(SecretId=arn)["SecretString"])
    assert set(ring.keys) == {"k2"}
    with pytest.raises(OpsError, match="not in the outputs"):
        keys.rotate(stage, "cursor")  # this fake stage has no cursor-keys output


def test_restore_to_a_point_in_time_makes_a_new_instance_beside_the_old(stage):
    said = backup.restore(stage, "2026-12-01T23:30:00Z")
    assert "stratus-dev-db-x1-pitr-202612012330" in said
    instances = {
        i["DBInstanceIdentifier"]
        for i in stage.client("rds").describe_db_instances()["DBInstances"]
    }
    assert instances == {"stratus-dev-db-x1", "stratus-dev-db-x1-pitr-202612012330"}
    with pytest.raises(OpsError, match="say the zone"):
        backup.restore(stage, "2026-12-01T23:30:00")


def test_trace_reads_the_function_log_groups_named_by_the_outputs(stage):
    logs = stage.client("logs")
    now = int(time.time() * 1000)
    lines = {
        "stratus-dev-DocumentsCreate-x1": [
            {
                "message": "Document created",
                "correlation_id": "req-9",
                "document_id": "d-1",
                "function_name": "documents-create",
                "timestamp": "2026-12-02 01:00:00,000",
            },
            {
                "message": "unrelated",
                "correlation_id": "req-8",
                "function_name": "documents-create",
                "timestamp": "2026-12-02 01:00:00,500",
            },
        ],
        "stratus-dev-DocumentsIngest-x1": [
            {
                "message": "Document ready",
                "correlation_id": "s3-msg-1",
                "document_id": "d-1",
                "function_name": "documents-ingest",
                "timestamp": "2026-12-02 01:00:01,000",
            },
            {
                "message": "Message queued",
                "correlation_id": "s3-msg-1",
                "queue": "notifications",
                "function_name": "documents-ingest",
                "timestamp": "2026-12-02 01:00:01,100",
            },
        ],
    }
    for function, events in lines.items():
        group = f"/aws/lambda/{function}"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="s")
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[
                {"timestamp": now + i, "message": json.dumps(e)} for i, e in enumerate(events)
            ],
        )
    found = trace(stage, "req-9")
    assert [line["message"] for line in found.lines] == [
        "Document created",
        "Document ready",
        "Message queued",
    ]
