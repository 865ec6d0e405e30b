"""Emitting events: called by the domains, in the transaction of the change that causes them.

:func:`emit` writes the event (its exact body), one delivery per subscribed endpoint, and one
``webhooks`` queue message per delivery into the transactional outbox, all in the caller's
transaction: a change that rolls back sends nothing, and a committed one always gets its
deliveries (``shared.platform.outbox``). Payloads carry ids and status, never file contents.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from shared.platform import outbox
from shared.platform.observability import request_id_var
from shared.webhooks import repository
from shared.webhooks.messages import DISPATCH_QUEUE, Dispatch
from shared.webhooks.models import WebhookDelivery, WebhookEvent
from shared.webhooks.schemas import EventType

#: The contract's limit on a delivery's body.
MAX_BODY_BYTES = 20 * 1024


def body(event: EventType, data: dict[str, object], *, at: datetime) -> str:
    """The Standard Webhooks body: ``{"type", "timestamp", "data"}``, compact JSON."""
    text = json.dumps(
        {"type": event, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )
    if len(text.encode()) > MAX_BODY_BYTES:
        raise ValueError(f"webhook body of {event} over {MAX_BODY_BYTES} bytes")
    return text


def emit(
    session: Session, event: EventType, *, owner_id: uuid.UUID, data: dict[str, object]
) -> int:
    """Queue ``event`` about ``owner_id``'s resource to every subscribed endpoint, in
    ``session``'s transaction; returns how many deliveries it made."""
    endpoints = repository.subscribers(
        session, event=event, owner_id=owner_id, every_users_admins=event.startswith("user.")
    )
    if not endpoints:
        return 0
    now = datetime.now(UTC)
    request_id = request_id_var.get()
    record = repository.add_event(
        session,
        WebhookEvent(
            id=uuid.uuid4(),
            type=event,
            payload=body(event, data, at=now),
            request_id=request_id,
            created_at=now,
        ),
    )
    effects = []
    for endpoint in endpoints:
        delivery = WebhookDelivery(
            id=uuid.uuid4(),
            endpoint_id=endpoint.id,
            event_id=record.id,
            event=event,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            request_id=request_id,
            created_at=now,
            updated_at=now,
        )
        session.add(delivery)
        effects.append(outbox.message(DISPATCH_QUEUE, Dispatch(delivery_id=delivery.id, attempt=1)))
    session.flush()
    outbox.add(session, *effects)
    return len(endpoints)
