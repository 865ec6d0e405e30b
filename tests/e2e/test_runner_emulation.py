"""The local runner emulates API Gateway, the authorizer, SQS and EventBridge as AWS does,
shown with a registry of test functions (the real ones come with their issues)."""

from __future__ import annotations

import json
import time

import boto3
import httpx
import pytest

from local.runner import RunnerConfig
from tests.e2e.conftest import start_runner
from tests.support.registries import ROLE_AUTHORIZER, ROLE_USER, make_registry

pytestmark = pytest.mark.e2e

USER = ROLE_USER
AUTHORIZER = ROLE_AUTHORIZER

WHOAMI = """
from shared.platform.http import CurrentPrincipal, HttpFunction

function = HttpFunction(method="GET", path="/whoami/{item_id}", roles=("admin",))


@function.endpoint
async def whoami(item_id: str, principal: CurrentPrincipal) -> dict:
    \"\"\"Who is calling.\"\"\"
    return {"user": str(principal.user_id), "role": principal.role, "item": item_id}


handler = function.handler
"""

BOOM = """
from shared.platform.http import HttpFunction

function = HttpFunction(method="GET", path="/boom", auth=False)


@function.endpoint
async def boom() -> dict:
    \"\"\"Fail.\"\"\"
    raise KeyError("secret-internal-detail")


handler = function.handler
"""

WORKER = """
from pydantic import BaseModel

from shared.platform import cache
from shared.platform.declare import CACHE
from shared.platform.worker import QueueWorker


class Job(BaseModel):
    n: int


worker = QueueWorker(
    queue="jobs", model=Job, batch_size=10, max_receive_count=2,
    visibility_timeout_seconds=1, timeout_seconds=1, needs=(CACHE,),
)


@worker.record_handler
def process(job: Job) -> None:
    if job.n == 13:
        raise ValueError("13 is poison")
    cache.redis().rpush("e2e:processed", job.n)


function = worker
handler = worker.handler
"""

JOB = """
from shared.platform.jobs import ScheduledJob

job = ScheduledJob(schedule="rate(1 hour)")


@job.run
def tick() -> dict:
    return {"ticked": True}


function = job
handler = job.handler
"""


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registry")
    registry = make_registry(
        tmp,
        {
            "auth/authorizer": AUTHORIZER,
            "demo/whoami": WHOAMI,
            "demo/boom": BOOM,
            "demo/worker": WORKER,
            "demo/tick": JOB,
        },
    )
    runner = start_runner(registry, RunnerConfig(port=0, state_dir=tmp / "state"))
    yield runner
    runner.stop()


@pytest.fixture
def api(emulated):
    with httpx.Client(base_url=emulated.url, timeout=10) as client:
        yield client


def test_a_handler_that_raises_is_a_500_problem_with_the_request_id_and_no_trace(api):
    response = api.get("/boom", headers={"X-Request-Id": "req-boom"})
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["request_id"] == "req-boom" == response.headers["X-Request-Id"]
    for leak in ("secret-internal-detail", "KeyError", "Traceback", "boom.py"):
        assert leak not in response.text


def test_a_protected_route_without_a_token_is_401_before_any_function_runs(api):
    response = api.get(f"/whoami/{USER}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["status"] == 401


def test_a_token_the_authorizer_rejects_is_401(api):
    response = api.get("/whoami/x", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_deny_policy_is_403(api):
    response = api.get("/whoami/x", headers={"Authorization": "Bearer deny"})
    assert response.status_code == 403
    assert response.json()["title"] == "Forbidden"


def test_the_authorizer_context_reaches_the_function(api):
    response = api.get("/whoami/item-7", headers={"Authorization": "Bearer admin"})
    assert response.status_code == 200
    assert response.json() == {"user": USER, "role": "admin", "item": "item-7"}


def test_a_role_outside_the_declared_ones_is_403(api):
    response = api.get("/whoami/x", headers={"Authorization": "Bearer member"})
    assert response.status_code == 403


def test_a_poison_message_is_dead_lettered_while_the_rest_of_its_batch_succeeds(emulated):
    # Given three messages in one batch, one of which always fails
    sqs = boto3.Session().client("sqs", endpoint_url=emulated.moto.endpoint)
    url = emulated.provisioned.queue_urls["jobs"]
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(n), "MessageBody": json.dumps({"n": n})} for n in (1, 13, 2)],
    )
    from shared.platform import cache

    redis = cache.redis()
    dlq = emulated.provisioned.dlq_urls["jobs"]
    # When the runner's poller feeds the worker (visibility 1 s, maxReceiveCount 2)
    deadline = time.monotonic() + 20
    dead: list = []
    while time.monotonic() < deadline and not dead:
        time.sleep(0.5)
        dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    # Then the good ones were processed once, and were not held back by the poison one
    assert sorted(int(n) for n in redis.lrange("e2e:processed", 0, -1)) == [1, 2]
    # And the poison one is in the dead-letter queue, nothing is left in the source queue
    assert [json.loads(m["Body"]) for m in dead] == [{"n": 13}]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_a_scheduled_job_runs_on_demand(api):
    response = api.post("/__local/jobs/demo-tick")
    assert response.status_code == 200
    assert response.json()["result"] == {"ticked": True}


def test_the_runner_openapi_document_has_the_test_routes_with_bearer_security(api):
    doc = api.get("/openapi.json").json()
    assert doc["paths"]["/whoami/{item_id}"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in doc["paths"]["/boom"]["get"]
    assert "403" in doc["paths"]["/whoami/{item_id}"]["get"]["responses"]
