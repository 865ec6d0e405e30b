"""A FIFO worker queue (``QueueTrigger.fifo``), as the runner provisions it on moto: a message
sent twice with one deduplication id is queued once; the request id still travels."""

from __future__ import annotations

import pytest

from shared.platform import aws, queues
from tests.support.moto import threaded_moto

pytestmark = pytest.mark.integration


def test_a_duplicate_is_dropped_and_no_delay_is_sent(monkeypatch):
    with threaded_moto() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        aws.reset()
        sqs = aws.client("sqs")
        url = sqs.create_queue(
            QueueName="stratus-test-send.fifo", Attributes={"FifoQueue": "true"}
        )["QueueUrl"]
        monkeypatch.setenv("SEND_QUEUE_URL", url)
        # When one prepared message is sent twice under its deduplication id
        for _ in range(2):
            queues.send_json("send", '{"n": 1}', request_id="r-1", deduplication_id="d:1")
        queues.send_json("send", '{"n": 2}', request_id="r-2", deduplication_id="d:2")
        # Then the queue holds it once, and the next one
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )["Messages"]
        assert sorted(m["Body"] for m in got) == ['{"n": 1}', '{"n": 2}']
        assert {m["MessageAttributes"]["request_id"]["StringValue"] for m in got} == {"r-1", "r-2"}
    aws.reset()
