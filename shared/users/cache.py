"""The Users service's Redis cache: ``user:<id>`` holds a user as the API shows it.

Five minutes per entry; every change writes a tombstone instead of deleting (through the outbox,
in the change's transaction), so a read that began before the change and ends after it cannot
put its stale copy back (reads only write where nothing is). A Redis outage only costs a
database read. While Redis refuses writes, a copy cached before a change can still be served
until the outbox relay delivers the tombstone (``docs/auth.md``); it decides no access.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING

from shared.platform import cache
from shared.platform.observability import logger
from shared.users.schemas import UserPublic

if TYPE_CHECKING:
    from shared.platform.outbox import CacheSet

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


def invalidation(user_id: uuid.UUID) -> CacheSet:
    """The outbox effect that drops the cached copy of a user (after every change): a tombstone
    for longer than any function runs, so a read that began before the change cannot put its
    stale copy back. Delivered once the change commits, and by the relay if Redis failed."""
    from shared.platform import outbox

    return outbox.cache_set(_key(user_id), _TOMBSTONE, ttl_seconds=_TOMBSTONE_SECONDS)
