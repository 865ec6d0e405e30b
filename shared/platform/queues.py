"""The producer side of the worker queues: send one message, carrying the current request id.

A function that sends to the queue of the worker declared with ``queue="ingest"`` declares
``needs=(declare.queue("ingest"),)``; the CDK app and the local runner then set the queue's URL
in the environment variable named by :func:`shared.platform.settings.env_name`. The request id
of the invocation travels as the ``request_id`` message attribute, and the worker makes it the
correlation id of every log line of that record (see :mod:`shared.platform.worker`).
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel

from shared.platform.aws import client
from shared.platform.observability import logger, request_id_var
from shared.platform.settings import env_name

#: The message attribute (``String``) that carries the request id from producer to worker.
REQUEST_ID_ATTRIBUTE = "request_id"

#: SQS's limit on ``DelaySeconds`` (15 minutes).
MAX_DELAY_SECONDS = 900


class QueueNotConfigured(RuntimeError):
    """The environment carries no URL for a queue this function sends to."""


def queue_url(queue: str) -> str:
    """The URL of the declared queue ``queue``, from the environment; fails loudly if unset."""
    variable = env_name("queue", queue)
    assert variable is not None
    url = os.environ.get(variable, "").strip()
    if not url:
        raise QueueNotConfigured(
            f"No URL for queue {queue!r}: the environment variable {variable} is not set. "
            f"Declare needs=(declare.queue({queue!r}),) on the sending function, and check "
            f"that a worker is declared with queue={queue!r}."
        )
    return url


def send(queue: str, message: BaseModel, *, delay_seconds: int = 0) -> str:
    """Send ``message`` (as JSON) to the worker queue ``queue``; return its SQS message id.

    The current request id (:data:`shared.platform.observability.request_id_var`), when there is
    one, goes along as the ``request_id`` message attribute. Raises :class:`QueueNotConfigured`
    when the queue's URL is not in the environment, ``ValueError`` for a delay SQS refuses, and
    lets any SQS error propagate: a message that could not be queued is never silently lost.

    A message decided in a transaction goes through the outbox instead
    (``shared.platform.outbox.message``), which calls :func:`send_json` once it has committed.
    """
    return send_json(
        queue,
        message.model_dump_json(),
        delay_seconds=delay_seconds,
        request_id=request_id_var.get(),
    )


def send_json(
    queue: str,
    body: str,
    *,
    request_id: str | None,
    delay_seconds: int = 0,
    deduplication_id: str | None = None,
) -> str:
    """Send the JSON document ``body`` to the worker queue ``queue`` with ``request_id`` as its
    ``request_id`` attribute (none when None); as :func:`send` otherwise. ``deduplication_id``
    is for a FIFO queue (``QueueTrigger.fifo``): SQS accepts one message per id within five
    minutes; each message is its own group (no ordering between them)."""
    if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
        raise ValueError(f"delay_seconds must be 0-{MAX_DELAY_SECONDS}, not {delay_seconds}")
    url = queue_url(queue)
    attributes: dict[str, Any] = {}
    if request_id:
        attributes[REQUEST_ID_ATTRIBUTE] = {"DataType": "String", "StringValue": request_id}
    extra: dict[str, Any] = {}
    if deduplication_id is not None:
        extra = {"MessageGroupId": deduplication_id, "MessageDeduplicationId": deduplication_id}
    elif delay_seconds:  # (a FIFO queue takes no per-message delay)
        extra = {"DelaySeconds": delay_seconds}
    response = client("sqs").send_message(
        QueueUrl=url, MessageBody=body, MessageAttributes=attributes, **extra
    )
    message_id = str(response["MessageId"])
    logger.info("Message queued", extra={"queue": queue, "message_id": message_id})
    return message_id
