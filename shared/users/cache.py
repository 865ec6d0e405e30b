"""The Users service's Redis cache: ``user:<id>`` holds a user as the API shows it.

Five minutes per entry; every change writes a tombstone instead of deleting, so a read that began
before the change and ends after it cannot put its stale copy back (reads only write where
nothing is). A Redis outage only costs a database read.
"""

from __future__ import annotations

import contextlib
import uuid

from shared.platform import cache
from shared.platform.observability import logger
from shared.users.schemas import UserPublic

TTL_SECONDS = 300
_TOMBSTONE = "-"
_TOMBSTONE_SECONDS = 30


def _key(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


def get(user_id: uuid.UUID) -> UserPublic | None:
    """The cached copy, or None (a miss, a tombstone, or Redis unreachable)."""
    from redis.exceptions import RedisError

    try:
        cached = cache.redis().get(_key(user_id))
    except RedisError:
        logger.warning("User cache unavailable: reading the database")
        return None
    if cached is None or cached == _TOMBSTONE:
        return None
    return UserPublic.model_validate_json(cached)


def put(user: UserPublic) -> None:
    """Cache ``user`` where nothing (not even a tombstone) is; a failure is a later miss."""
    from redis.exceptions import RedisError

    with contextlib.suppress(RedisError):
        cache.redis().set(_key(user.id), user.model_dump_json(), ex=TTL_SECONDS, nx=True)


def invalidate(user_id: uuid.UUID) -> None:
    """Drop the cached copy of a user (after every change), for longer than any function runs."""
    try:
        cache.redis().set(_key(user_id), _TOMBSTONE, ex=_TOMBSTONE_SECONDS)
    except Exception:
        logger.warning("Could not invalidate the cached user", extra={"user_id": str(user_id)})
