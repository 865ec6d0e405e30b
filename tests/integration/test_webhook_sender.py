"""The sender against a receiver on loopback: the status it got, no redirect followed, the
timeout, a refused connection, and the exact address it was given."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from local.webhook_listen import Receiver
from shared.platform.settings import reset_settings
from shared.webhooks import delivery
from shared.webhooks.messages import SendRequest

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch):
    monkeypatch.setenv("WEBHOOKS_ALLOW_LOOPBACK", "1")
    reset_settings()
    yield
    reset_settings()


def request_to(port: int, *, timeout: float = 2.0) -> SendRequest:
    return SendRequest(
        delivery_id=uuid.uuid4(),
        attempt=1,
        scheme="http",
        host="hooks.example.com",  # never looked up: the address is given
        port=port,
        path="/hook?x=1",
        address="127.0.0.1",
        headers={"webhook-id": "e1", "content-type": "application/json"},
        body='{"type":"user.updated"}',
        timeout_seconds=timeout,
        not_after=datetime.now(UTC) + timedelta(minutes=5),
    )


def port_of(receiver: Receiver) -> int:
    return int(receiver.server.server_address[1])


def test_the_call_goes_to_the_given_address_with_the_name_as_host():
    with Receiver() as receiver:
        receiver.answer = lambda d, n: (202, 0.0)
        outcome = delivery.send(request_to(port_of(receiver)))
        (call,) = receiver.wait_for(1)
    assert (outcome.status, outcome.error) == (202, None)
    assert call.headers["host"] == f"hooks.example.com:{port_of(receiver)}"
    assert call.headers["webhook-id"] == "e1" and call.body == '{"type":"user.updated"}'


def test_a_redirect_is_not_followed():
    with Receiver() as receiver:
        receiver.answer = lambda d, n: (302, 0.0)
        outcome = delivery.send(request_to(port_of(receiver)))
        assert outcome.status == 302  # a failed attempt for the recorder
        assert len(receiver.deliveries) == 1


def test_a_slow_receiver_times_out_and_a_closed_port_is_refused():
    with Receiver() as receiver:
        receiver.answer = lambda d, n: (200, 1.5)
        outcome = delivery.send(request_to(port_of(receiver), timeout=0.5))
    assert (outcome.status, outcome.error) == (None, "timeout")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    refused = delivery.send(request_to(closed))
    assert (refused.status, refused.error) == (None, "connection failed")
