"""A worker's queue: SQS with a dead-letter queue, feeding its function in partial batches."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3_notifications
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import ConfigurationError
from shared.platform.declare import QueueTrigger
from shared.platform.redelivery import default_visibility_timeout


class WorkerQueue(Construct):
    """The queue declared by a worker's ``QueueTrigger``, and its dead-letter queue."""

    def __init__(
        self, scope: Construct, id_: str, *, trigger: QueueTrigger, function_timeout_seconds: int
    ) -> None:
        super().__init__(scope, id_)
        self.trigger = trigger
        # The worker's declaration resolves it (shared.platform.redelivery); a bare trigger
        # gets the same default
        visibility = trigger.visibility_timeout_seconds or default_visibility_timeout(
            function_timeout_seconds
        )
        if visibility < function_timeout_seconds:
            raise ConfigurationError(
                f"queue {trigger.queue!r}: visibility timeout {visibility} s is shorter than its"
                f" worker's timeout {function_timeout_seconds} s"
            )
        # A FIFO queue's dead-letter queue is FIFO too (SQS's rule); CDK names both *.fifo.
        fifo = True if trigger.fifo else None
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            fifo=fifo,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            fifo=fifo,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=cdk.Duration.seconds(visibility),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=trigger.max_receive_count, queue=self.dead_letter_queue
            ),
        )

    def feed(self, function: lambda_.IFunction) -> None:
        """Deliver the queue's messages to ``function`` (the worker's ``live`` alias), which
        reports failed records alone."""
        function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=self.trigger.batch_size,
                max_concurrency=self.trigger.max_concurrency,
                report_batch_item_failures=True,
            )
        )

    def receive_object_created(self, bucket: s3.IBucket) -> None:
        """Send ``bucket``'s ObjectCreated events under the trigger's prefix to the queue."""
        filters = [s3.NotificationKeyFilter(prefix=self.trigger.s3_prefix)]
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3_notifications.SqsDestination(self.queue),
            *(filters if self.trigger.s3_prefix else []),
        )
