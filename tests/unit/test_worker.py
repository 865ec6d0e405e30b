"""Queue workers, scheduled jobs and the queue producer: the transport, with no AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from shared.platform import queues
from shared.platform.jobs import JobFailed, ScheduledJob
from shared.platform.observability import request_id_var
from shared.platform.worker import BatchFailed, QueueWorker, is_s3_test_event, request_id_of

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:stratus-test-thumbnails"


class Thumbnail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_id: str
    pages: int


def sqs_record(body: str, *, message_id: str, request_id: str | None = None) -> dict[str, Any]:
    """One record as Lambda puts it in an SQS event."""
    attributes = {}
    if request_id is not None:
        attributes["request_id"] = {
            "stringValue": request_id,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1767225600000",
            "SenderId": "123456789012",
            "ApproximateFirstReceiveTimestamp": "1767225600000",
        },
        "messageAttributes": attributes,
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def body(document_id: str, pages: int = 1) -> str:
    return json.dumps({"document_id": document_id, "pages": pages})


@pytest.fixture
def thumbnails():
    """A worker whose handler fails on the document "poison" and records what it saw."""
    worker = QueueWorker(queue="thumbnails", model=Thumbnail)
    seen: list[tuple[str, str | None]] = []

    @worker.record_handler
    def make_thumbnail(message: Thumbnail) -> None:
        """Render a thumbnail."""
        seen.append((message.document_id, request_id_var.get()))
        if message.document_id == "poison":
            raise RuntimeError("cannot render document poison")

    worker.seen = seen  # type: ignore[attr-defined]
    return worker


def lines_with(log_lines, message: str) -> list[dict[str, Any]]:
    return [line for line in log_lines() if line.get("message", "").startswith(message)]


# ---- partial batch responses ---------------------------------------------------------------------


def test_a_failing_record_and_an_invalid_body_fail_only_themselves(
    thumbnails, lambda_context, log_lines
):
    # Given a batch of three: a good record, one the handler fails on, one whose body is invalid
    event = {
        "Records": [
            sqs_record(body("doc-1"), message_id="m-good", request_id="req-good"),
            sqs_record(body("poison"), message_id="m-poison", request_id="req-poison"),
            sqs_record('{"document_id": "doc-3"}', message_id="m-invalid"),
        ]
    }

    # When the worker's Lambda handler processes it
    response = thumbnails.handler(event, lambda_context)

    # Then exactly the two failed records are reported, so only they are retried
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert failed == {"m-poison", "m-invalid"}
    # and the good record ran once, under the request id its producer sent
    assert thumbnails.seen == [("doc-1", "req-good"), ("poison", "req-poison")]
    # and every log line of a record carries that record's request id
    (processed,) = lines_with(log_lines, "Record processed")
    assert processed["correlation_id"] == "req-good"
    assert processed["message_id"] == "m-good"
    (handler_failed,) = lines_with(log_lines, "Record handler failed")
    assert handler_failed["correlation_id"] == "req-poison"
    assert handler_failed["level"] == "ERROR"
    assert handler_failed["error_at"].startswith("test_worker.py:")  # what failed where,
    assert "exception" not in handler_failed  # but no message, no traceback
    assert "cannot render document poison" not in json.dumps(log_lines())
    # and the invalid body is logged with its message id as request id and what was wrong
    (invalid,) = lines_with(log_lines, "Message body does not match Thumbnail")
    assert invalid["correlation_id"] == "m-invalid"
    assert [error["loc"] for error in invalid["errors"]] == [["pages"]]
    (summary,) = lines_with(log_lines, "Batch processed")
    assert (summary["records"], summary["failed"]) == (3, 2)
    assert summary["correlation_id"] == lambda_context.aws_request_id


def test_a_body_that_is_not_json_fails_only_its_record(thumbnails, lambda_context):
    # Given a good record and one whose body is not JSON at all
    event = {
        "Records": [
            sqs_record("not json {", message_id="m-garbage"),
            sqs_record(body("doc-2"), message_id="m-good"),
        ]
    }

    # When it is processed
    response = thumbnails.handler(event, lambda_context)

    # Then only the garbage record fails
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-garbage"}]}
    assert [doc for doc, _ in thumbnails.seen] == ["doc-2"]


def test_a_batch_that_fails_entirely_raises_so_nothing_is_deleted(
    thumbnails, lambda_context, log_lines
):
    # Given a batch in which every record fails
    event = {
        "Records": [
            sqs_record(body("poison"), message_id="m-1"),
            sqs_record("{}", message_id="m-2"),
        ]
    }

    # When it is processed, Then the invocation fails as a whole (every message is retried)
    with pytest.raises(BatchFailed) as failure:
        thumbnails.handler(event, lambda_context)
    assert lines_with(log_lines, "Every record of the batch failed")
    # whose error, which the Lambda runtime logs, quotes no record's exception
    assert "poison" not in str(failure.value)
    assert failure.value.__cause__ is None and failure.value.__suppress_context__


def test_a_clean_batch_reports_no_failures(thumbnails, lambda_context):
    # Given records that all succeed
    event = {"Records": [sqs_record(body(f"doc-{i}"), message_id=f"m-{i}") for i in range(3)]}

    # When processed, Then no failure is reported and each ran once, in order
    assert thumbnails.handler(event, lambda_context) == {"batchItemFailures": []}
    assert [doc for doc, _ in thumbnails.seen] == ["doc-0", "doc-1", "doc-2"]


def test_a_handler_can_also_receive_the_raw_record(lambda_context):
    # Given a worker whose handler asks for the raw record
    worker = QueueWorker(queue="raw", model=Thumbnail)
    seen = []

    @worker.record_handler
    def handle(message: Thumbnail, record) -> None:
        seen.append((message.document_id, record.message_id, record.attributes.sent_timestamp))

    # When a record is processed
    worker.handler({"Records": [sqs_record(body("doc-1"), message_id="m-1")]}, lambda_context)

    # Then it got both the validated message and the record
    assert seen == [("doc-1", "m-1", "1767225600000")]


# ---- request ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ({"stringValue": "req-1.a_B", "dataType": "String"}, "req-1.a_B"),
        ({"stringValue": "with spaces\nand a newline", "dataType": "String"}, "m-1"),
        ({"stringValue": "x" * 129, "dataType": "String"}, "m-1"),
        ({"stringValue": "42", "dataType": "Number"}, "m-1"),
        (None, "m-1"),
    ],
)
def test_the_request_id_comes_from_a_sane_string_attribute_else_the_message_id(attribute, expected):
    # Given a record with (or without) a request_id attribute
    record = sqs_record("{}", message_id="m-1")
    if attribute is not None:
        record["messageAttributes"]["request_id"] = attribute

    # When its request id is read, Then only a sane String value is trusted
    assert request_id_of(record) == expected


# ---- S3-fed workers ------------------------------------------------------------------------------

S3_TEST_EVENT = json.dumps(
    {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-01-01T00:00:00.000Z",
        "Bucket": "stratus-test-uploads",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
)


def s3_event(key: str) -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": "us-east-1",
                    "eventTime": "2026-01-01T00:00:00.000Z",
                    "eventName": "ObjectCreated:Post",
                    "userIdentity": {"principalId": "AWS:EXAMPLE"},
                    "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                    "responseElements": {
                        "x-amz-request-id": "C3D13FE58DE4C810",
                        "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMU",
                    },
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": "ingest",
                        "bucket": {
                            "name": "stratus-test-uploads",
                            "ownerIdentity": {"principalId": "EXAMPLE"},
                            "arn": "arn:aws:s3:::stratus-test-uploads",
                        },
                        "object": {
                            "key": key,
                            "size": 12,
                            "eTag": "0123456789abcdef0123456789abcdef",
                            "sequencer": "0A1B2C3D4E5F678901",
                        },
                    },
                }
            ]
        }
    )


def test_an_s3_fed_worker_acknowledges_the_s3_test_event_without_running(lambda_context):
    # Given a worker fed by S3 notifications, modelled with Powertools' S3 event model
    from aws_lambda_powertools.utilities.parser.models import S3Model

    worker = QueueWorker(queue="ingest", model=S3Model, s3_bucket="uploads", s3_prefix="u/")
    keys: list[str] = []

    @worker.record_handler
    def ingest(message: S3Model) -> None:
        keys.extend(record.s3.object.key for record in message.Records if record.s3.object)

    # When a batch holds the test event S3 sends on configuration, and a real upload
    event = {
        "Records": [
            sqs_record(S3_TEST_EVENT, message_id="m-test"),
            sqs_record(s3_event("u/doc-1/report.pdf"), message_id="m-upload"),
        ]
    }
    response = worker.handler(event, lambda_context)

    # Then the test event is acknowledged (not failed, not handled) and the upload is handled
    assert response == {"batchItemFailures": []}
    assert keys == ["u/doc-1/report.pdf"]


def test_a_worker_not_fed_by_s3_fails_an_s3_test_event_like_any_foreign_body(
    thumbnails, lambda_context
):
    # Given a worker with no S3 feed, When an S3 test event reaches it along with a good record
    event = {
        "Records": [
            sqs_record(S3_TEST_EVENT, message_id="m-test"),
            sqs_record(body("doc-1"), message_id="m-good"),
        ]
    }
    response = thumbnails.handler(event, lambda_context)

    # Then it is a foreign message there: failed, so it ends in the dead-letter queue
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-test"}]}


def test_the_s3_test_event_is_recognised_only_by_its_event_field():
    assert is_s3_test_event(S3_TEST_EVENT)
    assert not is_s3_test_event(s3_event("u/s3:TestEvent.txt"))
    assert not is_s3_test_event('"s3:TestEvent"')
    assert not is_s3_test_event("s3:TestEvent {")


# ---- declarations --------------------------------------------------------------------------------


def test_the_declaration_becomes_the_queue_trigger():
    worker = QueueWorker(
        queue="ingest",
        model=Thumbnail,
        batch_size=5,
        max_receive_count=3,
        visibility_timeout_seconds=180,
        max_concurrency=4,
        s3_bucket="uploads",
        s3_prefix="u/",
        timeout_seconds=30,
    )
    trigger = worker.queue
    assert (trigger.queue, trigger.batch_size, trigger.max_receive_count) == ("ingest", 5, 3)
    assert (trigger.visibility_timeout_seconds, trigger.max_concurrency) == (180, 4)
    assert (trigger.s3_bucket, trigger.s3_prefix) == ("uploads", "u/")
    assert worker.kind == "queue"


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"batch_size": 11}, "batch_size must be 1-10"),
        ({"batch_size": 0}, "batch_size must be 1-10"),
        ({"max_receive_count": 0}, "max_receive_count"),
        (
            {"visibility_timeout_seconds": 10, "timeout_seconds": 30},
            "at least the function timeout",
        ),
        ({"max_concurrency": 1}, "max_concurrency must be 2-1000"),
        ({"s3_prefix": "u/"}, "s3_prefix is set but s3_bucket is not"),
        ({"queue": "has space"}, "queue name"),
    ],
)
def test_a_declaration_aws_would_refuse_fails_at_import(kwargs, complaint):
    with pytest.raises(ValueError, match=complaint):
        QueueWorker(**{"queue": "ingest", "model": Thumbnail, **kwargs})


def test_a_worker_without_a_handler_fails_loudly(lambda_context):
    worker = QueueWorker(queue="orphan", model=Thumbnail)
    with pytest.raises(RuntimeError, match="no record handler"):
        worker.handler({"Records": [sqs_record(body("d"), message_id="m")]}, lambda_context)


def test_a_worker_takes_one_handler_only(thumbnails):
    with pytest.raises(RuntimeError, match="already has a record handler"):
        thumbnails.record_handler(lambda message: None)


def test_the_handler_docstring_becomes_the_description(thumbnails):
    assert thumbnails.description == "Render a thumbnail."


# ---- scheduled jobs ------------------------------------------------------------------------------

SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/stratus-test-maintenance"],
    "detail": {},
}


def test_a_scheduled_job_runs_under_the_event_id_and_returns_its_result(lambda_context, log_lines):
    # Given an hourly job
    job = ScheduledJob(schedule="rate(1 hour)")
    seen = []

    @job.run
    def purge() -> dict[str, Any]:
        """Purge what expired."""
        seen.append(request_id_var.get())
        return {"purged": 3}

    # When EventBridge's Scheduled Event invokes it
    result = job.handler(SCHEDULED_EVENT, lambda_context)

    # Then it ran once under the event id, and its result is returned and logged
    assert result == {"purged": 3}
    assert seen == [SCHEDULED_EVENT["id"]]
    (finished,) = lines_with(log_lines, "Scheduled job finished")
    assert finished["correlation_id"] == SCHEDULED_EVENT["id"]
    assert finished["result"] == {"purged": 3}
    assert finished["schedule"] == "rate(1 hour)"
    assert job.kind == "schedule"
    assert job.description == "Purge what expired."


def test_a_failing_scheduled_job_raises_and_logs_the_error(lambda_context, log_lines):
    # Given a job that fails
    job = ScheduledJob(schedule="rate(5 minutes)")

    @job.run
    def broken() -> None:
        raise RuntimeError("database is gone")

    # When it runs, Then the error reaches Lambda (never swallowed) and is logged
    with pytest.raises(JobFailed, match="Scheduled job failed: RuntimeError") as failure:
        job.handler(SCHEDULED_EVENT, lambda_context)
    assert "database is gone" not in str(failure.value)  # what the Lambda runtime would log
    (failed,) = lines_with(log_lines, "Scheduled job failed")
    assert failed["correlation_id"] == SCHEDULED_EVENT["id"]
    assert (failed["error"], "exception" in failed) == ("RuntimeError", False)
    assert "database is gone" not in json.dumps(log_lines())


def test_a_scheduled_job_invoked_without_an_event_id_gets_a_fresh_request_id(lambda_context):
    job = ScheduledJob(schedule="rate(1 day)")
    seen = []
    job.run(lambda: seen.append(request_id_var.get()))

    job.handler({}, lambda_context)

    assert seen[0]
    assert seen[0] != SCHEDULED_EVENT["id"]


@pytest.mark.parametrize("schedule", ["every hour", "rate 1 hour", "", "cron"])
def test_a_schedule_that_is_no_expression_fails_at_import(schedule):
    with pytest.raises(ValueError, match="not an EventBridge schedule expression"):
        ScheduledJob(schedule=schedule)


# ---- the producer --------------------------------------------------------------------------------


def test_sending_to_a_queue_whose_url_is_not_configured_fails_loudly(monkeypatch):
    # Given no URL in the environment for the queue "thumbnails"
    monkeypatch.delenv("THUMBNAILS_QUEUE_URL", raising=False)

    # When a message is sent to it, Then the error names the variable and the fix
    with pytest.raises(queues.QueueNotConfigured, match="THUMBNAILS_QUEUE_URL") as caught:
        queues.send("thumbnails", Thumbnail(document_id="d", pages=1))
    assert "declare.queue('thumbnails')" in str(caught.value)


def test_a_delay_sqs_would_refuse_is_refused_before_any_call(monkeypatch):
    monkeypatch.setenv("THUMBNAILS_QUEUE_URL", "http://127.0.0.1:1/queue/never-called")
    with pytest.raises(ValueError, match="delay_seconds must be 0-900"):
        queues.send("thumbnails", Thumbnail(document_id="d", pages=1), delay_seconds=901)


# ---- how the event source mapping reads a worker's response (local/queues.py) --------------------


@pytest.mark.parametrize(
    ("result", "error", "kept"),
    [
        ({"batchItemFailures": []}, None, set()),
        ({"batchItemFailures": None}, None, set()),
        ({}, None, set()),
        (None, None, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m-2"}]}, None, {"m-2"}),
        # a raised error, or a malformed response, fails the whole batch
        (None, RuntimeError("boom"), {"m-1", "m-2"}),
        ({"batchItemFailures": [{"itemIdentifier": "m-9"}]}, None, {"m-1", "m-2"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None, {"m-1", "m-2"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, None, {"m-1", "m-2"}),
        ({"batchItemFailures": [{"messageId": "m-2"}]}, None, {"m-1", "m-2"}),
        ({"batchItemFailures": "m-2"}, None, {"m-1", "m-2"}),
        ("ok", None, {"m-1", "m-2"}),
    ],
)
def test_the_poller_keeps_exactly_what_lambda_would_retry(result, error, kept):
    from local.invoke import Invocation
    from local.queues import batch_outcome

    outcome = batch_outcome(Invocation(result, error, 1.0), ["m-1", "m-2"])

    assert outcome.failed == kept
    # a whole-batch failure says why, a partial one does not need to
    whole = error is not None or (kept == {"m-1", "m-2"})
    assert (outcome.reason is not None) == whole
