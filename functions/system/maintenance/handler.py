"""The hourly maintenance job: expired tokens, abandoned uploads, stalled webhook attempts."""

from datetime import UTC, datetime

from shared.auth import service as auth
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
    # the queues: a stalled webhook attempt is retried, or ends disabling its endpoint
    needs=(DATABASE, bucket("uploads", "read_write"), queue("webhooks"), queue("notifications")),
    settings=MaintenanceSettings,
    timeout_seconds=300,
)


@function.run
def run() -> dict[str, int]:
    """Delete expired tokens and documents whose upload never came (with their objects); count
    webhook attempts that never reported an outcome as failed."""
    now = datetime.now(UTC)
    with db.session_scope() as session:
        removed = auth.remove_expired_tokens(session, now=now)
        removed["abandoned_documents"] = documents.remove_abandoned(session, now=now)
    from shared.webhooks import delivery as webhooks  # on first use: kept out of the import

    removed["stalled_webhook_attempts"] = webhooks.settle_stalled(now=now)
    return removed


handler = function.handler
