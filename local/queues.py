"""The local runner's stand-in for the Lambda SQS event source mapping.

One :class:`QueuePoller` per worker queue long-polls moto's SQS, hands each batch to the
worker's real handler as the same event Lambda would build, and then does what the event source
mapping does with the result:

- the handler returned: every message is deleted except those named in ``batchItemFailures``;
- the handler raised, or returned a malformed partial batch response: no message is deleted.

A message that is not deleted stays invisible until the queue's own visibility timeout runs
out, then is received again; after ``maxReceiveCount`` receives, moto's redrive policy moves it
to the dead-letter queue. Nothing here shortens the visibility timeout or moves messages itself,
so the retry and dead-letter behaviour seen locally is SQS's.
"""

from __future__ import annotations

import base64
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from functions.registry import Entry
from local.invoke import Invocation, Invoker, invoke
from shared.platform.declare import QueueTrigger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef, MessageTypeDef

#: Seconds one ``ReceiveMessage`` call waits for messages (long polling).
WAIT_SECONDS = 1
#: Seconds the poller thread waits after an SQS error before it polls again.
ERROR_BACKOFF_SECONDS = 1.0


def lambda_message_attribute(value: MessageAttributeValueOutputTypeDef) -> dict[str, Any]:
    """One message attribute in Lambda's camelCase shape (binary values base64-encoded)."""
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [
        base64.b64encode(item).decode("ascii") for item in value.get("BinaryListValues", [])
    ]
    attribute["dataType"] = value["DataType"]
    return attribute


def sqs_event(messages: Sequence[MessageTypeDef], *, queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda hands a function for ``messages`` received from the queue ``queue_arn``."""
    records = []
    for message in messages:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: lambda_message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


class BatchOutcome(NamedTuple):
    """What the event source mapping makes of one invocation."""

    failed: set[str]  # the message ids to keep (not delete)
    reason: str | None  # why the whole batch failed, when it failed as a whole


def batch_outcome(invocation: Invocation, message_ids: Iterable[str]) -> BatchOutcome:
    """Which messages of a batch to keep, as the event source mapping judges the invocation.

    As Lambda documents for ``ReportBatchItemFailures``: a raised error, a response that is not
    an object, or an item whose ``itemIdentifier`` is missing, empty or not a message of the
    batch fails the whole batch; ``None``, ``{}`` and an empty or null ``batchItemFailures``
    mean complete success; otherwise exactly the listed messages failed.
    """
    batch = set(message_ids)
    result = invocation.result
    if invocation.error is not None:
        error = invocation.error
        # the type only: a database error's message quotes the statement's values
        return BatchOutcome(batch, f"the handler raised {type(error).__name__}")
    if result is None:
        return BatchOutcome(set(), None)
    if not isinstance(result, dict):
        return BatchOutcome(batch, f"the response is not an object: {result!r:.200}")
    failures = result.get("batchItemFailures")
    if failures is None:
        return BatchOutcome(set(), None)
    if not isinstance(failures, list):
        return BatchOutcome(batch, f"batchItemFailures is not a list: {failures!r:.200}")
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in batch:
            return BatchOutcome(
                batch, f"batchItemFailures names no message of the batch: {item!r:.200}"
            )
        failed.add(identifier)
    return BatchOutcome(failed, None)


class QueuePoller:
    """Feed one worker from its queue, as the Lambda SQS event source mapping does.

    ``start()`` runs :meth:`drain_once` in a loop on a daemon thread until ``stop`` is set;
    tests and tools can instead call :meth:`drain_once` themselves, one batch at a time.
    """

    def __init__(
        self,
        entry: Entry,
        trigger: QueueTrigger,
        queue_url: str,
        sqs: SQSClient,
        stop: threading.Event,
        *,
        wait_seconds: int = WAIT_SECONDS,
        quiet: bool = False,
        invoker: Invoker = invoke,
    ) -> None:
        self.entry = entry
        self.invoker = invoker
        self.trigger = trigger
        self.queue_url = queue_url
        self.sqs = sqs
        self.stop_event = stop
        self.wait_seconds = wait_seconds
        self.quiet = quiet
        self.received = 0  # messages handed to the worker, retries included
        self.deleted = 0
        #: Received and not deleted yet (in a batch, or failed and waiting to come back), by
        #: message id: what the runner saves when it stops, with the visible ones.
        self.held: dict[str, MessageTypeDef] = {}
        self._held_lock = threading.Lock()
        self._queue_arn: str | None = None
        self._thread: threading.Thread | None = None

    @property
    def queue_arn(self) -> str:
        """The queue's ARN (asked of SQS once), as Lambda puts it in ``eventSourceARN``."""
        if self._queue_arn is None:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]
            self._queue_arn = attributes["QueueArn"]
        return self._queue_arn

    def drain_once(self) -> int:
        """Receive one batch, invoke the worker on it, delete what succeeded.

        Returns how many messages were received and handed to the worker (0 when the long poll
        found none). SQS errors propagate; the worker's errors do not (they fail the batch).
        """
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.trigger.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            # AttributeNames is the older spelling of MessageSystemAttributeNames; SQS and moto
            # accept both, and either may be the one a given backend honours.
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        self.received += len(messages)
        with self._held_lock:
            self.held.update((m["MessageId"], m) for m in messages)
        event = sqs_event(messages, queue_arn=self.queue_arn, region=self.sqs.meta.region_name)
        invocation = self.invoker(self.entry, event, quiet=self.quiet)
        outcome = batch_outcome(invocation, (m["MessageId"] for m in messages))
        if outcome.reason is not None:
            self._say(
                f"the whole batch of {len(messages)} failed ({outcome.reason}); none deleted, "
                "each is received again after the visibility timeout"
            )
        done = [m for m in messages if m["MessageId"] not in outcome.failed]
        self._delete(done)
        return len(messages)

    def _delete(self, messages: Sequence[MessageTypeDef]) -> None:
        for start in range(0, len(messages), 10):  # DeleteMessageBatch takes at most 10
            chunk = messages[start : start + 10]
            result = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                ],
            )
            self.deleted += len(result.get("Successful", []))
            with self._held_lock:
                for done in result.get("Successful", []):
                    self.held.pop(chunk[int(done["Id"])]["MessageId"], None)
            for failure in result.get("Failed", []):
                # A receipt handle goes stale when the handler outlived the visibility timeout:
                # SQS then delivers the message again, as it would in AWS.
                self._say(f"could not delete a message: {failure.get('Message', failure)}")

    def start(self) -> None:
        """Poll on a daemon thread until the stop event is set."""
        if self._thread is not None:
            raise RuntimeError(f"poller for queue {self.trigger.queue!r} already started")
        self._thread = threading.Thread(
            target=self._run, name=f"queue-poller-{self.trigger.queue}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Set the stop event (shared with whoever passed it in); the thread ends after its
        current receive and batch."""
        self.stop_event.set()

    def held_messages(self) -> list[dict[str, Any]]:
        """A copy of :attr:`held`."""
        with self._held_lock:
            return [dict(m) for m in self.held.values()]

    def join(self, timeout: float | None = None) -> None:
        """Wait for the polling thread to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the polling thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.drain_once()
            except Exception as exc:  # the event source mapping keeps polling too
                self._say(f"polling failed ({type(exc).__name__}); retrying")
                self.stop_event.wait(ERROR_BACKOFF_SECONDS)

    def _say(self, line: str) -> None:
        print(f"[{self.entry.name}] queue {self.trigger.queue}: {line}", file=sys.stderr)
        sys.stderr.flush()
