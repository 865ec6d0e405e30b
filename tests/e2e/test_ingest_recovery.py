"""Nothing stuck, nothing out of date: the ingest worker and the maintenance job on the runner's
resources (real Postgres, moto's S3 and SQS, no pollers: the test delivers).

A redelivery after a worker died takes its claim over; a delivery that finds a live claim is
retried, never acknowledged; the last attempt fails the document with its notification; the
maintenance job queues a stuck document again, or fails it once its attempts are spent; a
worker process killed mid-batch leaves its batch to the redelivery, which finishes it; a
second upload to a ready document's key (a replayed presigned POST) is ingested again; a file
smaller than its declared size (a maximum) is ingested with its real size.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import boto3
import pytest
from sqlalchemy import select, update

from functions.registry import discover
from local.invoke import invoke
from local.schedules import scheduled_event
from shared.documents.ingest import SPENT, STALE_AFTER, TIMING
from tests.e2e.test_ingest_worker import TEXT, counts, new_document, s3_body, sqs_event
from tests.support.outbox import drain

pytestmark = pytest.mark.e2e

REGISTRY = discover()
WORKER = REGISTRY["documents-ingest"]


@pytest.fixture(scope="module")
def env(services):
    return services


def _sqs(env):  # type: ignore[no-untyped-def]
    return boto3.Session().client("sqs", endpoint_url=env.moto.endpoint)


def _s3(env):  # type: ignore[no-untyped-def]
    return boto3.Session().client("s3", endpoint_url=env.moto.endpoint)


def set_row(document_id: str, **values: object) -> None:
    from shared.documents.models import Document
    from shared.platform import db

    with db.session_scope() as session:
        session.execute(
            update(Document).where(Document.id == uuid.UUID(document_id)).values(**values)
        )


def row(document_id: str):  # type: ignore[no-untyped-def]
    from shared.documents.models import Document
    from shared.platform import db

    with db.session_scope() as session:
        document = session.get(Document, uuid.UUID(document_id))
        assert document is not None
        return document


def chunk_text(document_id: str) -> str:
    from shared.documents.models import Chunk
    from shared.platform import db

    with db.session_scope() as session:
        chunks = session.scalars(
            select(Chunk.text)
            .where(Chunk.document_id == uuid.UUID(document_id))
            .order_by(Chunk.chunk_index)
        )
        return " ".join(chunks)


def queued_notifications(env, document_id: str, kind: str) -> list[dict]:
    """The notifications queue's messages of ``kind`` for the document (drained)."""
    wanted = str(uuid.uuid5(uuid.UUID(document_id), kind))
    bodies = drain(_sqs(env), env.provisioned.queue_urls["notifications"])
    return [b for b in map(json.loads, bodies) if b.get("id") == wanted]


def names(key: str, body: str) -> bool:
    """True when the ingest message ``body`` is about ``key`` (S3 URL-encodes it)."""
    return key in body or quote(key, safe="") in body


def ingest_messages(env, key: str) -> list[str]:
    return [b for b in drain(_sqs(env), env.provisioned.queue_urls["ingest"]) if names(key, b)]


def run_maintenance() -> dict:
    entry = REGISTRY["system-maintenance"]
    outcome = invoke(entry, scheduled_event(entry), quiet=True)
    assert outcome.error is None, outcome.error
    return dict(outcome.result)


def test_a_redelivery_after_the_worker_died_takes_the_claim_over(env):
    # Given a document claimed by a worker that died: its message comes back one visibility
    # timeout after it was received, the claim made at most one function timeout after that
    document_id, key = new_document(env)
    ingest_messages(env, key)
    died_at = datetime.now(UTC) - timedelta(
        seconds=TIMING.visibility_timeout_seconds - TIMING.function_timeout_seconds
    )
    set_row(document_id, status="processing", processing_started_at=died_at, ingest_attempts=1)
    # When the message is delivered again
    outcome = invoke(WORKER, sqs_event(s3_body(env, key)))
    # Then the redelivery ingested it (not skipped and deleted, leaving it processing)
    assert outcome.error is None and outcome.result == {"batchItemFailures": []}
    status, chunks, vectors = counts(document_id)
    assert (status, chunks > 0, vectors == chunks) == ("ready", True, True)
    assert row(document_id).ingest_attempts == 2


def test_a_delivery_that_finds_a_live_claim_is_retried_not_acknowledged(env):
    # Given a document a live worker claimed a moment ago
    document_id, key = new_document(env)
    ingest_messages(env, key)
    claimed_at = datetime.now(UTC) - timedelta(seconds=TIMING.function_timeout_seconds)
    assert claimed_at > datetime.now(UTC) - STALE_AFTER
    set_row(document_id, status="processing", processing_started_at=claimed_at, ingest_attempts=1)
    # When a second copy of its message arrives in a batch with another document's
    other_id, other_key = new_document(env)
    ingest_messages(env, other_key)
    outcome = invoke(WORKER, sqs_event(s3_body(env, key), s3_body(env, other_key)))
    # Then that record failed (SQS delivers it again after the visibility timeout), the other
    # was ingested, and the claimed document was left to its worker
    assert outcome.error is None
    assert len(outcome.result["batchItemFailures"]) == 1
    assert counts(other_id)[0] == "ready"
    assert row(document_id).status == "processing"
    assert row(document_id).ingest_attempts == 1


def test_the_last_attempt_fails_the_document_with_its_notification(env, monkeypatch):
    from shared.documents import ingest

    # Given a queued document that has used every attempt but one, and an embedder that fails
    document_id, key = new_document(env)
    ingest_messages(env, key)
    set_row(document_id, ingest_attempts=TIMING.max_attempts - 1)

    def broken(title: str, pieces: list[str]) -> list[list[float]]:
        raise ConnectionError("embedder unreachable")

    monkeypatch.setattr(ingest, "_embed", broken)
    queued_notifications(env, document_id, "document_failed")
    # When its message is received for the last time
    outcome = invoke(WORKER, sqs_event(s3_body(env, key)))
    # Then the record is acknowledged (nothing left for the dead-letter queue to hide)
    assert outcome.error is None and outcome.result == {"batchItemFailures": []}
    # And the document ended failed, saying why, and its owner is told
    document = row(document_id)
    assert (document.status, document.error) == (
        "failed",
        SPENT.format(attempts=TIMING.max_attempts),
    )
    assert document.processing_started_at is None
    assert len(queued_notifications(env, document_id, "document_failed")) == 1


def test_an_earlier_attempt_that_fails_goes_back_to_the_queue(env, monkeypatch):
    from shared.documents import ingest

    document_id, key = new_document(env)
    ingest_messages(env, key)

    def broken(title: str, pieces: list[str]) -> list[list[float]]:
        raise ConnectionError("embedder unreachable")

    monkeypatch.setattr(ingest, "_embed", broken)
    outcome = invoke(WORKER, sqs_event(s3_body(env, key)))
    assert outcome.error is not None  # its only record failed: retried by SQS
    assert (row(document_id).status, row(document_id).ingest_attempts) == ("queued", 1)


def test_maintenance_requeues_stuck_documents_and_fails_those_out_of_attempts(env):
    now = datetime.now(UTC)
    long_ago = now - TIMING.stuck_after - timedelta(minutes=1)
    # Given a queued document whose message was lost, a processing one whose worker died and
    # whose message ran out with attempts left, one out of attempts, and one recently queued
    lost_id, lost_key = new_document(env)
    died_id, died_key = new_document(env)
    spent_id, spent_key = new_document(env)
    recent_id, recent_key = new_document(env)
    for key in (lost_key, died_key, spent_key, recent_key):
        ingest_messages(env, key)
    set_row(lost_id, updated_at=long_ago)
    set_row(
        died_id,
        status="processing",
        processing_started_at=long_ago,
        ingest_attempts=2,
        updated_at=long_ago,
    )
    set_row(
        spent_id,
        status="processing",
        processing_started_at=long_ago,
        ingest_attempts=TIMING.max_attempts,
        updated_at=long_ago,
    )
    queued_notifications(env, spent_id, "document_failed")
    # When the maintenance job runs
    result = run_maintenance()
    # Then the first two are queued again, each with a message on the ingest queue
    assert result["requeued_documents"] >= 2
    assert result["failed_documents"] >= 1
    waiting = drain(_sqs(env), env.provisioned.queue_urls["ingest"])
    for document_id, key in ((lost_id, lost_key), (died_id, died_key)):
        document = row(document_id)
        assert (document.status, document.processing_started_at) == ("queued", None)
        messages = [body for body in waiting if names(key, body)]
        assert len(messages) == 1
        # and that message ingests it
        outcome = invoke(WORKER, sqs_event(*messages))
        assert outcome.result == {"batchItemFailures": []}
        assert counts(document_id)[0] == "ready"
    # And the one out of attempts failed, saying why, with its notification
    spent = row(spent_id)
    assert (spent.status, spent.error) == ("failed", SPENT.format(attempts=TIMING.max_attempts))
    assert len(queued_notifications(env, spent_id, "document_failed")) == 1
    assert [body for body in waiting if names(spent_key, body)] == []
    # And the recent one was left alone
    assert row(recent_id).status == "queued"
    assert [body for body in waiting if names(recent_key, body)] == []
    # And a second run right after finds nothing stuck among them
    run_maintenance()
    assert row(lost_id).status == "ready" and ingest_messages(env, lost_key) == []
    set_row(recent_id, status="failed")  # leave nothing queued for other modules' maintenance


def test_a_second_upload_to_a_ready_document_is_ingested_again(env):
    # Given a ready document
    document_id, key = new_document(env)
    invoke(WORKER, sqs_event(*ingest_messages(env, key)))
    assert counts(document_id)[0] == "ready"
    assert "quarterly budget" in chunk_text(document_id)
    # When the same key is uploaded again with other bytes (a replayed presigned POST)
    replaced = "Minutes of the harbour committee: the pier repairs start in spring. " * 30
    _s3(env).put_object(Bucket=env.provisioned.buckets["uploads"], Key=key, Body=replaced.encode())
    (notification,) = ingest_messages(env, key)
    outcome = invoke(WORKER, sqs_event(notification))
    # Then the index follows the file: the new text is what is searchable, with its size
    assert outcome.result == {"batchItemFailures": []}
    status, chunks, vectors = counts(document_id)
    assert (status, vectors) == ("ready", chunks)
    assert "harbour committee" in chunk_text(document_id)
    assert "quarterly budget" not in chunk_text(document_id)
    assert row(document_id).size_bytes == len(replaced.encode())
    # And the same notification delivered again changes nothing
    again = invoke(WORKER, sqs_event(notification))
    assert again.result == {"batchItemFailures": []}
    assert (row(document_id).ingest_attempts, counts(document_id)) == (1, (status, chunks, vectors))


def test_a_file_smaller_than_declared_is_ingested_with_its_real_size(env):
    # Given a document declared at 10,000 bytes whose upload is shorter (the size is a maximum)
    short = "A short note about the budget."
    document_id, key = new_document(env, short)
    set_row(document_id, size_bytes=10_000)
    # When it is ingested
    outcome = invoke(WORKER, sqs_event(*ingest_messages(env, key)))
    # Then it is ready, and its recorded size is the file's
    assert outcome.result == {"batchItemFailures": []}
    assert counts(document_id)[0] == "ready"
    assert row(document_id).size_bytes == len(short.encode())
    assert TEXT  # the module's other documents are the long text


def test_a_worker_killed_mid_batch_leaves_its_batch_to_the_redelivery(env, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    # Given a batch of three uploads, received from the ingest queue
    long_text = TEXT * 2
    documents = [new_document(env, long_text) for _ in range(3)]
    sqs = _sqs(env)
    url = env.provisioned.queue_urls["ingest"]
    wanted = {key for _, key in documents}
    by_id: dict[str, dict] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(by_id) < len(wanted):
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1, AttributeNames=["All"]
        ).get("Messages", []):
            if any(names(key, message["Body"]) for key in wanted):
                by_id[message["MessageId"]] = message
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    received = list(by_id.values())
    assert len(received) == 3
    event = tmp_path / "batch.json"
    event.write_text(json.dumps(sqs_event(*(m["Body"] for m in received))))
    # When the worker (a process of its own, as a Lambda execution environment is) is killed
    # once it has finished the first document of the batch
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import json, sys\n"
            "from functions.documents.ingest.handler import handler\n"
            "from local.lambda_context import LambdaContext\n"
            "handler(json.load(open(sys.argv[1])), LambdaContext('documents-ingest', 120))\n",
            str(event),
        ],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if any(row(d).status == "ready" for d, _ in documents):
                break
            time.sleep(0.01)
        assert worker.poll() is None, "the worker finished before it could be killed"
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(timeout=10)
    before = {d: row(d).status for d, _ in documents}
    # Then part of the batch is done and the rest is left claimed or queued
    assert "ready" in before.values()
    assert set(before.values()) - {"ready"}, before
    # When SQS delivers the batch again, one visibility timeout later (the claims' clocks
    # moved on by that much: a test does not wait 12 minutes)
    for document_id, _ in documents:
        document = row(document_id)
        if document.processing_started_at is not None:
            set_row(
                document_id,
                processing_started_at=document.processing_started_at
                - timedelta(seconds=TIMING.visibility_timeout_seconds),
            )
    time.sleep(1.1)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    )
    redelivered = [m for m in again if any(names(key, m["Body"]) for key in wanted)]
    assert len(redelivered) == 3
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in redelivered} == {"2"}
    outcome = invoke(WORKER, sqs_event(*(m["Body"] for m in redelivered)))
    # Then every record succeeded and every document is ready, with one set of chunks
    assert outcome.error is None and outcome.result == {"batchItemFailures": []}
    for document_id, _ in documents:
        status, chunks, vectors = counts(document_id)
        assert (status, chunks > 0, vectors) == ("ready", True, chunks), document_id
