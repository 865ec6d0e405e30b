"""Stuck documents: ``queued`` or ``processing`` for longer than an ingestion takes, because
the S3 event that should have woken the ingest worker was lost, or its message is in the
dead-letter queue, or a worker died holding the claim.

``stuck`` lists them; ``--requeue`` sends the ingest queue the S3 event it would have received
(the worker claims ``queued`` documents, and ``processing`` claims older than its stale limit),
so each is ingested again; ingestion is idempotent (chunks and vectors are replaced).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from infra import outputs
from ops.target import Target
from shared.platform import db

STUCK = (
    "SELECT id, s3_key, status, updated_at FROM documents"
    " WHERE status IN ('queued', 'processing') AND updated_at < :before ORDER BY updated_at"
)


@dataclass(frozen=True)
class Stuck:
    id: str
    key: str
    status: str
    since: datetime


def stuck(*, minutes: int = 30) -> list[Stuck]:
    before = datetime.now(UTC) - timedelta(minutes=minutes)
    with db.read_scope() as session:
        rows = session.execute(text(STUCK), {"before": before}).all()
    return [Stuck(str(r.id), r.s3_key, r.status, r.updated_at) for r in rows]


def requeue(target: Target, documents: list[Stuck]) -> int:
    """Send each document's S3 event to the ingest queue again; returns how many."""
    bucket = target.output(outputs.bucket_name("uploads"))
    queue = target.output(outputs.queue_url("ingest"))
    sqs = target.client("sqs")
    for document in documents:
        event = {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": bucket}, "object": {"key": document.key}},
                }
            ]
        }
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
    return len(documents)
