"""Unit tests do no I/O: a test that exercises code which queues messages collects them
instead (`sent_messages`)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def sent_messages(monkeypatch) -> list[tuple[str, object]]:
    """Every message the test queued, in order, as ``(queue, JSON body as a dict)``: sent
    directly (``shared.platform.queues.send``) or by the outbox (``queues.send_json``)."""
    sent: list[tuple[str, object]] = []

    def record(queue: str, body: str, **_: object) -> str:
        sent.append((queue, json.loads(body)))
        return f"message-{len(sent)}"

    monkeypatch.setattr("shared.platform.queues.send_json", record)
    return sent
