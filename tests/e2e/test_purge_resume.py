"""The purge survives a crash half-way: the retry finishes the job, nothing is left."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from sqlalchemy import func, select

from functions.registry import discover
from local.invoke import invoke
from tests.support.events import sqs_event

pytestmark = pytest.mark.e2e

REGISTRY = discover()


@pytest.fixture(scope="module")
def env(services):
    return services


def seed(env, user_id: uuid.UUID) -> None:
    """Two documents with vectors and objects, and a notification, all of ``user_id``."""
    from shared.documents.models import Document
    from shared.notifications.models import Notification
    from shared.platform import db
    from shared.vectors import VectorRecord, get_vector_store

    s3 = boto3.Session().client("s3", endpoint_url=env.moto.endpoint)
    with db.session_scope() as session:
        for n in range(2):
            document_id = uuid.uuid4()
            key = f"purge-test/{user_id}/{document_id}"  # outside uploads/: no ingest runs
            session.add(
                Document(
                    id=document_id,
                    owner_id=user_id,
                    title=f"d{n}",
                    filename="d.txt",
                    content_type="text/plain",
                    size_bytes=1,
                    s3_key=key,
                    status="ready",
                )
            )
            s3.put_object(
                Bucket=env.provisioned.buckets["uploads"], Key=f"uploads/{user_id}/{n}", Body=b"x"
            )
            get_vector_store().upsert(
                [VectorRecord(str(document_id), str(user_id), 0, [1.0] + [0.0] * 255)]
            )
        session.add(
            Notification(id=uuid.uuid4(), user_id=user_id, kind="welcome", subject="s", body="b")
        )


def left(env, user_id: uuid.UUID) -> dict[str, int]:
    from shared.documents.models import Document
    from shared.notifications.models import Notification
    from shared.platform import db
    from tests.support.services import stored_vectors

    s3 = boto3.Session().client("s3", endpoint_url=env.moto.endpoint)
    listed = s3.list_objects_v2(
        Bucket=env.provisioned.buckets["uploads"], Prefix=f"uploads/{user_id}/"
    )
    with db.session_scope() as session:

        def count(model, column) -> int:
            return session.scalar(select(func.count()).select_from(model).where(column == user_id))

        return {
            "documents": count(Document, Document.owner_id),
            "vectors": stored_vectors(str(user_id)),
            "notifications": count(Notification, Notification.user_id),
            "objects": listed.get("KeyCount", 0),
        }


def purge_event(user_id: uuid.UUID) -> dict:
    return sqs_event(json.dumps({"user_id": str(user_id)}), queue="purge")


def test_a_purge_that_crashes_half_way_is_finished_by_its_retry(env, monkeypatch):
    # Given a deleted user's documents, vectors, objects and notification
    user_id = uuid.uuid4()
    seed(env, user_id)
    assert left(env, user_id) == {"documents": 2, "vectors": 2, "notifications": 1, "objects": 2}
    # When the purge crashes after the vectors, while deleting the objects
    from shared.documents import storage

    real = storage.delete_prefix
    monkeypatch.setattr(storage, "delete_prefix", lambda prefix: (_ for _ in ()).throw(OSError()))
    first = invoke(REGISTRY["users-purge"], purge_event(user_id))
    # Then the invocation failed (its only record did: SQS retries the message) and only the
    # first step took effect
    assert first.error is not None
    assert left(env, user_id) == {"documents": 2, "vectors": 0, "notifications": 1, "objects": 2}
    # When the retry runs normally
    monkeypatch.setattr(storage, "delete_prefix", real)
    second = invoke(REGISTRY["users-purge"], purge_event(user_id))
    # Then nothing of the user is left
    assert second.result == {"batchItemFailures": []}
    assert left(env, user_id) == {"documents": 0, "vectors": 0, "notifications": 0, "objects": 0}
