"""The webhook dispatcher: claims one attempt, checks the address, signs, hands it over."""

from shared.platform.declare import DATABASE, queue, secret
from shared.platform.worker import QueueWorker
from shared.webhooks import delivery
from shared.webhooks.config import DispatchSettings
from shared.webhooks.messages import DISPATCH_QUEUE, SEND_QUEUE, Dispatch

function = QueueWorker(
    queue=DISPATCH_QUEUE,
    model=Dispatch,
    batch_size=10,
    timeout_seconds=30,
    needs=(
        DATABASE,
        secret("webhook-keys"),
        queue(SEND_QUEUE),
        queue(DISPATCH_QUEUE),  # a delay over SQS's 15 minutes: back on the queue
        queue("notifications"),  # an endpoint refused at delivery may end disabled
    ),
    settings=DispatchSettings,
)


@function.record_handler
def process(message: Dispatch) -> None:
    """Sign and hand over one webhook delivery attempt."""
    delivery.dispatch(message)


handler = function.handler
