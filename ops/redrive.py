"""Redrive a dead-letter queue: every message back to its source queue, body and attributes
as they were (the ``request_id`` attribute included, so the retry logs under the request that
caused it), deleted from the dead-letter queue only once it was sent.

The same calls against SQS and the local runner's moto (which has no ``StartMessageMoveTask``),
so what is tested locally is what runs in a stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra import outputs
from ops.target import OpsError, Target

#: SQS's most per receive.
BATCH = 10


@dataclass(frozen=True)
class Redriven:
    queue: str
    moved: int
    left: int  # still in the dead-letter queue (only when ``limit`` stopped the move)


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in message.get("MessageAttributes", {}).items():
        entry = {"DataType": value["DataType"]}
        for key in ("StringValue", "BinaryValue"):
            if key in value:
                entry[key] = value[key]
        kept[name] = entry
    return kept


def depth(target: Target, queue: str) -> int:
    """Messages visible in ``queue``'s dead-letter queue (approximate, as SQS counts)."""
    sqs = target.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=target.output(outputs.dead_letter_url(queue)),
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0))


def redrive(target: Target, queue: str, *, limit: int | None = None) -> Redriven:
    """Move up to ``limit`` (all, by default) messages of ``queue``'s dead-letter queue back."""
    if not queue:
        raise OpsError("name the queue: make redrive QUEUE=<queue> (see the stack outputs)")
    try:
        source = target.output(outputs.queue_url(queue))
        dead = target.output(outputs.dead_letter_url(queue))
    except OpsError:
        known = sorted(
            k[len("Queue") : -len("Url")]
            for k in target.values
            if k.startswith("Queue") and k.endswith("Url")
        )
        raise OpsError(f"no queue {queue!r} in this stage (queues: {', '.join(known)})") from None
    sqs = target.client("sqs")
    moved = 0
    while limit is None or moved < limit:
        batch = BATCH if limit is None else min(BATCH, limit - moved)
        messages = sqs.receive_message(
            QueueUrl=dead,
            MaxNumberOfMessages=batch,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            sqs.send_message(
                QueueUrl=source,
                MessageBody=message["Body"],
                MessageAttributes=_attributes(message),
            )
            sqs.delete_message(QueueUrl=dead, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return Redriven(queue=queue, moved=moved, left=depth(target, queue))
