"""The webhook sender: one prepared call to an approved address; reports what it got.

Outside the VPC in AWS (it needs the internet, and nothing in the VPC): no database, no
secret, only the outcome queue. It never fails a record for the receiver's sake (a 500, a
timeout are outcomes), and a record that fails anyway is not retried (max_receive_count=1):
an attempt is never sent twice; the recorder's schedule makes the next one."""

from shared.platform.declare import queue
from shared.platform.worker import QueueWorker
from shared.webhooks import delivery
from shared.webhooks.config import SenderSettings
from shared.webhooks.messages import OUTCOME_QUEUE, SEND_QUEUE, SendRequest

function = QueueWorker(
    queue=SEND_QUEUE,
    model=SendRequest,
    batch_size=1,
    max_receive_count=1,
    fifo=True,  # one message per attempt: SQS drops a duplicate within the 5-minute window
    max_concurrency=10,
    timeout_seconds=25,
    memory_mb=256,
    needs=(queue(OUTCOME_QUEUE),),
    settings=SenderSettings,
)


@function.record_handler
def process(request: SendRequest) -> None:
    """Post one webhook delivery and report its outcome."""
    delivery.report(delivery.send(request))


handler = function.handler
