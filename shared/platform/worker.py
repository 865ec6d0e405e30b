"""Queue workers: one SQS-fed Lambda function per queue, with partial batch responses.

``QueueWorker`` is the declaration (the queue, the pydantic model of a message body, batching,
redrive, an optional S3 bucket feeding the queue) and the transport: Powertools'
``BatchProcessor`` runs the record handler once per record and reports every record that failed
in ``batchItemFailures``. A record fails when its body does not match the model or when the
handler raises; only that record is retried (after the queue's visibility timeout) and, after
``max_receive_count`` receives, SQS moves it to the dead-letter queue. The rest of its batch is
deleted as usual. When every record of a batch fails, the invocation raises, as Powertools does
by default, so that the failure shows in the function's error metric.

A worker whose records hold claims declares ``redelivery=Redelivery(...)``
(``shared.platform.redelivery``): its timeout, visibility timeout and ``maxReceiveCount`` then
come from that one place, which also gives the claim's staleness. A record whose database
connection turns out dead (a failover, a terminated backend) runs again at once, up to
``DISCONNECT_ATTEMPTS`` times, rather than wait a visibility timeout: handlers are idempotent.

Each record runs under its own request id: the ``request_id`` message attribute that
:func:`shared.platform.queues.send` sets, else the SQS message id.

A worker fed by S3 notifications (``s3_bucket=...``) receives S3 event documents as bodies; the
Powertools parser model ``aws_lambda_powertools.utilities.parser.models.S3Model`` describes
them. The ``s3:TestEvent`` that S3 sends when a notification is configured is acknowledged and
skipped before validation.
"""

from __future__ import annotations

import inspect
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from shared.platform import db, snapstart
from shared.platform.declare import Access, Function, QueueTrigger
from shared.platform.observability import is_sane_request_id, log_failure, logger, set_request_id
from shared.platform.queues import REQUEST_ID_ATTRIBUTE
from shared.platform.redelivery import Redelivery, default_visibility_timeout
from shared.platform.settings import Observability, Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

M = TypeVar("M", bound=BaseModel)
H = TypeVar("H", bound=Callable[..., None])

# Limits of the Lambda SQS event source mapping and of SQS itself.
MAX_BATCH_SIZE = 10  # without a batching window
MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200
MAX_TIMEOUT_SECONDS = 900
#: How many times a record runs when its database connection keeps turning out dead.
DISCONNECT_ATTEMPTS = 4


def request_id_of(record: Mapping[str, Any]) -> str:
    """The request id of a raw SQS record: its ``request_id`` attribute if sane, else its id."""
    attributes = record.get("messageAttributes") or {}
    attribute = attributes.get(REQUEST_ID_ATTRIBUTE) or {}
    value = attribute.get("stringValue")
    is_string = str(attribute.get("dataType", "")).startswith("String")
    if is_string and is_sane_request_id(value):
        return value
    return str(record.get("messageId") or uuid.uuid4())


def is_s3_test_event(body: str) -> bool:
    """True for the ``s3:TestEvent`` body S3 sends when a bucket notification is configured."""
    if "s3:TestEvent" not in body:  # cheap check first: most bodies are real events
        return False
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("Event") == "s3:TestEvent"


class QueueWorker(Function, Generic[M]):
    """An SQS queue (with its dead-letter queue) and the function that consumes it.

    Declare it in ``handler.py`` and register the record handler with
    :meth:`record_handler`::

        function = QueueWorker(queue="notifications", model=NotificationRequested)

        @function.record_handler
        def deliver(message: NotificationRequested) -> None:
            ...

        handler = function.handler
    """

    def __init__(
        self,
        *,
        queue: str,
        model: type[M],
        batch_size: int = 10,
        max_receive_count: int = 5,
        visibility_timeout_seconds: int | None = None,
        max_concurrency: int = 2,
        s3_bucket: str | None = None,
        s3_prefix: str = "",
        fifo: bool = False,
        needs: tuple[Access, ...] = (),
        settings: type[Settings] = Observability,
        timeout_seconds: int = 30,
        memory_mb: int = 512,
        redelivery: Redelivery | None = None,
    ) -> None:
        if redelivery is not None:
            # One source for the numbers a claim relies on (shared.platform.redelivery)
            timeout_seconds = redelivery.function_timeout_seconds
            max_receive_count = redelivery.max_receive_count
            visibility_timeout_seconds = redelivery.visibility_timeout_seconds
        elif visibility_timeout_seconds is None:
            visibility_timeout_seconds = default_visibility_timeout(timeout_seconds)
        self.redelivery = redelivery
        trigger = QueueTrigger(
            queue=queue,
            batch_size=batch_size,
            max_receive_count=max_receive_count,
            visibility_timeout_seconds=visibility_timeout_seconds,
            max_concurrency=max_concurrency,
            s3_bucket=s3_bucket,
            s3_prefix=s3_prefix,
            fifo=fifo,
        )
        _check_queue_declaration(trigger, timeout_seconds=timeout_seconds)
        super().__init__(
            trigger=trigger,
            needs=needs,
            settings=settings,
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
        )
        self.model: type[M] = model
        self._handler: Callable[..., None] | None = None
        self._handler_takes_record = False

    @property
    def queue(self) -> QueueTrigger:
        """The queue trigger this worker declares."""
        assert isinstance(self.trigger, QueueTrigger)
        return self.trigger

    def record_handler(self, fn: H) -> H:
        """Register ``fn(message)`` as the handler of every record of the queue.

        ``message`` is the record's body validated against the worker's model. A handler with a
        parameter named ``record`` also receives the raw record (a Powertools ``SQSRecord``),
        as ``fn(message, record=record)``. Raise to fail the record; return to acknowledge it.
        """
        if self._handler is not None:
            raise RuntimeError(f"queue worker {self.queue.queue!r} already has a record handler")
        self._handler = fn
        self._handler_takes_record = "record" in inspect.signature(fn).parameters
        self.description = (fn.__doc__ or "").strip().partition("\n")[0]
        return fn

    def prime(self) -> None:
        """Before a SnapStart snapshot: the batch utility imported and a processor built
        (``shared.platform.snapstart``)."""
        super().prime()
        snapstart.prime([self._prime_batch])

    def _prime_batch(self) -> None:
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

        BatchProcessor(event_type=EventType.SQS)

    def invoke(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        """Process one SQS batch; return the partial batch response naming the failed records."""
        # Imported here: the batch utility pulls in Powertools' parser models (~80 ms), which
        # the CDK app and the registry, importing every handler, do not need.
        from aws_lambda_powertools.utilities.batch import (
            BatchProcessor,
            EventType,
            process_partial_response,
        )
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        if self._handler is None:
            raise RuntimeError(
                f"queue worker {self.queue.queue!r} has no record handler: "
                "decorate a function with @function.record_handler"
            )
        batch_request_id = str(getattr(context, "aws_request_id", "") or uuid.uuid4())
        set_request_id(batch_request_id)
        records = len(event.get("Records") or [])
        processor = BatchProcessor(event_type=EventType.SQS)
        try:
            response = process_partial_response(
                event=event,
                record_handler=self._process_record,
                processor=processor,
                context=context,
            )
        except BatchProcessingError:
            set_request_id(batch_request_id)
            logger.error(
                "Every record of the batch failed; the whole batch will be retried",
                extra={"records": records},
            )
            # Not Powertools' error: its text carries every record's exception and traceback,
            # which the Lambda runtime would log (each record's failure is logged above, by type).
            raise BatchFailed(f"every one of the {records} records failed") from None
        set_request_id(batch_request_id)
        failed = len(response.get("batchItemFailures") or [])
        logger.info("Batch processed", extra={"records": records, "failed": failed})
        return response

    def _call(self, message: M, record: SQSRecord) -> None:
        assert self._handler is not None
        if self._handler_takes_record:
            self._handler(message, record=record)
        else:
            self._handler(message)

    def _process_record(self, record: SQSRecord) -> None:
        """One record: its request id, then its body validated, then the handler."""
        raw = record.raw_event
        set_request_id(request_id_of(raw))
        started = time.perf_counter()
        log_keys = {
            "message_id": record.message_id,
            "receive_count": (raw.get("attributes") or {}).get("ApproximateReceiveCount"),
        }
        body = record.body or ""
        if self.queue.s3_bucket and is_s3_test_event(body):
            logger.info("Skipping the s3:TestEvent S3 sent on configuration", extra=log_keys)
            return
        try:
            message = self.model.model_validate_json(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            logger.error(
                f"Message body does not match {self.model.__name__}; failing this record",
                extra={**log_keys, "errors": errors},
            )
            raise
        try:
            for attempt in range(1, DISCONNECT_ATTEMPTS + 1):
                try:
                    self._call(message, record)
                    break
                except Exception as exc:
                    # A pooled connection that died (a terminated backend, a failover):
                    # handlers are idempotent (delivery is at least once), so run it again at
                    # once, on a fresh connection, rather than wait a visibility timeout
                    if attempt == DISCONNECT_ATTEMPTS or not db.is_disconnect(exc):
                        raise
                    db.log_retry(exc)
                    time.sleep(0.25 * attempt)
        except Exception as exc:
            log_failure("Record handler failed; failing this record", exc, **log_keys)
            raise
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        logger.info("Record processed", extra={**log_keys, "duration_ms": duration_ms})


class BatchFailed(RuntimeError):
    """Every record of a batch failed: the invocation fails, so SQS retries the whole batch."""


def _check_queue_declaration(trigger: QueueTrigger, *, timeout_seconds: int) -> None:
    """Refuse, at import, a declaration that SQS, Lambda or CloudFormation would refuse later."""
    t = trigger
    problems = []
    # SQS allows 80 of [A-Za-z0-9_-]; room is left for the stage prefix and the "-dlq" suffix.
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", t.queue):
        problems.append(f"queue name {t.queue!r} must be 1-64 of [A-Za-z0-9_-]")
    if not 1 <= t.batch_size <= MAX_BATCH_SIZE:
        problems.append(f"batch_size must be 1-{MAX_BATCH_SIZE}, not {t.batch_size}")
    if not 1 <= t.max_receive_count <= 1000:
        problems.append(f"max_receive_count must be 1-1000, not {t.max_receive_count}")
    if not 1 <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        problems.append(f"timeout_seconds must be 1-{MAX_TIMEOUT_SECONDS}, not {timeout_seconds}")
    if t.visibility_timeout_seconds is not None and not (
        timeout_seconds <= t.visibility_timeout_seconds <= MAX_VISIBILITY_TIMEOUT_SECONDS
    ):
        problems.append(
            "visibility_timeout_seconds must be at least the function timeout "
            f"({timeout_seconds} s) and at most {MAX_VISIBILITY_TIMEOUT_SECONDS}, "
            f"not {t.visibility_timeout_seconds}"
        )
    if not 2 <= t.max_concurrency <= 1000:
        problems.append(f"max_concurrency must be 2-1000 (Lambda's range), not {t.max_concurrency}")
    if t.fifo and t.s3_bucket:
        problems.append("S3 does not notify FIFO queues")
    if t.s3_prefix and not t.s3_bucket:
        problems.append("s3_prefix is set but s3_bucket is not")
    if problems:
        raise ValueError(f"queue worker {trigger.queue!r}: " + "; ".join(problems))
