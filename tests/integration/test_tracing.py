"""X-Ray where tracing is on: a subsegment for each SQL statement (aws-xray-sdk's pg8000
patch), each Redis command (shared.platform.cache) and each AWS call (the botocore patch), and
the request id as an annotation. Recorded by the SDK itself into an in-memory emitter, in a
subprocess: patching is process-wide and must not leak into the other tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from functions.registry import REPO_ROOT

pytestmark = pytest.mark.integration

SCRIPT = r"""
import json, os, sys
from aws_xray_sdk.core import patch, xray_recorder
from aws_xray_sdk.core.context import Context

class Memory:
    def __init__(self):
        self.entities = []
    def send_entity(self, entity):
        self.entities.append(json.loads(entity.serialize()))
    def set_daemon_address(self, address):
        pass

memory = Memory()
xray_recorder.configure(emitter=memory, sampling=False, context=Context(),
                        context_missing="LOG_ERROR", service="stratus-test")
patch(["pg8000", "botocore"])  # what Function.traced_modules names for these needs

import boto3, redis
from botocore.stub import Stubber
from sqlalchemy import create_engine, text
from shared.platform.cache import trace_commands
from shared.platform.observability import set_request_id

engine = create_engine(os.environ["PG_URL"])
client = redis.Redis.from_url(os.environ["REDIS_URL"])
trace_commands(client)
xray_recorder.begin_segment("documents-search")
xray_recorder.begin_subsegment("## handler")
set_request_id("req-xray-1")
with engine.connect() as connection:
    connection.execute(text("SELECT 1"))
client.set("stratus:xray-test", "1", ex=5)
sqs = boto3.client("sqs", region_name="us-east-1")
with Stubber(sqs) as stub:  # the call goes through the patched client, never the network
    stub.add_response("list_queues", {"QueueUrls": []})
    sqs.list_queues()
xray_recorder.end_subsegment()
xray_recorder.end_segment()
print(json.dumps(memory.entities))
"""


def _walk(entity):
    yield entity
    for child in entity.get("subsegments", []):
        yield from _walk(child)


def test_sql_redis_and_aws_calls_are_subsegments_of_the_request(pg_url, redis_url):
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "PG_URL": pg_url,
        "REDIS_URL": redis_url,
        "AWS_LAMBDA_FUNCTION_NAME": "documents-search",  # tracing on, as in Lambda
        "POWERTOOLS_TRACE_DISABLED": "false",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (segment,) = json.loads(done.stdout.strip().splitlines()[-1])
    entities = list(_walk(segment))
    (handler,) = [e for e in entities if e.get("name") == "## handler"]
    assert handler["annotations"] == {"request_id": "req-xray-1"}
    # A subsegment per SQL statement, with the database's details and never the statement's
    sql = [e for e in entities if "sql" in e]
    assert sql and all(e["namespace"] == "remote" for e in sql)
    assert all("sanitized_query" not in e["sql"] for e in sql)
    # One per Redis command, named by its command only
    (command,) = [e for e in entities if e.get("name") == "redis"]
    assert command["annotations"] == {"redis_command": "SET"}
    assert "stratus:xray-test" not in json.dumps(command)
    # One per AWS call, with its operation
    (aws,) = [e for e in entities if e.get("namespace") == "aws"]
    assert (aws["name"], aws["aws"]["operation"]) == ("sqs", "ListQueues")
