"""Notifications: the worker's delivery (store once, email once) and the in-app reads.

Delivery is idempotent: the record's id comes with the message, and the email is sent by the
delivery that moves ``email_status`` from ``pending`` to ``sending`` (one conditional UPDATE).
If SES fails, the status goes back to ``pending`` and the record fails, so SQS retries it. A
worker that dies between sending and recording ``sent`` leaves ``sending``: that email is not
sent again (at most once, rather than twice).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared import aws, db, pagination
from shared.errors import NotFound
from shared.http import Principal
from shared.models import Notification, PasswordResetToken, User
from shared.notifications.messages import Notify, PasswordResetRequested
from shared.notifications.schemas import NotificationPublic, NotificationsPage
from shared.notifications.templates import render
from shared.observability import logger, request_id_var
from shared.settings import Email, get_settings

RESET_TOKEN_TTL = timedelta(minutes=30)


def _now() -> datetime:
    return datetime.now(UTC)


def hash_reset_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def deliver(message: Notify) -> str:
    """Store the notification and email it, each exactly once."""
    with db.session_scope() as session:
        user = session.get(User, message.user_id)
        if user is None:
            logger.info("Notification for a deleted user: dropped")
            return "no-user"
        email, name = user.email, user.name
        if session.get(Notification, message.id) is None:
            rendered = render(message.kind, {"name": name, **message.data}, for_email=False)
            session.add(
                Notification(
                    id=message.id,
                    user_id=message.user_id,
                    kind=message.kind,
                    subject=rendered.subject,
                    body=rendered.text,
                    request_id=request_id_var.get(),
                )
            )
            try:
                session.flush()
            except IntegrityError:  # a concurrent delivery stored it first
                session.rollback()
    with db.session_scope() as session:
        claimed = session.execute(
            update(Notification)
            .where(Notification.id == message.id, Notification.email_status == "pending")
            .values(email_status="sending")
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return "already-sent"
    try:
        rendered = render(
            message.kind,
            {"name": name, **message.data},
            for_email=True,
            app_url=get_settings(Email).app_url,
        )
        _send_email(email, rendered)
    except Exception:
        _set_email_status(message.id, "pending")
        raise
    _set_email_status(message.id, "sent")
    return "sent"


def _set_email_status(notification_id: uuid.UUID, status: str) -> None:
    with db.session_scope() as session:
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(email_status=status)
        )


def _send_email(to: str, rendered: object) -> None:
    from shared.notifications.templates import Rendered

    assert isinstance(rendered, Rendered)
    aws.client("ses").send_email(
        Source=get_settings(Email).email_sender,
        Destination={"ToAddresses": [to]},
        Message={
            "Subject": {"Data": rendered.subject, "Charset": "UTF-8"},
            "Body": {
                "Text": {"Data": rendered.text, "Charset": "UTF-8"},
                "Html": {"Data": rendered.html, "Charset": "UTF-8"},
            },
        },
    )


def handle_reset_request(message: PasswordResetRequested) -> str:
    """Issue a one-time reset token for an active account with that email, and email it.

    The HTTP request only queued this message, whether or not the email exists: the request
    takes the same time either way, and the answer reveals nothing."""
    with db.session_scope() as session:
        user = session.scalar(select(User).where(User.email == message.email))
        if user is None or not user.is_active:
            return "no-account"
        notification = session.get(Notification, message.id)
        if notification is not None and notification.email_status != "pending":
            return "already-sent"
        token = secrets.token_urlsafe(32)
        existing = session.get(PasswordResetToken, message.id)
        if existing is None:
            session.add(
                PasswordResetToken(
                    id=message.id,
                    user_id=user.id,
                    token_hash=hash_reset_token(token),
                    expires_at=_now() + RESET_TOKEN_TTL,
                )
            )
        else:  # a retry after a failed send: the token is new, the old hash is replaced
            existing.token_hash = hash_reset_token(token)
            existing.expires_at = _now() + RESET_TOKEN_TTL
        user_id = user.id
    return deliver(
        Notify(id=message.id, user_id=user_id, kind="password_reset", data={"token": token})
    )


def list_notifications(
    session: Session, principal: Principal, *, limit: int, after: str | None
) -> NotificationsPage:
    """The caller's notifications, newest first."""
    items, next_cursor = pagination.page(
        session,
        select(Notification).where(Notification.user_id == principal.user_id),
        model=Notification,
        scope=f"notifications:{principal.user_id}",
        limit=limit,
        after=after,
    )
    return NotificationsPage(
        items=[NotificationPublic.model_validate(n) for n in items], next_cursor=next_cursor
    )


def mark_read(session: Session, principal: Principal, notification_id: uuid.UUID) -> None:
    """Mark one of the caller's notifications read (again: no change); anyone else's is 404."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != principal.user_id:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = _now()
