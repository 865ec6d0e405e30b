"""The purge survives a crash half-way: the retry finishes the job, nothing is left."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from sqlalchemy import func, select

from functions.registry import discover
from local.invoke import invoke
from tests.support.events import load_event, sqs_event
from tests.support.outbox import drain, pending_effects, run_relay

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


def delete_event(user_id: uuid.UUID) -> dict:
    """``DELETE /users/{id}`` by the user itself, as API Gateway hands it after the authorizer."""
    event = load_event("users-delete")
    event["path"] = f"/users/{user_id}"
    event["pathParameters"] = {"id": str(user_id)}
    event["requestContext"]["authorizer"] = {
        "principalId": str(user_id),
        "sub": str(user_id),
        "role": "member",
    }
    return event


def test_a_purge_message_that_fails_to_send_is_sent_by_the_relay(env, monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    from shared.platform import db, queues
    from shared.users.models import User

    # Given a user with documents, vectors, objects and a notification
    user_id = uuid.uuid4()
    with db.session_scope() as session:
        session.add(
            User(id=user_id, email=f"{user_id.hex}@example.com", name="P", password_hash="x")
        )
    seed(env, user_id)
    # When the user deletes its account while SQS cannot be reached
    real_send = queues.send_json

    def unreachable(queue: str, body: str, **kwargs: object) -> str:
        raise EndpointConnectionError(endpoint_url="http://sqs.invalid")

    monkeypatch.setattr(queues, "send_json", unreachable)
    deleted = invoke(REGISTRY["users-delete"], delete_event(user_id))
    # Then the deletion is answered 204 (the account is gone), not 500
    assert deleted.error is None
    assert deleted.result["statusCode"] == 204, deleted.result
    with db.session_scope() as session:
        assert session.get(User, user_id) is None
    # And its data is still there, its purge pending in the outbox
    assert left(env, user_id) == {"documents": 2, "vectors": 2, "notifications": 1, "objects": 2}
    assert ("queue", 1) in pending_effects()
    # When SQS is back and the relay runs
    monkeypatch.setattr(queues, "send_json", real_send)
    relayed = run_relay(REGISTRY)
    assert relayed["delivered"] >= 1
    # Then the purge message is on the purge queue, and the purge worker removes everything
    sqs = boto3.Session().client("sqs", endpoint_url=env.moto.endpoint)
    bodies = [b for b in drain(sqs, env.provisioned.queue_urls["purge"]) if str(user_id) in b]
    assert [json.loads(b) for b in bodies] == [{"user_id": str(user_id)}]
    purged = invoke(REGISTRY["users-purge"], sqs_event(*bodies, queue="purge"))
    assert purged.result == {"batchItemFailures": []}
    assert left(env, user_id) == {"documents": 0, "vectors": 0, "notifications": 0, "objects": 0}
