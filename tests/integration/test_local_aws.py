"""The local runner's AWS (moto on loopback): a taken port fails at once, by name."""

from __future__ import annotations

import socket
import time

import boto3
import pytest

from local.aws import MotoServer
from local.runner import free_port

pytestmark = pytest.mark.integration


def test_a_taken_port_fails_the_local_aws_at_once_and_names_it():
    # Given a port another process listens on
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MotoServer(port)
        started = time.monotonic()
        # When the local AWS starts there, Then it refuses at once, naming the port and the fix
        # (moto's own start() would wait for ever: its server thread dies on the bind)
        with pytest.raises(RuntimeError, match=rf"127\.0\.0\.1:{port}.*AWS_PORT"):
            server.start()
        assert time.monotonic() - started < 5


def test_a_free_port_serves_the_aws_apis():
    # Given the local AWS on a free port
    server = MotoServer(free_port())
    server.start()
    try:
        # Then an AWS API answers there
        sqs = boto3.client(
            "sqs",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        url = sqs.create_queue(QueueName="local-aws-check")["QueueUrl"]
        assert sqs.list_queues()["QueueUrls"] == [url]
    finally:
        server.stop()
