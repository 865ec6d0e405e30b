"""Unit tests do no I/O: a test that exercises code which queues messages collects them
instead (`sent_messages`), and Redis is fakeredis (`redis`)."""

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


@pytest.fixture
def redis(monkeypatch):  # type: ignore[no-untyped-def]
    """fakeredis in place of the Redis client (``shared.platform.cache.redis``)."""
    import fakeredis

    from shared.platform import cache

    fake = fakeredis.FakeRedis(decode_responses=True)
    monkeypatch.setattr(cache, "redis", lambda: fake)
    return fake
