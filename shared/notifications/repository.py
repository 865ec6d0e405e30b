"""The Notifications service's data access: the ``notifications`` table."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.notifications.models import Notification
from shared.platform import db, pagination


def get(session: Session, notification_id: uuid.UUID) -> Notification | None:
    return session.get(Notification, notification_id)


def add_once(session: Session, notification: Notification) -> None:
    """Insert ``notification`` unless a row with its id exists (a concurrent delivery may have
    stored it first: then nothing changes)."""
    if session.get(Notification, notification.id) is not None:
        return
    session.add(notification)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()


def claim_email(session: Session, notification_id: uuid.UUID) -> bool:
    """Move the email from ``pending`` to ``sending``; False when another delivery has it."""
    claimed = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.email_status == "pending")
        .values(email_status="sending")
    )
    return db.affected(claimed) == 1


def set_email_status(session: Session, notification_id: uuid.UUID, status: str) -> None:
    session.execute(
        update(Notification).where(Notification.id == notification_id).values(email_status=status)
    )


def page(
    session: Session, *, user_id: uuid.UUID, scope: str, limit: int, after: str | None
) -> tuple[list[Notification], str | None]:
    """One page of a user's notifications, newest first."""
    items: list[Any]
    items, cursor = pagination.page(
        session,
        select(Notification).where(Notification.user_id == user_id),
        model=Notification,
        scope=scope,
        limit=limit,
        after=after,
    )
    return items, cursor


def delete_owner(session: Session, user_id: uuid.UUID) -> int:
    """Delete every notification of a user (the purge); returns how many."""
    result = session.execute(delete(Notification).where(Notification.user_id == user_id))
    return db.affected(result)
