"""Webhooks end to end: the local runner delivers for real over HTTP to a receiver on
127.0.0.1, which verifies every call with the ``standardwebhooks`` library. Retries after a
500 and a timeout, 410 disabling the endpoint, rotation with both signatures, one call per
event when SQS delivers a message again, and the address check at registration. The runner
allows loopback receivers (``WEBHOOKS_ALLOW_LOOPBACK=1``), shortens the retry schedule
(``WEBHOOK_RETRY_SCALE``) and the timeout (``WEBHOOK_TIMEOUT_SECONDS``)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import boto3
import httpx
import pytest
from sqlalchemy import create_engine, select

from functions.registry import discover
from local.runner import LocalRunner, RunnerConfig
from local.webhook_listen import Receiver
from shared.platform.db import normalize_url
from tests.e2e.conftest import start_runner
from tests.support.api import Account, sign_up
from tests.support.services import server_folder
from tests.unit.test_webhook_ssrf import LOOPBACK_SPELLINGS, REFUSED_LITERALS

pytestmark = pytest.mark.e2e

T = TypeVar("T")
TIMEOUT_SECONDS = 1.0


@pytest.fixture(scope="module")
def hooks_stack(request) -> Iterator[LocalRunner]:
    config = RunnerConfig(
        port=0,
        state_dir=server_folder("stratus-webhooks-"),
        database_url=request.getfixturevalue("pg_url"),
        redis_url=request.getfixturevalue("redis_url"),
        function_env={
            "RATE_LIMIT_PER_MINUTE": "100000",
            "WEBHOOKS_ALLOW_LOOPBACK": "1",
            "WEBHOOK_RETRY_SCALE": "0.0001",
            "WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            **request.getfixturevalue("vector_env"),
        },
        schedules=False,
    )
    runner = start_runner(discover(), config)
    yield runner
    runner.stop()


@pytest.fixture
def api(hooks_stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hooks_stack.url, timeout=30) as http:
        yield http


def eventually(probe: Callable[[], T], *, what: str, timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(0.1)


def register(api: httpx.Client, account: Account, url: str, events=("user.updated",)) -> dict:
    created = api.post(
        "/webhooks", json={"url": url, "events": list(events)}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    return created.json()


def touch(api: httpx.Client, account: Account, request_id: str | None = None) -> None:
    """Cause a ``user.updated`` event (a new name)."""
    headers = {**account.headers, **({"X-Request-Id": request_id} if request_id else {})}
    changed = api.patch(
        f"/users/{account.id}", json={"name": uuid.uuid4().hex[:8]}, headers=headers
    )
    assert changed.status_code == 200, changed.text


def deliveries(api: httpx.Client, account: Account, webhook_id: str) -> list[dict]:
    listed = api.get(f"/webhooks/{webhook_id}/deliveries", headers=account.headers)
    assert listed.status_code == 200, listed.text
    items: list[dict] = listed.json()["items"]
    return items


def settled(api: httpx.Client, account: Account, webhook_id: str, status: str) -> list[dict]:
    return eventually(
        lambda: [d for d in deliveries(api, account, webhook_id) if d["status"] == status],
        what=f"a {status} delivery",
    )


def test_a_delivery_is_signed_logged_and_carries_the_request_id(api, hooks_stack):
    # Given a member with a webhook on a receiver that knows its secret
    account = sign_up(api)
    with Receiver() as receiver:
        created = register(api, account, receiver.url)
        receiver.secrets = [created["secret"]]
        assert set(created["webhook"]) == {
            "id", "url", "events", "description", "is_active", "disabled_reason",
            "created_at", "updated_at",
        }  # fmt: skip
        # When the member changes its name, under a request id of its own
        touch(api, account, request_id="webhook-e2e-1")
        # Then one call arrives, and the library verifies it
        (call,) = receiver.wait_for(1)
        assert call.verified_with == [0]
        assert call.payload["type"] == "user.updated"  # type: ignore[index]
        assert call.payload["data"]["user_id"] == account.id  # type: ignore[index]
        (logged,) = settled(api, account, created["webhook"]["id"], "succeeded")
    assert set(logged) == {
        "id", "event_id", "event", "status", "attempts", "response_status",
        "next_attempt_at", "created_at",
    }  # fmt: skip
    assert (logged["attempts"], logged["response_status"]) == (1, 200)
    assert (logged["event"], logged["next_attempt_at"]) == ("user.updated", None)
    assert call.headers["webhook-id"] == logged["event_id"]
    # And the delivery recorded the request that caused the event
    engine = create_engine(normalize_url(str(hooks_stack.config.database_url)))
    from shared.webhooks.models import WebhookAttempt, WebhookDelivery

    with engine.connect() as conn:
        request_id = conn.execute(
            select(WebhookDelivery.request_id).where(WebhookDelivery.id == uuid.UUID(logged["id"]))
        ).scalar_one()
        attempt = conn.execute(
            select(WebhookAttempt.state).where(
                WebhookAttempt.delivery_id == uuid.UUID(logged["id"])
            )
        ).scalar_one()
    engine.dispose()
    assert (request_id, attempt) == ("webhook-e2e-1", "succeeded")


def test_a_500_and_a_timeout_are_retried_with_the_same_id_until_a_2xx(api):
    account = sign_up(api)
    with Receiver() as receiver:
        created = register(api, account, receiver.url)
        receiver.secrets = [created["secret"]]
        # Given a receiver that fails, then stalls past the timeout, then answers
        script = {1: (500, 0.0), 2: (200, TIMEOUT_SECONDS + 1.5)}
        receiver.answer = lambda delivery, count: script.get(count, (204, 0.0))
        touch(api, account)
        calls = receiver.wait_for(3, timeout=30)
        (logged,) = settled(api, account, created["webhook"]["id"], "succeeded")
    # Then every attempt carried the same event id and a valid signature
    assert len({c.headers["webhook-id"] for c in calls}) == 1
    assert all(c.verified_with == [0] for c in calls)
    assert (logged["attempts"], logged["response_status"]) == (3, 204)
    assert len(receiver.deliveries) == 3  # nothing after the success


def test_a_410_disables_the_endpoint_and_tells_its_owner(api):
    account = sign_up(api)
    with Receiver() as receiver:
        created = register(api, account, receiver.url)
        receiver.answer = lambda delivery, count: (410, 0.0)
        touch(api, account)
        settled(api, account, created["webhook"]["id"], "failed")
        touch(api, account)  # a second event goes nowhere: the endpoint is disabled
        time.sleep(1.0)
        assert len(receiver.deliveries) == 1
    hook = api.get(f"/webhooks/{created['webhook']['id']}", headers=account.headers).json()
    assert hook["is_active"] is False and "410" in hook["disabled_reason"]
    notes = eventually(
        lambda: [
            n
            for n in api.get("/notifications", headers=account.headers).json()["items"]
            if n["kind"] == "account_changed"
        ],
        what="the account_changed notification",
    )
    assert "disabled" in notes[0]["body"]


def test_after_a_rotation_both_secrets_verify_each_delivery(api):
    account = sign_up(api)
    with Receiver() as receiver:
        created = register(api, account, receiver.url)
        rotated = api.post(
            f"/webhooks/{created['webhook']['id']}/rotate-secret", headers=account.headers
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != created["secret"] and new.startswith("whsec_")
        receiver.secrets = [created["secret"], new]
        touch(api, account)
        (call,) = receiver.wait_for(1)
    assert call.verified_with == [0, 1]
    assert len(call.headers["webhook-signature"].split(" ")) == 2


def test_a_redelivered_message_makes_no_second_call(api, hooks_stack):
    account = sign_up(api)
    with Receiver() as receiver:
        created = register(api, account, receiver.url)
        touch(api, account)
        receiver.wait_for(1)
        (logged,) = settled(api, account, created["webhook"]["id"], "succeeded")
        # When SQS delivers the dispatch message again, twice (as at-least-once delivery may)
        sqs = boto3.Session().client("sqs", endpoint_url=hooks_stack.moto.endpoint)  # type: ignore[union-attr]
        body = json.dumps({"delivery_id": logged["id"], "attempt": 1})
        for _ in range(2):
            sqs.send_message(
                QueueUrl=hooks_stack.provisioned.queue_urls["webhooks"], MessageBody=body
            )
        # And the recorder gets the outcome again
        outcome = json.dumps({"delivery_id": logged["id"], "attempt": 1, "status": 500})
        sqs.send_message(
            QueueUrl=hooks_stack.provisioned.queue_urls["webhook-outcomes"], MessageBody=outcome
        )
        time.sleep(2.0)  # the pollers take each message within a second
        # Then the receiver was called once, and the log still says one successful attempt
        assert len(receiver.deliveries) == 1
    (after,) = deliveries(api, account, created["webhook"]["id"])
    assert (after["status"], after["attempts"], after["response_status"]) == ("succeeded", 1, 200)


@pytest.mark.parametrize(
    "url",
    [u for u in REFUSED_LITERALS if u not in LOOPBACK_SPELLINGS]
    + ["http://10.1.2.3:8080/", "https://[::ffff:10.0.0.1]/"],
)
def test_registration_refuses_non_public_addresses(api, url):
    account = _member(api)
    refused = api.post(
        "/webhooks", json={"url": url, "events": ["user.updated"]}, headers=account.headers
    )
    # loopback spellings pass only because this runner allows loopback: none is listed here
    assert refused.status_code == 422, (url, refused.text)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["loc"] == ["body", "url"]


_MEMBER: list[Account] = []


def _member(api: httpx.Client) -> Account:
    if not _MEMBER:
        _MEMBER.append(sign_up(api))
    return _MEMBER[0]


def test_a_documents_life_reaches_its_owners_endpoint(api):
    # Given a member subscribed to its documents' events
    account = sign_up(api)
    with Receiver() as receiver:
        created = register(
            api, account, receiver.url, events=("document.ready", "document.deleted")
        )
        receiver.secrets = [created["secret"]]
        # When a text document is ingested, then deleted
        document = api.post(
            "/documents/text",
            json={"title": "Hooked", "text": "A note that the ingest worker indexes."},
            headers=account.headers,
        )
        assert document.status_code == 201, document.text
        document_id = document.json()["id"]
        receiver.wait_for(1, timeout=30)
        deleted = api.delete(f"/documents/{document_id}", headers=account.headers)
        assert deleted.status_code == 204
        calls = receiver.wait_for(2)
    # Then both events arrived, signed, with ids and status and nothing of the text
    payloads = [c.payload for c in calls]
    assert [(p["type"], p["data"]["status"]) for p in payloads] == [  # type: ignore[index]
        ("document.ready", "ready"),
        ("document.deleted", "deleted"),
    ]
    assert all(p["data"]["document_id"] == document_id for p in payloads)  # type: ignore[index]
    assert all(c.verified_with == [0] for c in calls)
    assert not any("indexes" in c.body or "Hooked" in c.body for c in calls)
