"""Redis (ElastiCache in AWS): one client per execution environment, created on first use."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from shared.settings import Cache, get_settings

if TYPE_CHECKING:
    from redis import Redis


@lru_cache(maxsize=1)
def redis() -> Redis:
    """The Redis client for ``REDIS_URL`` (``rediss://`` for TLS in AWS)."""
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # One quick retry, not redis-py's default backoff: during an outage a request should learn
    # it in about a second and apply its policy (fail open or closed), not stall for seconds.
    return Redis.from_url(
        get_settings(Cache).redis_url,
        decode_responses=True,
        socket_connect_timeout=1,
        socket_timeout=1,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


def reset() -> None:
    """Close the client (tests and the local runner switch servers)."""
    if redis.cache_info().currsize:
        redis().close()
    redis.cache_clear()
