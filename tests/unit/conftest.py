"""Unit tests do no I/O: a test that exercises code which queues messages collects them
instead (`sent_messages`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def sent_messages(monkeypatch) -> list[tuple[str, object]]:
    """Every ``shared.platform.queues.send(queue, message)`` of the test, in order."""
    sent: list[tuple[str, object]] = []

    def record(queue: str, message: object, **_: object) -> str:
        sent.append((queue, message))
        return f"message-{len(sent)}"

    monkeypatch.setattr("shared.platform.queues.send", record)
    return sent
