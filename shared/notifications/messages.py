"""What travels on the notifications queue, and the helpers that put it there."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from sqlalchemy.orm import Session

Kind = Literal["welcome", "document_ready", "document_failed", "password_reset", "account_changed"]
QUEUE = "notifications"


class Notify(BaseModel):
    """Store this notification for the user and email it. ``id`` makes delivery idempotent."""

    type: Literal["notify"] = "notify"
    id: uuid.UUID
    user_id: uuid.UUID
    kind: Kind
    data: dict[str, str] = {}


class PasswordResetRequested(BaseModel):
    """Someone asked to reset the password of ``email`` (which may not exist)."""

    type: Literal["password_reset_requested"] = "password_reset_requested"
    id: uuid.UUID
    email: str


Message = Annotated[Notify | PasswordResetRequested, Field(discriminator="type")]


class NotificationJob(RootModel[Message]):
    """A message of the notifications queue."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "notify",
                    "id": "00000000-0000-4000-8000-000000000001",
                    "user_id": "00000000-0000-4000-8000-0000000000aa",
                    "kind": "welcome",
                    "data": {"name": "Ada"},
                }
            ]
        }
    )


def notify(
    session: Session, *, user_id: uuid.UUID, kind: Kind, data: dict[str, str] | None = None
) -> None:
    """Queue a notification in ``session``'s transaction (the outbox): sent once it commits,
    never for a rolled-back change, and retried by the outbox relay if the queue fails."""
    queue(session, Notify(id=uuid.uuid4(), user_id=user_id, kind=kind, data=data or {}))


def queue(session: Session, message: Notify | PasswordResetRequested) -> None:
    """Put ``message`` on the notifications queue through ``session``'s outbox. Delivery is at
    least once: the worker stores and emails each ``id`` once."""
    from shared.platform import outbox

    outbox.add(session, outbox.message(QUEUE, message))
