"""The webhooks' data access."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import any_, func, literal, or_, select, update
from sqlalchemy.orm import Session

from shared.platform import db, pagination
from shared.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


def get_endpoint(
    session: Session, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> WebhookEndpoint | None:
    return session.get(WebhookEndpoint, endpoint_id, with_for_update=for_update or None)


def count_endpoints(session: Session, user_id: uuid.UUID) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.user_id == user_id)
        )
        or 0
    )


def endpoints_page(
    session: Session, *, user_id: uuid.UUID, scope: str, limit: int, after: str | None
) -> tuple[list[Any], str | None]:
    """One page of a user's endpoints, newest first."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id)
    return pagination.page(
        session, query, model=WebhookEndpoint, scope=scope, limit=limit, after=after
    )


def deliveries_page(
    session: Session, *, endpoint_id: uuid.UUID, scope: str, limit: int, after: str | None
) -> tuple[list[Any], str | None]:
    """One page of an endpoint's deliveries, newest first."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    return pagination.page(
        session, query, model=WebhookDelivery, scope=scope, limit=limit, after=after
    )


def subscribers(
    session: Session, *, event: str, owner_id: uuid.UUID, every_users_admins: bool
) -> list[WebhookEndpoint]:
    """The active endpoints that receive ``event`` about ``owner_id``: the owner's own, and for
    ``user.*`` events (``every_users_admins``) those of every admin."""
    from shared.users.models import User

    owners = [WebhookEndpoint.user_id == owner_id]
    if every_users_admins:
        admins = select(User.id).where(User.role == "admin", User.is_active.is_(True))
        owners.append(WebhookEndpoint.user_id.in_(admins))
    return list(
        session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.is_active.is_(True),
                literal(event) == any_(WebhookEndpoint.events),
                or_(*owners),
            )
        )
    )


def add_event(session: Session, event: WebhookEvent) -> WebhookEvent:
    session.add(event)
    session.flush()  # before its deliveries, which refer to it
    return event


def get_delivery(
    session: Session, delivery_id: uuid.UUID, *, for_update: bool = False
) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id, with_for_update=for_update or None)


def get_event(session: Session, event_id: uuid.UUID) -> WebhookEvent | None:
    return session.get(WebhookEvent, event_id)


def claim_attempt(
    session: Session, *, delivery_id: uuid.UUID, attempt: int, now: datetime, request_id: str | None
) -> bool:
    """Move a due ``pending`` delivery to ``sending`` as attempt ``attempt``, and record the
    attempt: one conditional UPDATE, so of two copies of a message only one claims it."""
    claimed = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.attempts == attempt - 1,
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(status="sending", attempts=attempt, next_attempt_at=None, updated_at=now)
    )
    if db.affected(claimed) != 1:
        return False
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id,
            number=attempt,
            state="sending",
            request_id=request_id,
            started_at=now,
        )
    )
    session.flush()
    return True


def finish_attempt(
    session: Session,
    *,
    delivery_id: uuid.UUID,
    attempt: int,
    state: str,
    response_status: int | None,
    error: str | None,
    now: datetime,
) -> bool:
    """Record an attempt's outcome, once: False when it was recorded already."""
    done = session.execute(
        update(WebhookAttempt)
        .where(
            WebhookAttempt.delivery_id == delivery_id,
            WebhookAttempt.number == attempt,
            WebhookAttempt.state == "sending",
        )
        .values(state=state, response_status=response_status, error=error, finished_at=now)
    )
    return db.affected(done) == 1


def attempts_of(session: Session, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    return list(
        session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.number)
        )
    )
