"""The outbox relay: every minute, deliver the effects that were not delivered at once."""

from shared.platform import outbox
from shared.platform.declare import CACHE, DATABASE, bucket, queue
from shared.platform.jobs import ScheduledJob
from shared.platform.settings import Aws, Cache, Database, Observability


class RelaySettings(Observability, Database, Cache, Aws):
    """Postgres (the outbox), Redis and AWS (where the effects go)."""


function = ScheduledJob(
    schedule="rate(1 minute)",
    # Every destination an effect can name: each queue a function that writes the outbox (one
    # with the database) sends to, the cache, and the bucket the service itself writes
    # (tests/unit/test_outbox.py checks the queues). Not webhook-outcomes: only the webhook
    # sender, outside the VPC and without a database, sends there, directly.
    needs=(
        DATABASE,
        CACHE,
        queue("notifications"),
        queue("purge"),
        queue("ingest"),  # stuck documents queued again by the maintenance job
        queue("webhooks"),
        queue("webhook-send"),
        bucket("uploads", "write"),
    ),
    settings=RelaySettings,
    timeout_seconds=60,
)


@function.run
def run() -> dict[str, int | float]:
    """Deliver pending outbox effects (retrying with backoff), and report the backlog."""
    return outbox.relay()


handler = function.handler
