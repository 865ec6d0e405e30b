"""The local queue poller against moto's SQS: partial batch responses, retries after the
visibility timeout, redrive to the dead-letter queue, and a poison message holding nobody back."""

from __future__ import annotations

import hashlib
import threading
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from functions.registry import Entry
from local.queues import QueuePoller
from shared.platform import aws, queues
from shared.platform.observability import request_id_var, set_request_id
from shared.platform.worker import QueueWorker
from tests.support.moto import threaded_moto

pytestmark = pytest.mark.integration

QUEUE = "poller-test"  # its URL travels in POLLER_TEST_QUEUE_URL
MAX_RECEIVE_COUNT = 2


class Task(BaseModel):
    name: str


@pytest.fixture(scope="module")
def poller_moto() -> Iterator[str]:
    """moto's threaded server on a free loopback port, with every shared client pointed at it."""
    with threaded_moto() as endpoint, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        aws.reset()
        try:
            yield endpoint
        finally:
            aws.reset()


@pytest.fixture
def poller_queue(poller_moto, monkeypatch) -> Iterator[dict[str, str]]:
    """A fresh queue (visibility timeout 1 s, maxReceiveCount 2) and its dead-letter queue."""
    sqs = aws.client("sqs")
    suffix = uuid.uuid4().hex[:8]
    dlq_url = sqs.create_queue(QueueName=f"{QUEUE}-{suffix}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=f"{QUEUE}-{suffix}",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": (
                f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "{MAX_RECEIVE_COUNT}"}}'
            ),
        },
    )["QueueUrl"]
    monkeypatch.setenv("POLLER_TEST_QUEUE_URL", url)
    try:
        yield {"url": url, "dlq_url": dlq_url}
    finally:
        sqs.delete_queue(QueueUrl=url)
        sqs.delete_queue(QueueUrl=dlq_url)


class Recorder:
    """What the worker's handler saw: each attempt, with its time, request id and raw record."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, float, str | None, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def names(self) -> list[str]:
        with self.lock:
            return [name for name, *_ in self.attempts]

    def times(self, name: str) -> list[float]:
        with self.lock:
            return [at for n, at, *_ in self.attempts if n == name]


@pytest.fixture
def make_poller(poller_queue):
    """A poller feeding a worker that fails every task named "poison*" (and ``fail_all``)."""
    stops: list[threading.Event] = []

    def make(*, fail_all: bool = False) -> tuple[QueuePoller, Recorder]:
        worker = QueueWorker(
            queue=QUEUE,
            model=Task,
            max_receive_count=MAX_RECEIVE_COUNT,
            visibility_timeout_seconds=1,
            timeout_seconds=1,
        )
        recorder = Recorder()

        @worker.record_handler
        def handle(message: Task, record) -> None:
            with recorder.lock:
                recorder.attempts.append(
                    (message.name, time.monotonic(), request_id_var.get(), record.raw_event)
                )
            if fail_all or message.name.startswith("poison"):
                raise RuntimeError(f"cannot handle {message.name}")

        module = types.ModuleType("test_poller_handler")
        module.function = worker  # type: ignore[attr-defined]
        entry = Entry(name="test-poller", service="test", folder=Path("."), module=module)
        stop = threading.Event()
        stops.append(stop)
        poller = QueuePoller(
            entry, worker.queue, poller_queue["url"], aws.client("sqs"), stop, quiet=True
        )
        return poller, recorder

    yield make
    for stop in stops:
        stop.set()


def counts(url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue at ``url``."""
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def dlq_bodies(url: str) -> list[str]:
    response = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [message["Body"] for message in response.get("Messages", [])]


def send(*names: str) -> None:
    for name in names:
        queues.send(QUEUE, Task(name=name))


def test_a_poison_message_is_retried_then_dead_lettered_without_holding_back_the_rest(
    make_poller, poller_queue
):
    # Given a batch of good messages and one the worker always fails on
    poller, recorder = make_poller()
    send("good-1", "poison", "good-2", "good-3")

    # When the poller takes the batch
    started = time.monotonic()
    assert poller.drain_once() == 4

    # Then the good ones were processed and deleted; only the poison one is held, in flight
    assert sorted(recorder.names()) == ["good-1", "good-2", "good-3", "poison"]
    assert counts(poller_queue["url"]) == (0, 1)

    # And a message sent meanwhile is processed at once, not after the poison one's timeout
    send("good-late")
    assert poller.drain_once() == 1
    assert recorder.names()[-1] == "good-late"
    assert time.monotonic() - started < 1.0

    # When the poller keeps polling
    deadline = time.monotonic() + 8
    while not (bodies := dlq_bodies(poller_queue["dlq_url"])) and time.monotonic() < deadline:
        poller.drain_once()

    # Then the poison message was received maxReceiveCount times, each retry only after the
    # queue's visibility timeout, and then moved to the dead-letter queue
    assert bodies == ['{"name":"poison"}']
    poison_times = recorder.times("poison")
    assert len(poison_times) == MAX_RECEIVE_COUNT
    assert poison_times[1] - poison_times[0] >= 0.9
    # and every good message was processed exactly once, and nothing is left in the queue
    assert sorted(n for n in recorder.names() if n != "poison") == [
        "good-1",
        "good-2",
        "good-3",
        "good-late",
    ]
    assert counts(poller_queue["url"]) == (0, 0)


def test_when_the_handler_raises_no_message_of_the_batch_is_deleted(make_poller, poller_queue):
    # Given a worker that fails every record (so the invocation itself raises)
    poller, recorder = make_poller(fail_all=True)
    send("a", "b")

    # When the poller takes the batch
    assert poller.drain_once() == 2

    # Then both messages stay in the queue, invisible until the visibility timeout ends
    assert counts(poller_queue["url"]) == (0, 2)
    assert poller.deleted == 0

    # And after it, both are delivered again, with their receive count raised
    time.sleep(1.1)
    assert poller.drain_once() == 2
    second = recorder.attempts[2:]
    assert sorted(raw["attributes"]["ApproximateReceiveCount"] for *_, raw in second) == ["2", "2"]


def test_the_worker_gets_lambdas_sqs_event_with_the_producers_request_id(make_poller, poller_queue):
    # Given a message sent while serving a request
    poller, recorder = make_poller()
    set_request_id("req-from-the-api")
    try:
        send("hello")
    finally:
        set_request_id("test")

    # When the poller hands it to the worker
    assert poller.drain_once() == 1

    # Then the handler ran under the producer's request id
    ((name, _, request_id, raw),) = recorder.attempts
    assert (name, request_id) == ("hello", "req-from-the-api")
    # and the record has the shape Lambda gives it
    queue_arn = aws.client("sqs").get_queue_attributes(
        QueueUrl=poller_queue["url"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert raw["eventSource"] == "aws:sqs"
    assert raw["eventSourceARN"] == queue_arn
    assert raw["awsRegion"] == "us-east-1"
    assert raw["body"] == '{"name":"hello"}'
    assert raw["md5OfBody"] == hashlib.md5(raw["body"].encode()).hexdigest()  # noqa: S324
    assert raw["messageAttributes"] == {
        "request_id": {
            "stringValue": "req-from-the-api",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    } <= set(raw["attributes"])
    assert raw["attributes"]["ApproximateReceiveCount"] == "1"
    assert raw["messageId"]
    assert raw["receiptHandle"]
    assert counts(poller_queue["url"]) == (0, 0)


def test_the_poller_thread_processes_messages_until_stopped(make_poller, poller_queue):
    # Given a started poller
    poller, recorder = make_poller()
    poller.start()

    # When a message arrives, Then it is processed in the background
    send("background")
    deadline = time.monotonic() + 5
    while recorder.names() != ["background"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorder.names() == ["background"]

    # And when it is stopped, the thread ends within one long poll
    poller.stop()
    poller.join(timeout=3)
    assert not poller.alive


def test_an_empty_queue_yields_nothing_after_one_long_poll(make_poller):
    poller, recorder = make_poller()
    started = time.monotonic()
    assert poller.drain_once() == 0
    assert 0.9 <= time.monotonic() - started < 3
    assert recorder.attempts == []
