"""The webhooks' rules for the API: register, list, change, delete, rotate, read the log, retry.

Endpoints belong to one user; anyone else's is 404. A URL must pass the address check
(``shared.webhooks.ssrf``) when it is registered or changed, and again at every delivery. The
signing secret is returned once, at registration or rotation, and stored only encrypted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from shared.platform import outbox
from shared.platform.errors import Conflict, FieldError, NotFound, Unprocessable
from shared.platform.identity import Principal
from shared.platform.settings import get_settings
from shared.webhooks import crypto, repository, ssrf
from shared.webhooks.config import WebhookPolicy
from shared.webhooks.messages import DISPATCH_QUEUE, Dispatch
from shared.webhooks.models import WebhookEndpoint
from shared.webhooks.schemas import (
    DeliveriesPage,
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookSecret,
    WebhooksPage,
    WebhookUpdate,
)

NOT_FOUND = "No such webhook."
MAX_ENDPOINTS_PER_USER = 10
#: How long the old secret keeps signing after a rotation.
ROTATION_OVERLAP = timedelta(hours=24)


def _now() -> datetime:
    return datetime.now(UTC)


def check_url(url: str, *, resolver: ssrf.Resolver | None = None) -> ssrf.Target:
    """``url``'s target if webhooks may be sent there, else a 422 naming the field."""
    policy = get_settings(WebhookPolicy)
    try:
        return ssrf.check(
            url,
            resolver=resolver or ssrf.system_resolver,
            allow_http=policy.allow_http,
            allow_loopback=policy.allow_loopback,
        )
    except ssrf.RefusedAddress as exc:
        raise Unprocessable(
            "The webhook URL is not allowed.",
            errors=[FieldError(loc=("body", "url"), msg=str(exc))],
        ) from None


def _own(session: Session, principal: Principal, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = repository.get_endpoint(session, endpoint_id, for_update=True)
    if endpoint is None or endpoint.user_id != principal.user_id:
        raise NotFound(NOT_FOUND)
    return endpoint


def create(
    session: Session,
    principal: Principal,
    data: WebhookCreate,
    *,
    resolver: ssrf.Resolver | None = None,
) -> WebhookCreated:
    """Register an endpoint; its signing secret is in the answer, and never again."""
    from shared.users import repository as users

    # The account's row, locked: two registrations at once cannot both pass the limit.
    if users.get(session, principal.user_id, for_update=True) is None:
        raise NotFound("No such user.")
    check_url(data.url, resolver=resolver)
    if repository.count_endpoints(session, principal.user_id) >= MAX_ENDPOINTS_PER_USER:
        raise Conflict(f"At most {MAX_ENDPOINTS_PER_USER} webhooks per user.")
    endpoint_id = uuid.uuid4()
    secret = crypto.new_secret()
    now = _now()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        user_id=principal.user_id,
        url=data.url,
        events=list(dict.fromkeys(data.events)),
        description=data.description,
        is_active=True,
        secret=crypto.encrypt(secret, endpoint_id=endpoint_id),
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    return WebhookCreated(webhook=WebhookPublic.model_validate(endpoint), secret=secret)


def list_endpoints(
    session: Session, principal: Principal, *, limit: int, after: str | None
) -> WebhooksPage:
    items, next_cursor = repository.endpoints_page(
        session,
        user_id=principal.user_id,
        scope=f"webhooks:{principal.user_id}",
        limit=limit,
        after=after,
    )
    return WebhooksPage(
        items=[WebhookPublic.model_validate(e) for e in items], next_cursor=next_cursor
    )


def get(session: Session, principal: Principal, endpoint_id: uuid.UUID) -> WebhookPublic:
    endpoint = repository.get_endpoint(session, endpoint_id)
    if endpoint is None or endpoint.user_id != principal.user_id:
        raise NotFound(NOT_FOUND)
    return WebhookPublic.model_validate(endpoint)


def update(
    session: Session,
    principal: Principal,
    endpoint_id: uuid.UUID,
    changes: WebhookUpdate,
    *,
    resolver: ssrf.Resolver | None = None,
) -> WebhookPublic:
    """Change the URL (checked again), the events, the description, or (re-)enable it."""
    endpoint = _own(session, principal, endpoint_id)
    sent = changes.model_fields_set
    if "url" in sent and changes.url is not None:
        check_url(changes.url, resolver=resolver)
        endpoint.url = changes.url
    if "events" in sent and changes.events is not None:
        endpoint.events = list(dict.fromkeys(changes.events))
    if "description" in sent:
        endpoint.description = changes.description
    if "is_active" in sent and changes.is_active is not None:
        endpoint.is_active = changes.is_active
        endpoint.disabled_reason = None if changes.is_active else "Disabled by its owner."
    endpoint.updated_at = _now()
    session.flush()
    return WebhookPublic.model_validate(endpoint)


def delete(session: Session, principal: Principal, endpoint_id: uuid.UUID) -> None:
    """Delete an endpoint with its delivery log; nothing more is sent to it."""
    session.delete(_own(session, principal, endpoint_id))


def rotate_secret(session: Session, principal: Principal, endpoint_id: uuid.UUID) -> WebhookSecret:
    """A new signing secret; the current one keeps signing too for :data:`ROTATION_OVERLAP`."""
    endpoint = _own(session, principal, endpoint_id)
    secret = crypto.new_secret()
    now = _now()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = crypto.encrypt(secret, endpoint_id=endpoint.id)
    endpoint.updated_at = now
    session.flush()
    return WebhookSecret(secret=secret)


def list_deliveries(
    session: Session, principal: Principal, endpoint_id: uuid.UUID, *, limit: int, after: str | None
) -> DeliveriesPage:
    endpoint = repository.get_endpoint(session, endpoint_id)
    if endpoint is None or endpoint.user_id != principal.user_id:
        raise NotFound(NOT_FOUND)
    items, next_cursor = repository.deliveries_page(
        session,
        endpoint_id=endpoint_id,
        scope=f"webhook-deliveries:{endpoint_id}",
        limit=limit,
        after=after,
    )
    return DeliveriesPage(
        items=[DeliveryPublic.model_validate(d) for d in items], next_cursor=next_cursor
    )


def retry(
    session: Session, principal: Principal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryPublic:
    """Attempt a failed delivery again, now (202). One that is pending, being sent or has
    succeeded is 409; so is any delivery of a disabled endpoint (enable it first)."""
    # The delivery is locked first, as the workers lock it (delivery, then endpoint)
    delivery = repository.get_delivery(session, delivery_id, for_update=True)
    endpoint = repository.get_endpoint(session, endpoint_id)
    if endpoint is None or endpoint.user_id != principal.user_id:
        raise NotFound(NOT_FOUND)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound("No such delivery.")
    if delivery.status != "failed":
        raise Conflict(f"Only a failed delivery can be retried; this one is {delivery.status}.")
    if not endpoint.is_active:
        raise Conflict("The webhook is disabled: enable it (is_active) before retrying.")
    now = _now()
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.updated_at = now
    session.flush()
    outbox.add(
        session,
        outbox.message(
            DISPATCH_QUEUE, Dispatch(delivery_id=delivery.id, attempt=delivery.attempts + 1)
        ),
    )
    return DeliveryPublic.model_validate(delivery)
