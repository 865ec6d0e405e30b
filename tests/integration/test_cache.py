"""The Redis client against real Redis."""

from __future__ import annotations

import pytest

from shared.platform import cache

pytestmark = pytest.mark.integration


def test_the_client_talks_to_the_configured_redis(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    from shared.platform.settings import reset_settings

    reset_settings()
    cache.reset()
    try:
        client = cache.redis()
        client.set("stratus:test", "v", ex=10)
        assert client.get("stratus:test") == "v"  # decoded to str
        assert cache.redis() is client  # one client per execution environment
    finally:
        cache.reset()
        reset_settings()
