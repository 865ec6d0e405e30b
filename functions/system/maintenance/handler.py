"""The hourly maintenance job: expired tokens, abandoned uploads, stuck documents, stalled
webhook attempts."""

from datetime import UTC, datetime

from shared.auth import service as auth
from shared.documents import ingest
from shared.documents import service as documents
from shared.platform import db
from shared.platform.declare import DATABASE, bucket, queue
from shared.platform.jobs import ScheduledJob
from shared.platform.settings import IngestSettings
from shared.webhooks.config import WebhookPolicy


class MaintenanceSettings(IngestSettings, WebhookPolicy):
    """Postgres and the uploads bucket; the webhooks' retry schedule."""


function = ScheduledJob(
    schedule="rate(1 hour)",
    # the queues: a stuck document is queued again; a stalled webhook attempt is retried, or
    # ends disabling its endpoint; either may notify
    needs=(
        DATABASE,
        bucket("uploads", "read_write"),
        queue(ingest.QUEUE),
        queue("webhooks"),
        queue("notifications"),
    ),
    settings=MaintenanceSettings,
    timeout_seconds=300,
)


@function.run
def run() -> dict[str, int]:
    """Delete expired tokens and documents whose upload never came (with their objects); queue
    documents stuck in ``queued``/``processing`` again, or fail those out of attempts; count
    webhook attempts that never reported an outcome as failed."""
    now = datetime.now(UTC)
    with db.session_scope() as session:
        removed = auth.remove_expired_tokens(session, now=now)
        removed["abandoned_documents"] = documents.remove_abandoned(session, now=now)
    with db.session_scope() as session:
        removed |= ingest.requeue_stuck(session, now=now)
    from shared.webhooks import delivery as webhooks  # on first use: kept out of the import

    removed["stalled_webhook_attempts"] = webhooks.settle_stalled(now=now)
    return removed


handler = function.handler
