"""The transactional outbox: an effect decided in a transaction is written in that transaction.

A queue message, a cache invalidation or an object put that a change decides on is never sent
inline. ``outbox.add(session, effect)`` writes it as a row of the ``outbox`` table in the
caller's transaction, so it exists exactly when the change does (a rolled-back change leaves no
row). Once the transaction has committed, the rows it wrote are delivered at once, in-process,
best effort: the happy path is as fast as sending inline. A failure there is logged (the effect's
kind and destination, never its payload) and never fails the request; the row stays pending.

The relay (:func:`relay`, run every minute by the ``system-outbox-relay`` scheduled job) delivers
what is left: it claims pending rows with ``FOR UPDATE SKIP LOCKED`` (relays running at once
share the work), delivers each, marks it done, and on a failure retries it later with an
exponential backoff (:func:`backoff`). A row is never dropped: one that keeps failing stays
pending, is retried at most hourly, and is counted by every run (the ``OutboxStuck`` metric and
an error log line). Delivered rows are deleted after :data:`RETENTION`.

Delivery is at least once (a row delivered in-process whose "done" mark was lost is delivered
again by the relay), so every consumer of an effect must be idempotent; each effect kind below
says how it is. A fresh row is left to its own request for :data:`GRACE` before the relay may
take it, so the usual case is delivered exactly once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy import Integer, String, Text, Uuid, delete, func, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.platform import db
from shared.platform.observability import logger, metrics, request_id_var
from shared.platform.orm import Base

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

#: How long a fresh row is left to the request that wrote it before the relay may deliver it.
GRACE = timedelta(seconds=30)
#: The first retry's delay; each further failure doubles it, up to :data:`MAX_BACKOFF`.
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
#: From this many failed attempts on, a row counts as stuck (still retried, hourly).
STUCK_AFTER = 8
#: How long delivered rows are kept (for inspection) before the relay deletes them.
RETENTION = timedelta(days=1)

_PENDING = "outbox_pending"


# ---- the effects -------------------------------------------------------------------------------


class QueueMessage(BaseModel):
    """A message for a worker queue (``shared.platform.queues``), with the request id of the
    change that decided it. The consumers are idempotent by the id the message carries."""

    type: Literal["queue"] = "queue"
    queue: str
    body: str
    request_id: str | None = None
    delay_seconds: int = Field(default=0, ge=0, le=900)
    deduplication_id: str | None = Field(default=None, max_length=128)

    @property
    def destination(self) -> str:
        return f"queue {self.queue}"


class CacheDelete(BaseModel):
    """Delete Redis keys (invalidate cached state): idempotent by nature."""

    type: Literal["cache_delete"] = "cache_delete"
    keys: list[str]

    @property
    def destination(self) -> str:
        return "cache"


class CacheSet(BaseModel):
    """Set a Redis key with an expiry (a tombstone, for instance): idempotent by nature."""

    type: Literal["cache_set"] = "cache_set"
    key: str
    value: str
    ttl_seconds: int = Field(ge=1)

    @property
    def destination(self) -> str:
        return "cache"


class ObjectPut(BaseModel):
    """Put a text object in S3: the same bytes under the same key each time."""

    type: Literal["object_put"] = "object_put"
    bucket: str
    key: str
    text: str
    content_type: str

    @property
    def destination(self) -> str:
        return f"bucket {self.bucket}"


Effect = Annotated[QueueMessage | CacheDelete | CacheSet | ObjectPut, Field(discriminator="type")]
_EFFECT: TypeAdapter[Effect] = TypeAdapter(Effect)


def message(
    queue: str,
    body: BaseModel,
    *,
    delay_seconds: int = 0,
    deduplication_id: str | None = None,
) -> QueueMessage:
    """The effect "send ``body`` to the worker queue ``queue``" (after ``delay_seconds``, at
    most SQS's 900; or, to a FIFO queue, once per ``deduplication_id`` within five minutes:
    a second delivery of the row by the relay is then dropped by SQS), under the current
    request id."""
    return QueueMessage(
        queue=queue,
        body=body.model_dump_json(),
        request_id=request_id_var.get(),
        delay_seconds=delay_seconds,
        deduplication_id=deduplication_id,
    )


def cache_delete(*keys: str) -> CacheDelete:
    return CacheDelete(keys=list(keys))


def cache_set(key: str, value: str, *, ttl_seconds: int) -> CacheSet:
    return CacheSet(key=key, value=value, ttl_seconds=ttl_seconds)


def object_put(bucket: str, key: str, text: str, *, content_type: str) -> ObjectPut:
    return ObjectPut(bucket=bucket, key=key, text=text, content_type=content_type)


def deliver(effect: Effect) -> None:
    """Carry out one effect; raises whatever the store raises."""
    if isinstance(effect, QueueMessage):
        from shared.platform import queues

        fifo = {"deduplication_id": effect.deduplication_id} if effect.deduplication_id else {}
        queues.send_json(
            effect.queue,
            effect.body,
            request_id=effect.request_id,
            delay_seconds=effect.delay_seconds,
            **fifo,
        )
    elif isinstance(effect, CacheDelete):
        from shared.platform import cache

        cache.redis().delete(*effect.keys)
    elif isinstance(effect, CacheSet):
        from shared.platform import cache

        cache.redis().set(effect.key, effect.value, ex=effect.ttl_seconds)
    else:
        from shared.platform import aws

        aws.client("s3").put_object(
            Bucket=effect.bucket,
            Key=effect.key,
            Body=effect.text.encode(),
            ContentType=effect.content_type,
        )


# ---- the table ---------------------------------------------------------------------------------


class OutboxRow(Base):
    """One effect to deliver. Pending while ``delivered_at`` is null; the relay takes it once
    ``available_at`` has passed. ``last_error`` is the exception's type, never its message."""

    __tablename__ = "outbox"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    available_at: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


def _now() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int) -> timedelta:
    """The delay before the next try of a row that failed ``attempts`` times (1, 2, ...)."""
    delay: timedelta = FIRST_BACKOFF * 2 ** min(max(0, attempts - 1), 20)
    return min(delay, MAX_BACKOFF)


# ---- writing, and delivering at once -----------------------------------------------------------


def add(session: Session, *effects: Effect) -> None:
    """Write ``effects`` in ``session``'s transaction; once it commits, deliver them at once.

    Never inside a savepoint: a savepoint rolled back would leave nothing to deliver."""
    if session.in_nested_transaction():
        raise RuntimeError("outbox.add inside a savepoint: add the effects outside it")
    now = _now()
    pending: list[tuple[uuid.UUID, Effect]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        engine = session.get_bind()
        db.after_commit(session, lambda: _deliver_committed(session, engine))
        from sqlalchemy import event

        event.listen(session, "after_soft_rollback", _forget_pending)
    for effect in effects:
        row_id = uuid.uuid4()
        session.add(
            OutboxRow(
                id=row_id,
                kind=effect.type,
                payload=effect.model_dump_json(),
                created_at=now,
                available_at=now + GRACE,
                attempts=0,
            )
        )
        pending.append((row_id, effect))


def _attempt(effect: Effect, failing: dict[str, str]) -> str | None:
    """Deliver ``effect`` unless its destination already failed (``failing``: destination ->
    error type); None when delivered, else the error type (recorded in ``failing``)."""
    error = failing.get(effect.destination)
    if error is not None:
        return error
    try:
        deliver(effect)
    except Exception as exc:
        error = failing[effect.destination] = type(exc).__name__
        return error
    return None


def _forget_pending(session: Session, previous_transaction: Any) -> None:
    """A rolled-back transaction wrote nothing: deliver nothing of it now. (Rows that an earlier
    commit of the same session wrote are the relay's, after :data:`GRACE`.)"""
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)


def _deliver_committed(session: Session, engine: Any) -> None:
    """Deliver what the committed transaction wrote. Never raises: the change stands, and what
    could not be delivered (or marked delivered) is the relay's."""
    pending: list[tuple[uuid.UUID, Effect]] = session.info.pop(_PENDING, None) or []
    if not pending:
        return
    delivered: list[uuid.UUID] = []
    failed: dict[uuid.UUID, str] = {}
    failing: dict[str, str] = {}  # a destination that failed is not tried again now
    for row_id, effect in pending:
        error = _attempt(effect, failing)
        if error is None:
            delivered.append(row_id)
            continue
        failed[row_id] = error
        logger.warning(
            "Effect not delivered: the outbox relay will retry it",
            extra={
                "outbox_id": str(row_id),
                "kind": effect.type,
                "destination": effect.destination,
                "error": error,
            },
        )
    if failed:
        from aws_lambda_powertools.metrics import MetricUnit

        metrics.add_metric(name="OutboxDeferred", unit=MetricUnit.Count, value=len(failed))
    try:
        _record(engine, delivered, failed)
    except Exception as exc:
        logger.warning(
            "Could not record the outbox deliveries: the relay may deliver them again",
            extra={"rows": len(pending), "error": type(exc).__name__},
        )


def _record(
    engine: Engine | Connection, delivered: list[uuid.UUID], failed: dict[uuid.UUID, str]
) -> None:
    now = _now()
    with Session(engine) as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":  # (the unit tests' SQLite: not)
            # A lost mark only means one more delivery by the relay, which every consumer
            # tolerates: this commit need not wait for its WAL flush (the request's own did).
            session.execute(text("SET LOCAL synchronous_commit = off"))
        if delivered:
            session.execute(
                update(OutboxRow).where(OutboxRow.id.in_(delivered)).values(delivered_at=now)
            )
        for row_id, error in failed.items():
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.delivered_at.is_(None))
                .values(
                    attempts=OutboxRow.attempts + 1, available_at=now + backoff(1), last_error=error
                )
            )


# ---- the relay ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    """What is still pending: how many rows, how old the oldest is, how many are stuck."""

    pending: int
    oldest_seconds: float
    stuck: int


def relay(*, batch_size: int = 100, budget_seconds: float = 40.0) -> dict[str, int | float]:
    """Deliver every pending row that is due, batch by batch, within ``budget_seconds``; delete
    delivered rows past :data:`RETENTION`; emit the backlog as metrics. Returns the counts.

    Once a destination fails in a run, its other rows are backed off without being tried: a
    store that is down (or stalls until the client's timeout) costs the run one attempt, not
    one per row, and the other destinations' rows still go."""
    deadline = time.monotonic() + budget_seconds
    failing: dict[str, str] = {}  # destination -> the error it failed with in this run
    delivered = failed = 0
    while time.monotonic() < deadline:
        with db.session_scope() as session:
            done, errors, claimed = _relay_batch(session, batch_size, deadline, failing)
        delivered, failed = delivered + done, failed + errors
        if claimed < batch_size:
            break
    with db.session_scope() as session:
        removed = db.affected(
            session.execute(delete(OutboxRow).where(OutboxRow.delivered_at < _now() - RETENTION))
        )
        backlog = _backlog(session)
    _report(backlog, delivered=delivered, failed=failed)
    return {
        "delivered": delivered,
        "failed": failed,
        "removed": removed,
        "pending": backlog.pending,
        "stuck": backlog.stuck,
        "oldest_pending_seconds": round(backlog.oldest_seconds, 1),
    }


def _relay_batch(
    session: Session, batch_size: int, deadline: float, failing: dict[str, str]
) -> tuple[int, int, int]:
    """Claim up to ``batch_size`` due rows (skipping rows another relay holds) and deliver them
    until ``deadline``; returns (delivered, failed, claimed). The delivered rows are marked in
    one statement; rows left untried at the deadline stay as they were."""
    now = _now()
    rows = session.execute(
        select(OutboxRow.id, OutboxRow.kind, OutboxRow.payload, OutboxRow.attempts)
        .where(OutboxRow.delivered_at.is_(None), OutboxRow.available_at <= now)
        .order_by(OutboxRow.available_at, OutboxRow.created_at)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    ).all()
    delivered: list[uuid.UUID] = []
    failed = 0
    for row in rows:
        if time.monotonic() >= deadline:
            break
        effect = _EFFECT.validate_json(row.payload)
        error = _attempt(effect, failing)
        if error is None:
            delivered.append(row.id)
            # Under the request that decided it: `make trace` follows a request into the relay.
            logger.info(
                "Outbox effect delivered by the relay",
                extra={
                    "outbox_id": str(row.id),
                    "kind": row.kind,
                    "destination": effect.destination,
                    "request_id": getattr(effect, "request_id", None),
                },
            )
            continue
        failed += 1
        attempts = row.attempts + 1
        retry_at = _now() + backoff(attempts)
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row.id)
            .values(attempts=attempts, available_at=retry_at, last_error=error)
        )
        logger.warning(
            "Outbox effect failed again: retried later",
            extra={
                "outbox_id": str(row.id),
                "kind": row.kind,
                "destination": effect.destination,
                "attempts": attempts,
                "error": error,
                "next_attempt": retry_at.isoformat(),
            },
        )
    if delivered:
        session.execute(
            update(OutboxRow).where(OutboxRow.id.in_(delivered)).values(delivered_at=_now())
        )
    return len(delivered), failed, len(rows)


def _backlog(session: Session) -> Backlog:
    pending, oldest, stuck = session.execute(
        select(
            func.count(),
            func.min(OutboxRow.created_at),
            func.count().filter(OutboxRow.attempts >= STUCK_AFTER),
        ).where(OutboxRow.delivered_at.is_(None))
    ).one()
    age = (_now() - oldest).total_seconds() if oldest is not None else 0.0
    return Backlog(pending=int(pending), oldest_seconds=max(0.0, age), stuck=int(stuck or 0))


def _report(backlog: Backlog, *, delivered: int, failed: int) -> None:
    """The backlog as EMF metrics (every run, zeros included, so an alarm can watch them), and
    an error line while any row is stuck."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric(name="OutboxPending", unit=MetricUnit.Count, value=backlog.pending)
    metrics.add_metric(
        name="OutboxOldestPendingAge", unit=MetricUnit.Seconds, value=backlog.oldest_seconds
    )
    metrics.add_metric(name="OutboxStuck", unit=MetricUnit.Count, value=backlog.stuck)
    metrics.add_metric(name="OutboxDelivered", unit=MetricUnit.Count, value=delivered)
    metrics.add_metric(name="OutboxFailed", unit=MetricUnit.Count, value=failed)
    if backlog.stuck:
        logger.error(
            "Outbox effects keep failing: they are kept and retried hourly",
            extra={"stuck": backlog.stuck, "stuck_after_attempts": STUCK_AFTER},
        )
