"""The outbox as tests look at it: what is pending, and the relay's next run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update


def pending_effects() -> list[tuple[str, int]]:
    """The outbox rows not delivered yet, oldest first, as ``(kind, attempts)``."""
    from shared.platform import db
    from shared.platform.outbox import OutboxRow

    with db.session_scope() as session:
        rows = session.scalars(
            select(OutboxRow).where(OutboxRow.delivered_at.is_(None)).order_by(OutboxRow.created_at)
        )
        return [(row.kind, row.attempts) for row in rows]


def backoff_passed() -> None:
    """As if the retry delay of every pending row had passed: the relay's next run takes them."""
    from shared.platform import db
    from shared.platform.outbox import OutboxRow

    with db.session_scope() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.delivered_at.is_(None))
            .values(available_at=datetime.now(UTC))
        )


def run_relay(registry: Any) -> dict[str, Any]:
    """The relay's next run after the backoff, its real handler on a Scheduled Event."""
    from local.invoke import invoke
    from local.schedules import scheduled_event

    backoff_passed()
    entry = registry["system-outbox-relay"]
    outcome = invoke(entry, scheduled_event(entry), quiet=True)
    assert outcome.error is None, outcome.error
    result: dict[str, Any] = outcome.result
    return result


def drain(sqs: Any, queue_url: str) -> list[str]:
    """Receive and delete every message waiting on the queue; their bodies."""
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
