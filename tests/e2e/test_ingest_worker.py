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
        return invoke(worker, sqs_event(s3_body(env, key))).result

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: deliver(), range(4)))
    assert all(r == {"batchItemFailures": []} for r in results)
    status, chunks, vectors = counts(document_id)
    assert status == "ready"
    assert chunks == vectors > 1


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
