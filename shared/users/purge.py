"""Purging a deleted user's data: documents, objects, chunks, vectors, notifications.

Every step is a delete, so the purge is idempotent, and resumable after a crash half-way: a
retry deletes what is left. The user row is already gone (``DELETE /users/{id}``); this job
removes what the row does not cascade to.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from shared.documents.service import purge_owner
from shared.notifications import repository as notifications
from shared.platform import db
from shared.platform.observability import logger

PURGE_QUEUE = "purge"


class PurgeUser(BaseModel):
    user_id: uuid.UUID

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"user_id": "00000000-0000-4000-8000-0000000000aa"}]}
    )


def purge(user_id: uuid.UUID) -> dict[str, int]:
    """Delete everything of ``user_id``; returns what was removed."""
    with db.session_scope() as session:
        removed = purge_owner(session, user_id)
        removed["notifications"] = notifications.delete_owner(session, user_id)
    logger.info("User purged", extra={"user_id": str(user_id), **removed})
    return removed
