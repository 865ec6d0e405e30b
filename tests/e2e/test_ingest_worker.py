"""The ingest worker's delivery guarantees, with the runner's resources on real Postgres and
Redis but no pollers, so the test decides what is delivered, when and how often."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from sqlalchemy import func, select

from functions.registry import discover
from local.invoke import invoke
from local.queues import QueuePoller
from shared.platform.declare import QueueTrigger
from tests.support.events import sqs_event as support_sqs_event
from tests.support.outbox import drain, pending_effects, run_relay

pytestmark = pytest.mark.e2e

REGISTRY = discover()
TEXT = "The quarterly budget review found that travel costs rose while hardware costs fell. " * 40


@pytest.fixture(scope="module")
def env(services):
    return services


def new_document(env, text: str = TEXT, *, prefix: str = "uploads") -> tuple[str, str]:
    """A queued document whose object is in S3 (under ``uploads/`` its notification waits in
    the queue; under another prefix S3 sends none)."""
    from shared.documents.models import Document
    from shared.platform import db

    owner, document_id = uuid.uuid4(), uuid.uuid4()
    key = f"{prefix}/{owner}/{document_id}"
    with db.session_scope() as session:
        session.add(
            Document(
                id=document_id,
                owner_id=owner,
                title="Budget",
                filename="budget.txt",
                content_type="text/plain",
                size_bytes=len(text.encode()),
                s3_key=key,
                status="queued",
            )
        )
    s3 = boto3.Session().client("s3", endpoint_url=env.moto.endpoint)
    s3.put_object(Bucket=env.provisioned.buckets["uploads"], Key=key, Body=text.encode())
    return str(document_id), key


def s3_body(env, key: str) -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": env.provisioned.buckets["uploads"]},
                        "object": {"key": key, "size": 1},
                    },
                }
            ]
        }
    )


def sqs_event(*bodies: str) -> dict:
    return support_sqs_event(*bodies, queue="ingest")


def counts(document_id: str) -> tuple[str, int, int]:
    from shared.documents.models import Chunk, Document
    from shared.platform import db
    from tests.support.services import stored_vectors

    with db.session_scope() as session:
        document = session.get(Document, uuid.UUID(document_id))
        assert document is not None
        chunks = session.scalar(
            select(func.count()).select_from(Chunk).where(Chunk.document_id == document.id)
        )
        vectors = stored_vectors(str(document.owner_id), document_id)
        return document.status, chunks or 0, vectors


def test_the_same_message_delivered_twice_leaves_one_set_of_chunks(env):
    document_id, key = new_document(env)
    worker = REGISTRY["documents-ingest"]
    # When one batch carries the same notification twice, and it is then delivered again
    first = invoke(worker, sqs_event(s3_body(env, key), s3_body(env, key)))
    again = invoke(worker, sqs_event(s3_body(env, key)))
    # Then every record succeeded and the document has exactly one set of chunks and vectors
    assert first.result == {"batchItemFailures": []}
    assert again.result == {"batchItemFailures": []}
    status, chunks, vectors = counts(document_id)
    assert status == "ready"
    assert chunks > 1
    assert vectors == chunks


def test_two_deliveries_at_once_leave_one_set_of_chunks(env):
    document_id, key = new_document(env)
    worker = REGISTRY["documents-ingest"]
    start = threading.Barrier(4)

    def deliver() -> object:
        start.wait()
        outcome = invoke(worker, sqs_event(s3_body(env, key)))
        # a batch whose every record failed raises, as Lambda reports it
        return "retried" if outcome.error is not None else outcome.result

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: deliver(), range(4)))
    # Then one delivery ingested it; one that found it being ingested failed its record (SQS
    # delivers it again later, never deleting work that may still be lost)
    assert {"batchItemFailures": []} in results
    assert all(r in ({"batchItemFailures": []}, "retried") for r in results)
    status, chunks, vectors = counts(document_id)
    assert status == "ready"
    assert chunks == vectors > 1
    # And those redelivered find it ready: acknowledged, nothing changed
    again = invoke(worker, sqs_event(s3_body(env, key)))
    assert again.result == {"batchItemFailures": []}
    assert counts(document_id) == (status, chunks, vectors)


def test_a_poison_message_is_dead_lettered_while_its_batch_succeeds(env):
    # Given the ingest queue with a one-second visibility and two receives before redrive
    sqs = boto3.Session().client("sqs", endpoint_url=env.moto.endpoint)
    url, dlq = env.provisioned.queue_urls["ingest"], env.provisioned.dlq_urls["ingest"]
    sqs.purge_queue(QueueUrl=url)
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )
    document_id, key = new_document(env, prefix="unnotified")  # the test sends the message
    # When a batch holds a good notification and a poison one
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "good", "MessageBody": s3_body(env, key)},
            {"Id": "poison", "MessageBody": "{not an S3 event"},
        ],
    )
    trigger = QueueTrigger(queue="ingest", batch_size=10, max_receive_count=2)
    poller = QueuePoller(
        REGISTRY["documents-ingest"], trigger, url, sqs, threading.Event(), wait_seconds=1
    )
    import time

    deadline = time.monotonic() + 20
    dead: list = []
    while time.monotonic() < deadline and not dead:
        poller.drain_once()
        dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        time.sleep(0.5)
    # Then the good one was ingested once and the poison one is in the dead-letter queue
    assert counts(document_id)[0] == "ready"
    assert [m["Body"] for m in dead] == ["{not an S3 event"]


# ---- outcomes that are never lost (the outbox) -------------------------------------------------


def new_user() -> uuid.UUID:
    from shared.platform import db
    from shared.users.models import User

    user_id = uuid.uuid4()
    with db.session_scope() as session:
        session.add(
            User(id=user_id, email=f"{user_id.hex}@example.com", name="I", password_hash="x")
        )
    return user_id


def owned_by(document_id: str, owner: uuid.UUID) -> None:
    from sqlalchemy import update

    from shared.documents.models import Document
    from shared.platform import db

    with db.session_scope() as session:
        session.execute(
            update(Document).where(Document.id == uuid.UUID(document_id)).values(owner_id=owner)
        )


def notifications_of(owner: uuid.UUID) -> list[tuple[str, str]]:
    from shared.notifications.models import Notification
    from shared.platform import db

    with db.session_scope() as session:
        rows = session.scalars(select(Notification).where(Notification.user_id == owner))
        return sorted((n.kind, n.subject) for n in rows)


def unreachable_queues(monkeypatch) -> None:
    from botocore.exceptions import EndpointConnectionError

    from shared.platform import queues

    def refuse(queue: str, body: str, **kwargs: object) -> str:
        raise EndpointConnectionError(endpoint_url="http://sqs.invalid")

    monkeypatch.setattr(queues, "send_json", refuse)


def deliver_notifications(env) -> None:
    """What the notifications worker would receive now, delivered to it."""
    sqs = boto3.Session().client("sqs", endpoint_url=env.moto.endpoint)
    bodies = drain(sqs, env.provisioned.queue_urls["notifications"])
    if bodies:
        outcome = invoke(REGISTRY["notifications-deliver"], support_sqs_event(*bodies))
        assert outcome.result == {"batchItemFailures": []}


def test_a_document_ready_notification_that_fails_to_send_is_still_delivered(env, monkeypatch):
    from shared.platform import queues

    # Given a user's queued document, and the notifications queue unreachable
    owner = new_user()
    document_id, key = new_document(env)
    owned_by(document_id, owner)
    deliver_notifications(env)  # what earlier tests left
    real_send = queues.send_json
    unreachable_queues(monkeypatch)
    # When the ingest worker processes its upload
    first = invoke(REGISTRY["documents-ingest"], sqs_event(s3_body(env, key)))
    # Then the document is ready and the record succeeded (nothing for SQS to retry)
    assert first.result == {"batchItemFailures": []}
    assert counts(document_id)[0] == "ready"
    # And the notification is pending in the outbox, not lost
    assert ("queue", 1) in pending_effects()
    # When the queue is back and the relay runs, and the notifications worker gets the message
    monkeypatch.setattr(queues, "send_json", real_send)
    assert run_relay(REGISTRY)["delivered"] >= 1
    deliver_notifications(env)
    # Then the user has its document_ready notification, once
    assert notifications_of(owner) == [("document_ready", "“Budget” is ready")]
    # And a redelivery of the upload changes nothing and notifies nobody again
    invoke(REGISTRY["documents-ingest"], sqs_event(s3_body(env, key)))
    assert run_relay(REGISTRY)["delivered"] == 0
    deliver_notifications(env)
    assert notifications_of(owner) == [("document_ready", "“Budget” is ready")]


@pytest.mark.parametrize("length", [300, 1000])
def test_a_document_ready_notification_for_a_long_title_is_delivered(env, length):
    # Given a document_ready message quoting a long title (300: the most the API takes; 1000:
    # more than any subject could hold)
    owner = new_user()
    title = "T" * (length - 1) + "Z"
    message = {
        "type": "notify",
        "id": str(uuid.uuid4()),
        "user_id": str(owner),
        "kind": "document_ready",
        "data": {"title": title},
    }
    # When the notifications worker receives it
    outcome = invoke(REGISTRY["notifications-deliver"], support_sqs_event(json.dumps(message)))
    # Then it is stored (nothing for the dead-letter queue), its subject shortened to fit
    assert outcome.result == {"batchItemFailures": []}
    [(kind, subject)] = notifications_of(owner)
    assert kind == "document_ready"
    assert len(subject) <= 300
    assert subject.startswith("“TTTT") and subject.endswith("…” is ready")
    # while the body keeps the whole title
    from shared.notifications.models import Notification
    from shared.platform import db

    with db.session_scope() as session:
        stored = session.scalars(select(Notification).where(Notification.user_id == owner)).one()
        assert title in stored.body


def test_a_text_document_gets_its_file_even_when_s3_fails_at_first(env, monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    from shared.platform import outbox
    from tests.support.events import load_event

    # Given a member, and S3 refusing the service's put
    owner = new_user()
    real_deliver = outbox.deliver

    def s3_down(effect: outbox.Effect) -> None:
        if isinstance(effect, outbox.ObjectPut):
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")
        real_deliver(effect)

    monkeypatch.setattr(outbox, "deliver", s3_down)
    event = load_event("documents-create-text")
    event["requestContext"]["authorizer"] = {
        "principalId": str(owner),
        "sub": str(owner),
        "role": "member",
    }
    event["body"] = json.dumps({"title": "Field notes", "text": TEXT})
    # When it creates a text document
    created = invoke(REGISTRY["documents-create-text"], event)
    # Then it is answered 201 with a queued document (the row committed), not 500
    assert created.result["statusCode"] == 201, created.result
    document = json.loads(created.result["body"])
    assert document["status"] == "queued"
    # And its file is not in S3 yet: the put waits in the outbox
    s3 = boto3.Session().client("s3", endpoint_url=env.moto.endpoint)
    bucket = env.provisioned.buckets["uploads"]
    key = f"uploads/{owner}/{document['id']}"
    assert s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount") == 0
    assert ("object_put", 1) in pending_effects()
    # When S3 is back and the relay runs
    monkeypatch.setattr(outbox, "deliver", real_deliver)
    assert run_relay(REGISTRY)["delivered"] >= 1
    # Then the file holds the text, and its S3 notification finds the document and ingests it
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == TEXT.encode()
    sqs = boto3.Session().client("sqs", endpoint_url=env.moto.endpoint)
    notices = [b for b in drain(sqs, env.provisioned.queue_urls["ingest"]) if document["id"] in b]
    assert len(notices) == 1
    ingested = invoke(REGISTRY["documents-ingest"], sqs_event(*notices))
    assert ingested.result == {"batchItemFailures": []}
    assert counts(document["id"])[0] == "ready"
