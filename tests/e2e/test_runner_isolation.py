"""The runner proves the grants: each function in its own processes, with the environment and
the AWS access its declaration earns, its own module state, and its timeout enforced."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from local.isolation import MAX_ENVIRONMENTS, FunctionError, IsolatedInvoker, UndeclaredAccess
from local.runner import RunnerConfig
from tests.e2e.conftest import start_runner
from tests.support.registries import make_registry

pytestmark = pytest.mark.e2e

#: One function that does what its event says: read its environment, count its invocations in
#: a module variable, call AWS, sleep.
PROBE = """
import os
import time
from typing import Any

from shared.platform import aws
from shared.platform.declare import Function, ScheduleTrigger, bucket, queue, secret

INVOCATIONS = 0


class Odd(Exception):
    def __init__(self, *, why: str) -> None:
        super().__init__(why)


class Probe(Function):
    def invoke(self, event: dict[str, Any], context: Any) -> Any:
        global INVOCATIONS
        INVOCATIONS += 1
        action = event["do"]
        if action == "state":
            return {"invocations": INVOCATIONS, "pid": os.getpid()}
        if action == "env":
            return dict(os.environ)
        if action == "sleep":
            time.sleep(event["seconds"])
            return os.getpid()
        if action == "queue":
            sqs = aws.client("sqs")
            url = sqs.get_queue_url(QueueName="stratus-local-jobs")["QueueUrl"]
            return sqs.send_message(QueueUrl=url, MessageBody="{}")["MessageId"]
        if action == "list":
            found = aws.client("s3").list_objects_v2(Bucket=os.environ["UPLOADS_BUCKET"])
            return found["KeyCount"]
        if action == "odd":
            raise Odd(why="an error that pickle cannot rebuild")
        if action == "missing":
            aws.client("s3").get_object(Bucket=os.environ["UPLOADS_BUCKET"], Key="no/such/key")
        if action == "put":
            aws.client("s3").put_object(Bucket="stratus-local-uploads", Key="x", Body=b"x")
            return "put"
        if action == "secret":
            value = aws.client("secretsmanager").get_secret_value(SecretId=event["id"])
            return len(value["SecretString"])
        raise ValueError(action)


function = Probe(trigger=ScheduleTrigger("rate(1 hour)"), needs=NEEDS, timeout_seconds=1)
handler = function.handler
"""

WORKER = """
from pydantic import BaseModel

from shared.platform.worker import QueueWorker


class Job(BaseModel):
    n: int


worker = QueueWorker(queue="jobs", model=Job)


@worker.record_handler
def process(job: Job) -> None:
    pass


function = worker
handler = worker.handler
"""


def probe(needs: str) -> str:
    return PROBE.replace("needs=NEEDS", f"needs={needs}")


@pytest.fixture(scope="module")
def isolated(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("isolation")
    registry = make_registry(
        tmp,
        {
            "demo/reader": probe('(bucket("uploads", "read"), secret("cursor-keys"))'),
            "demo/sender": probe('(queue("jobs"),)'),
            "demo/worker": WORKER,
        },
    )
    # The session's PostgreSQL: no initdb for a runner that needs no database of its own
    config = RunnerConfig(
        port=0,
        state_dir=tmp / "state",
        schedules=False,
        database_url=request.getfixturevalue("pg_url"),
    )
    runner = start_runner(registry, config)
    yield runner
    runner.stop()


def run(runner, name: str, **event):
    return runner.invoke(runner.registry[name], event, quiet=True)


def test_a_call_to_a_queue_the_function_did_not_declare_fails_naming_the_missing_need(isolated):
    # Given demo-reader, which needs the uploads bucket and the cursor keys, but no queue
    # When it sends to the jobs queue anyway (found by name, as a shortcut would)
    outcome = run(isolated, "demo-reader", do="queue")
    # Then the call is refused as IAM refuses it, and the message names the need to add
    assert isinstance(outcome.error, UndeclaredAccess)
    assert outcome.error.response["Error"]["Code"] == "AccessDeniedException"
    assert str(outcome.error).endswith(
        "functions/demo/reader: sqs:GetQueueUrl on queue 'jobs' is not declared"
        " (add queue('jobs') to its needs)"
    )
    # And nothing reached the queue
    sqs = isolated.provisioned
    import boto3

    client = boto3.Session().client("sqs", endpoint_url=isolated.moto.endpoint)
    attributes = client.get_queue_attributes(
        QueueUrl=sqs.queue_urls["jobs"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    # While the function that declares the queue sends to it
    sent = run(isolated, "demo-sender", do="queue")
    assert sent.error is None and sent.result


def test_a_bucket_level_and_a_secret_beyond_the_declaration_are_refused(isolated):
    # Given demo-reader's bucket("uploads", "read") and secret("cursor-keys")
    assert run(isolated, "demo-reader", do="list").result == 0
    cursor_arn = isolated.provisioned.secret_arns["cursor-keys"]
    assert run(isolated, "demo-reader", do="secret", id=cursor_arn).error is None
    # When it writes to the bucket, or reads the token-signing keys
    put = run(isolated, "demo-reader", do="put")
    signing = run(isolated, "demo-reader", do="secret", id="stratus-local-signing-keys")
    # Then each fails with the need that would grant it
    assert "s3:PutObject on bucket 'uploads' is not declared (add bucket('uploads', 'write')" in (
        str(put.error)
    )
    assert (
        "secretsmanager:GetSecretValue on secret 'signing-keys' is not declared"
        " (add secret('signing-keys') to its needs)"
    ) in str(signing.error)


def test_errors_come_back_to_the_runner_as_lambda_reports_them(isolated):
    # When demo-reader reads a key that is not in the bucket it may read
    missing = run(isolated, "demo-reader", do="missing")
    # Then the AWS error of that declared call reaches the runner, with its code
    assert isinstance(missing.error, ClientError)
    assert missing.error.response["Error"]["Code"] == "NoSuchKey"
    # And an error that cannot travel as itself arrives as its type and message
    odd = run(isolated, "demo-reader", do="odd")
    assert isinstance(odd.error, FunctionError)
    assert (odd.error.error_type, str(odd.error)) == ("Odd", "an error that pickle cannot rebuild")
    # And the function's environment survived both
    assert run(isolated, "demo-reader", do="list").error is None


def test_a_function_sees_its_own_environment_and_not_another_ones(isolated):
    # When each function reports its environment
    reader = run(isolated, "demo-reader", do="env").result
    sender = run(isolated, "demo-sender", do="env").result
    # Then each has the addresses of its own needs only
    assert reader["UPLOADS_BUCKET"] == isolated.provisioned.buckets["uploads"]
    assert reader["CURSOR_KEYS_SECRET_ARN"] == isolated.provisioned.secret_arns["cursor-keys"]
    assert sender["JOBS_QUEUE_URL"] == isolated.provisioned.queue_urls["jobs"]
    for absent in ("JOBS_QUEUE_URL", "SIGNING_KEYS_SECRET_ARN", "DATABASE_URL", "REDIS_URL"):
        assert absent not in reader, absent
        assert absent in os.environ  # the runner has them all
    for absent in ("UPLOADS_BUCKET", "CURSOR_KEYS_SECRET_ARN", "DATABASE_URL", "REDIS_URL"):
        assert absent not in sender, absent
    # And what the CDK app sets on every function, with the service from the folder
    assert reader["STAGE"] == "local"
    assert reader["POWERTOOLS_SERVICE_NAME"] == "demo"


def test_module_state_is_per_function_and_kept_between_invocations(isolated):
    # When two functions from the same code are invoked, one of them twice
    first = run(isolated, "demo-sender", do="state").result
    second = run(isolated, "demo-sender", do="state").result
    other = run(isolated, "demo-reader", do="state").result
    # Then each counts in its own process, and a warm one keeps its count
    assert second["invocations"] == first["invocations"] + 1
    assert second["pid"] == first["pid"] != other["pid"] != os.getpid()
    # And the runner's own copy of the module was never touched
    module = isolated.registry["demo-sender"].module
    assert module.INVOCATIONS == 0


def test_concurrent_invocations_get_environments_of_their_own_up_to_a_cap(isolated):
    # When six invocations of one function run at once
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(
            pool.map(lambda _: run(isolated, "demo-sender", do="sleep", seconds=0.3), range(6))
        )
    # Then all succeed, on more than one process but no more than the runner's cap
    assert all(o.error is None for o in outcomes)
    pids = {o.result for o in outcomes}
    assert 1 < len(pids) <= MAX_ENVIRONMENTS
    assert len(isolated.isolation.children("demo-sender")) <= MAX_ENVIRONMENTS


def test_a_function_past_its_timeout_is_killed_and_answered_as_lambda_answers(isolated):
    # Given a warm demo-reader (timeout 1 s)
    before = run(isolated, "demo-reader", do="state").result
    # When an invocation sleeps past the timeout
    started = time.monotonic()
    outcome = run(isolated, "demo-reader", do="sleep", seconds=30)
    elapsed = time.monotonic() - started
    # Then it is answered at the timeout, with Lambda's error, and its process is gone
    assert outcome.result is None
    assert isinstance(outcome.error, TimeoutError)
    assert str(outcome.error) == "Task timed out after 1.00 seconds"
    assert elapsed < 5
    _wait_gone(before["pid"])
    # And the next invocation runs in a fresh execution environment
    after = run(isolated, "demo-reader", do="state").result
    assert after["pid"] != before["pid"]
    assert after["invocations"] == 1


def test_a_runner_stops_its_processes_while_another_one_holds_copies_of_its_sockets(isolated):
    # Given two runners' invokers in one process (as the test suites run them), the second's
    # zygote forked while the first's sockets were open
    registry = isolated.registry
    first = IsolatedInvoker(registry, warm=False)
    first.start()
    second = IsolatedInvoker(registry, warm=False)
    second.start()
    try:
        child = first.invoke(registry["demo-sender"], {"do": "state"}, quiet=True).result["pid"]
        zygote = first.zygote.pid
        # When the first stops
        started = time.monotonic()
        first.stop()
        # Then it does so at once, and its zygote and child are gone
        assert time.monotonic() - started < 5
        _wait_gone(zygote)
        _wait_gone(child)
        # And the second still serves
        assert second.invoke(registry["demo-sender"], {"do": "state"}, quiet=True).error is None
    finally:
        second.stop()


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid), pid


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
