"""The webhook recorder: writes an attempt's outcome and schedules what follows."""

from shared.platform.declare import DATABASE, queue
from shared.platform.worker import QueueWorker
from shared.webhooks import delivery
from shared.webhooks.config import RecorderSettings
from shared.webhooks.messages import DISPATCH_QUEUE, OUTCOME_QUEUE, Outcome

function = QueueWorker(
    queue=OUTCOME_QUEUE,
    model=Outcome,
    batch_size=10,
    timeout_seconds=30,
    needs=(DATABASE, queue(DISPATCH_QUEUE), queue("notifications")),
    settings=RecorderSettings,
)


@function.record_handler
def process(outcome: Outcome) -> None:
    """Record one webhook attempt's outcome."""
    delivery.record(outcome)


handler = function.handler
