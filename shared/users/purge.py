"""Purging a deleted user's data: documents, objects, chunks, vectors, notifications.

Every step is a delete, so the purge is idempotent, and resumable after a crash half-way: a
retry deletes what is left. The user row is already gone (``DELETE /users/{id}``); this job
removes what the row does not cascade to.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete

from shared.models import ChunkVector, Document, Notification
from shared.platform import aws, db
from shared.platform.observability import logger
from shared.platform.settings import Storage, get_settings

PURGE_QUEUE = "purge"


class PurgeUser(BaseModel):
    user_id: uuid.UUID

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"user_id": "00000000-0000-4000-8000-0000000000aa"}]}
    )


def purge(user_id: uuid.UUID) -> dict[str, int]:
    """Delete everything of ``user_id``; returns what was removed."""
    from shared.vectors import get_vector_store

    get_vector_store().delete_owner(str(user_id))
    objects = _delete_objects(f"uploads/{user_id}/")
    with db.session_scope() as session:
        documents = session.execute(delete(Document).where(Document.owner_id == user_id))
        notifications = session.execute(delete(Notification).where(Notification.user_id == user_id))
        session.execute(delete(ChunkVector).where(ChunkVector.owner_id == user_id))
        removed = {
            "documents": documents.rowcount,  # type: ignore[attr-defined]
            "notifications": notifications.rowcount,  # type: ignore[attr-defined]
            "objects": objects,
        }
    logger.info("User purged", extra={"user_id": str(user_id), **removed})
    return removed


def _delete_objects(prefix: str) -> int:
    s3 = aws.client("s3")
    bucket = get_settings(Storage).uploads_bucket
    removed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            removed += len(keys)
    return removed
