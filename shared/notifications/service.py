"""Notifications: the worker's delivery (store once, email once) and the in-app reads.

Delivery is idempotent: the record's id comes with the message, and the email is sent by the
delivery that moves ``email_status`` from ``pending`` to ``sending`` (one conditional UPDATE).
If SES fails, the status goes back to ``pending`` and the record fails, so SQS retries it. A
worker that dies between sending and recording ``sent`` leaves ``sending``: that email is not
sent again (at most once, rather than twice).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from shared.notifications import email as mail
from shared.notifications import repository
from shared.notifications.messages import Notify, PasswordResetRequested
from shared.notifications.models import Notification
from shared.notifications.schemas import NotificationPublic, NotificationsPage
from shared.notifications.templates import render
from shared.platform import db, observability
from shared.platform.errors import NotFound
from shared.platform.identity import Principal
from shared.platform.observability import logger, request_id_var
from shared.platform.settings import Email, get_settings
from shared.users import repository as users


def _now() -> datetime:
    return datetime.now(UTC)


def deliver(message: Notify) -> str:
    """Store the notification and email it, each exactly once."""
    with db.session_scope() as session:
        user = users.get(session, message.user_id)
        if user is None:
            logger.info("Notification for a deleted user: dropped")
            return "no-user"
        email, name = user.email, user.name
        rendered = render(message.kind, {"name": name, **message.data}, for_email=False)
        repository.add_once(
            session,
            Notification(
                id=message.id,
                user_id=message.user_id,
                kind=message.kind,
                subject=rendered.subject,
                body=rendered.text,
                request_id=request_id_var.get(),
            ),
        )
    with db.session_scope() as session:
        if not repository.claim_email(session, message.id):
            return "already-sent"
    try:
        rendered = render(
            message.kind,
            {"name": name, **message.data},
            for_email=True,
            app_url=get_settings(Email).app_url or "",
        )
        mail.send(email, rendered)
    except Exception:
        _set_email_status(message.id, "pending")
        raise
    _set_email_status(message.id, "sent")
    observability.count(observability.NOTIFICATIONS_SENT)
    return "sent"


def _set_email_status(notification_id: uuid.UUID, status: str) -> None:
    with db.session_scope() as session:
        repository.set_email_status(session, notification_id, status)


def handle_reset_request(message: PasswordResetRequested) -> str:
    """Issue a one-time reset token for an active account with that email, and email it.

    The HTTP request only queued this message, whether or not the email exists: the request
    takes the same time either way, and the answer reveals nothing."""
    from shared.auth.service import ResetThrottled, issue_reset_token

    with db.session_scope() as session:
        notification = repository.get(session, message.id)
        if notification is not None and notification.email_status != "pending":
            return "already-sent"
        try:
            issued = issue_reset_token(session, email=message.email, token_id=message.id)
        except ResetThrottled:
            logger.info("Password reset throttled: no email sent")
            return "throttled"
    if issued is None:
        return "no-account"
    user_id, token = issued
    return deliver(
        Notify(id=message.id, user_id=user_id, kind="password_reset", data={"token": token})
    )


def list_notifications(
    session: Session, principal: Principal, *, limit: int, after: str | None
) -> NotificationsPage:
    """The caller's notifications, newest first."""
    items, next_cursor = repository.page(
        session,
        user_id=principal.user_id,
        scope=f"notifications:{principal.user_id}",
        limit=limit,
        after=after,
    )
    return NotificationsPage(
        items=[NotificationPublic.model_validate(n) for n in items], next_cursor=next_cursor
    )


def mark_read(session: Session, principal: Principal, notification_id: uuid.UUID) -> None:
    """Mark one of the caller's notifications read (again: no change); anyone else's is 404."""
    notification = repository.get(session, notification_id)
    if notification is None or notification.user_id != principal.user_id:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = _now()
