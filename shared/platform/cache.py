"""Redis (ElastiCache in AWS): one client per execution environment, created on first use."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote

from shared.platform import secrets
from shared.platform.settings import Cache, get_settings

if TYPE_CHECKING:
    from redis import Redis


def redis_url() -> str:
    """``REDIS_URL`` when it is set; otherwise ``rediss://`` (TLS) to ``REDIS_HOST`` with the
    AUTH token read from Secrets Manager (``REDIS_AUTH_SECRET_ARN``)."""
    settings = get_settings(Cache)
    if settings.redis_url is not None:
        return settings.redis_url
    if settings.redis_auth_secret_arn is None:
        raise ValueError("REDIS_AUTH_SECRET_ARN is not set")
    token = secrets.get(
        settings.redis_auth_secret_arn, max_age=settings.redis_secret_max_age_seconds
    )
    return f"rediss://:{quote(token, safe='')}@{settings.redis_host}:{settings.redis_port}/0"


@lru_cache(maxsize=1)
def redis() -> Redis:
    """The Redis client for :func:`redis_url` (``rediss://`` for TLS in AWS)."""
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # One quick retry, not redis-py's default backoff: during an outage a request should learn
    # it in about a second and apply its policy (fail open or closed), not stall for seconds.
    client = Redis.from_url(
        redis_url(),
        decode_responses=True,
        socket_connect_timeout=1,
        socket_timeout=1,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )
    from shared.platform.observability import tracing_enabled

    if tracing_enabled():
        trace_commands(client)
    return client


def trace_commands(client: Redis) -> None:
    """An X-Ray subsegment per Redis command (aws-xray-sdk patches no Redis client): named
    ``redis``, the command's name as an annotation, never its arguments (keys hold emails)."""
    from aws_xray_sdk.core import xray_recorder

    send = client.execute_command

    def traced(*args: object, **options: object) -> object:
        with xray_recorder.in_subsegment("redis") as subsegment:
            if subsegment is not None:
                subsegment.namespace = "remote"
                subsegment.put_annotation("redis_command", str(args[0]) if args else "")
            return send(*args, **options)  # type: ignore[no-untyped-call]

    client.execute_command = traced  # type: ignore[method-assign]


def prime() -> None:
    """Before a SnapStart snapshot: the client's modules imported, and the client built where
    its URL needs no secret (it connects on first use)."""
    from redis import Redis  # noqa: F401
    from redis.backoff import NoBackoff  # noqa: F401
    from redis.retry import Retry  # noqa: F401

    if get_settings(Cache).redis_url is not None:
        redis()


def renew() -> None:
    """After a SnapStart restore: forget the client, and its connections without closing them
    (they are dead, and a socket is shared by every copy restored from one snapshot). The next
    use builds a client with the current AUTH token."""
    if redis.cache_info().currsize:
        redis().connection_pool.reset()
    redis.cache_clear()


def reset() -> None:
    """Close the client (tests and the local runner switch servers)."""
    if redis.cache_info().currsize:
        redis().close()
    redis.cache_clear()
