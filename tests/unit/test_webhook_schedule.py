"""The retry schedule and the delivery body, as the contract states them."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from shared.webhooks import delivery
from shared.webhooks.events import MAX_BODY_BYTES, body


def test_the_schedule_is_the_contracts_about_28_hours_with_jitter():
    assert delivery.SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert delivery.MAX_ATTEMPTS == 8
    assert 27.5 * 3600 < sum(delivery.SCHEDULE) < 28 * 3600
    rand = random.Random(7)
    delays = [delivery.retry_delay(1, scale=1.0, rand=rand) for _ in range(200)]
    assert all(4.5 <= d <= 5.5 for d in delays) and len(set(delays)) > 100  # jittered
    assert delivery.retry_delay(7, scale=0.001, rand=rand) == pytest.approx(36, rel=0.11)


def test_delays_longer_than_sqs_allows_are_chained():
    assert delivery._queue_delay(36000) == 900  # then the dispatcher waits again
    assert delivery._queue_delay(0.004) == 1  # SQS counts whole seconds
    assert delivery._queue_delay(0) == 0


def test_the_body_is_standard_webhooks_and_bounded():
    at = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    text = body("document.ready", {"document_id": "d", "status": "ready"}, at=at)
    assert text == (
        '{"data":{"document_id":"d","status":"ready"},'
        '"timestamp":"2026-12-02T03:00:00Z","type":"document.ready"}'
    )
    with pytest.raises(ValueError, match="over"):
        body("document.ready", {"x": "y" * MAX_BODY_BYTES}, at=at)
