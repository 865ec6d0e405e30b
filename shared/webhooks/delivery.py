"""Delivering events: dispatch (in the VPC), send (outside it), record (in the VPC).

1. :func:`dispatch` takes a ``webhooks`` message (one attempt of one delivery). Not due yet
   (a delay longer than SQS's 15 minutes): it goes back on the queue with the largest delay
   that does not overshoot. Due: in one transaction it claims the attempt (``pending`` →
   ``sending``, an attempt row written *before* any call), checks the URL's address again,
   signs the body with the endpoint's secret(s), and writes the prepared call to the outbox
   for the ``webhook-send`` queue. A redelivered or duplicated message finds the attempt
   claimed and does nothing: never a second call.
2. :func:`send` (the sender: no database, no secret, outside the VPC in AWS, where it can
   reach the internet) connects to the exact address the dispatcher approved (no second DNS
   lookup), posts with a timeout and without following redirects, and reports an
   :class:`~shared.webhooks.messages.Outcome`.
3. :func:`record` writes the outcome on the attempt (once: a duplicate outcome changes
   nothing) and decides what follows: a 2xx ends the delivery; a 410 disables the endpoint;
   anything else schedules the next attempt on :data:`SCHEDULE` with jitter, until the last
   one fails, which disables the endpoint too. Disabling tells the owner (``account_changed``).
"""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from shared.platform import db, outbox
from shared.platform.observability import logger, request_id_var
from shared.platform.queues import MAX_DELAY_SECONDS
from shared.platform.settings import get_settings
from shared.webhooks import crypto, repository, signing, ssrf
from shared.webhooks.config import WebhookPolicy
from shared.webhooks.messages import (
    DISPATCH_QUEUE,
    OUTCOME_QUEUE,
    SEND_QUEUE,
    Dispatch,
    Outcome,
    SendRequest,
)
from shared.webhooks.models import WebhookDelivery, WebhookEndpoint

#: The delays before the 2nd..8th attempts (the contract's: 5 s, 5 min, 30 min, 2 h, 5 h,
#: 10 h, 10 h; about 28 hours in all), each scaled by ``WEBHOOK_RETRY_SCALE`` and jittered.
SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(SCHEDULE) + 1
JITTER = 0.1  # ± 10 %
#: A prepared call is made within this of its signing, or not at all (receivers refuse a
#: Standard Webhooks timestamp older than 5 minutes).
SEND_WINDOW = timedelta(minutes=5)
#: An attempt still ``sending`` this long after its claim got no outcome (the sender or the
#: outcome was lost): the maintenance job counts it failed. Past SEND_WINDOW, so no late call
#: can follow.
STALLED_AFTER = timedelta(minutes=15)


def _now() -> datetime:
    return datetime.now(UTC)


def retry_delay(attempt: int, *, scale: float, rand: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next."""
    base = SCHEDULE[attempt - 1] * scale
    return base * (1 + (rand or random).uniform(-JITTER, JITTER))


def _queue_delay(seconds: float) -> int:
    return max(0, min(MAX_DELAY_SECONDS, math.ceil(seconds)))


# ---- 1. dispatch ------------------------------------------------------------------------------


def dispatch(message: Dispatch, *, resolver: ssrf.Resolver | None = None) -> str:
    """Claim, check, sign and hand over one attempt; returns what happened (for the log)."""
    now = _now()
    with db.session_scope() as session:
        delivery = repository.get_delivery(session, message.delivery_id, for_update=True)
        if delivery is None:
            return "unknown"  # its endpoint was deleted
        if delivery.status != "pending" or delivery.attempts != message.attempt - 1:
            return "duplicate"
        due = delivery.next_attempt_at or now
        if due > now:  # a delay longer than SQS's: wait again, as long as SQS allows
            outbox.add(
                session,
                outbox.message(
                    DISPATCH_QUEUE, message, delay_seconds=_queue_delay((due - now).total_seconds())
                ),
            )
            return "not-due"
        endpoint = repository.get_endpoint(session, delivery.endpoint_id, for_update=True)
        assert endpoint is not None  # (a delivery goes with its endpoint)
        if not endpoint.is_active:
            delivery.status, delivery.last_error = "failed", "The webhook is disabled."
            return "disabled"
        if not repository.claim_attempt(
            session,
            delivery_id=delivery.id,
            attempt=message.attempt,
            now=now,
            request_id=delivery.request_id or request_id_var.get(),
        ):
            return "duplicate"
        policy = get_settings(WebhookPolicy)
        try:
            target = ssrf.check(
                endpoint.url,
                resolver=resolver or ssrf.system_resolver,
                allow_http=policy.allow_http,
                allow_loopback=policy.allow_loopback,
            )
        except ssrf.RefusedAddress as exc:
            session.refresh(delivery)
            logger.warning("Webhook address refused at delivery", extra=_keys(delivery))
            _apply(
                session,
                delivery,
                endpoint,
                Outcome(
                    delivery_id=delivery.id, attempt=message.attempt, error=f"refused: {exc}"[:200]
                ),
            )
            return "refused"
        event = repository.get_event(session, delivery.event_id)
        assert event is not None
        request = SendRequest(
            delivery_id=delivery.id,
            attempt=message.attempt,
            scheme=target.scheme,
            host=target.host,
            port=target.port,
            path=target.path,
            address=target.address,
            headers=signing.headers(
                message_id=str(event.id),
                timestamp=now,
                body=event.payload,
                secrets=signing_secrets(endpoint, now=now),
            ),
            body=event.payload,
            timeout_seconds=policy.timeout_seconds,
            not_after=now + SEND_WINDOW,
        )
        # FIFO, deduplicated per attempt for five minutes (as long as the call may be made):
        # the relay's or SQS's second copy of this message never reaches the sender.
        outbox.add(
            session,
            outbox.message(
                SEND_QUEUE, request, deduplication_id=f"{delivery.id}:{message.attempt}"
            ),
        )
    return "sent"


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    found = [crypto.decrypt(endpoint.secret, endpoint_id=endpoint.id)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        found.append(crypto.decrypt(endpoint.previous_secret, endpoint_id=endpoint.id))
    return found


def _keys(delivery: WebhookDelivery) -> dict[str, object]:
    return {
        "delivery_id": str(delivery.id),
        "endpoint_id": str(delivery.endpoint_id),
        "event_id": str(delivery.event_id),
        "attempt": delivery.attempts,
        "event_request_id": delivery.request_id,
    }


# ---- 2. send ----------------------------------------------------------------------------------


def send(request: SendRequest) -> Outcome:
    """Make the call: to ``request.address`` exactly (judged again here: a forged message
    cannot aim the sender at a private address), no redirects, within the timeout."""
    import urllib3

    started = time.perf_counter()

    def outcome(status: int | None = None, error: str | None = None) -> Outcome:
        return Outcome(
            delivery_id=request.delivery_id,
            attempt=request.attempt,
            status=status,
            error=error,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    if _now() > request.not_after:
        return outcome(error="expired before it could be sent")
    try:
        ssrf.judge(request.address, allow_loopback=get_settings(WebhookPolicy).allow_loopback)
    except ssrf.RefusedAddress as exc:
        return outcome(error=f"refused: {exc}"[:200])
    default_port = 443 if request.scheme == "https" else 80
    host_header = request.host if request.port == default_port else f"{request.host}:{request.port}"
    timeout = urllib3.Timeout(total=request.timeout_seconds)
    pool: urllib3.HTTPConnectionPool
    if request.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            request.address,
            request.port,
            server_hostname=request.host.strip("[]"),
            assert_hostname=request.host.strip("[]"),
            cert_reqs="CERT_REQUIRED",
            timeout=timeout,
            retries=False,
            maxsize=1,
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            request.address, request.port, timeout=timeout, retries=False, maxsize=1
        )
    try:
        response = pool.urlopen(
            "POST",
            request.path,
            body=request.body.encode(),
            headers={**request.headers, "host": host_header},
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
        )
        status = response.status
        response.read(64 * 1024)  # the answer's body is not kept; at most this much is read
        response.release_conn()
        return outcome(status=status)
    except urllib3.exceptions.NewConnectionError:  # (a subclass of ConnectTimeoutError)
        return outcome(error="connection failed")
    except urllib3.exceptions.TimeoutError:
        return outcome(error="timeout")
    except urllib3.exceptions.HTTPError as exc:
        return outcome(error=type(exc).__name__)
    finally:
        pool.close()


def report(result: Outcome) -> None:
    """Send the outcome back to the recorder (the sender's only write)."""
    from shared.platform import queues

    queues.send(OUTCOME_QUEUE, result)


# ---- 3. record --------------------------------------------------------------------------------


def record(result: Outcome) -> str:
    """Record what an attempt got and schedule what follows; once per attempt."""
    with db.session_scope() as session:
        delivery = repository.get_delivery(session, result.delivery_id, for_update=True)
        if delivery is None:
            return "unknown"
        endpoint = repository.get_endpoint(session, delivery.endpoint_id, for_update=True)
        assert endpoint is not None
        return _apply(session, delivery, endpoint, result)


def settle_stalled(*, now: datetime | None = None, limit: int = 500) -> int:
    """Count as failed every attempt still ``sending`` :data:`STALLED_AFTER` after its claim
    (its call was never made, or its outcome was lost), scheduling what follows; returns how
    many (the maintenance job)."""
    from sqlalchemy import select

    cutoff = (now or _now()) - STALLED_AFTER
    with db.session_scope() as session:
        stalled = list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == "sending", WebhookDelivery.updated_at < cutoff)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for found in stalled:
            endpoint = repository.get_endpoint(session, found.endpoint_id, for_update=True)
            assert endpoint is not None
            _apply(
                session,
                found,
                endpoint,
                Outcome(delivery_id=found.id, attempt=found.attempts, error="no outcome reported"),
            )
    return len(stalled)


def _apply(
    session: Session, delivery: WebhookDelivery, endpoint: WebhookEndpoint, result: Outcome
) -> str:
    now = _now()
    ok = result.status is not None and 200 <= result.status < 300
    if not repository.finish_attempt(
        session,
        delivery_id=delivery.id,
        attempt=result.attempt,
        state="succeeded" if ok else "failed",
        response_status=result.status,
        error=result.error,
        now=now,
    ):
        return "duplicate"
    delivery.response_status = result.status
    delivery.last_error = result.error
    delivery.updated_at = now
    log = {**_keys(delivery), "status": result.status, "error": result.error}
    if ok:
        delivery.status = "succeeded"
        logger.info("Webhook delivered", extra=log)
        return "succeeded"
    if result.status == 410:
        delivery.status = "failed"
        _disable(session, endpoint, "The endpoint answered 410 Gone.")
        logger.info("Webhook endpoint gone: disabled", extra=log)
        return "gone"
    if result.attempt >= MAX_ATTEMPTS:
        delivery.status = "failed"
        _disable(
            session,
            endpoint,
            f"{MAX_ATTEMPTS} attempts to deliver an event failed; the last: "
            + (f"HTTP {result.status}" if result.status is not None else str(result.error)),
        )
        logger.info("Webhook failed for good: endpoint disabled", extra=log)
        return "exhausted"
    delay = retry_delay(result.attempt, scale=get_settings(WebhookPolicy).retry_scale)
    delivery.status = "pending"
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    outbox.add(
        session,
        outbox.message(
            DISPATCH_QUEUE,
            Dispatch(delivery_id=delivery.id, attempt=result.attempt + 1),
            delay_seconds=_queue_delay(delay),
        ),
    )
    logger.info("Webhook attempt failed: retried later", extra={**log, "delay_seconds": delay})
    return "retry"


def _disable(session: Session, endpoint: WebhookEndpoint, reason: str) -> None:
    """Disable ``endpoint`` for ``reason`` and tell its owner (once: an endpoint disabled
    already stays as it is)."""
    if not endpoint.is_active:
        return
    from shared.notifications.messages import notify

    endpoint.is_active = False
    endpoint.disabled_reason = reason[:300]
    endpoint.updated_at = _now()
    notify(
        session,
        user_id=endpoint.user_id,
        kind="account_changed",
        data={"change": f"Your webhook {endpoint.url[:200]} was disabled: {reason}"},
    )
