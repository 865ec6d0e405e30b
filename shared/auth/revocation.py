"""Revocation that takes effect on the next request.

Two records in Redis, checked by the authorizer on every request (its result cache is off):

- ``auth:ver:<user>``: the user's token version. Password change, deactivation, role change and
  password reset bump ``users.token_version`` and publish it here; an access token whose ``ver``
  differs is refused. Postgres is the source of truth: on a cache miss the authorizer reads it
  from the database and republishes it, so losing Redis data never resurrects a revoked token.
- ``auth:deny:<jti>``: one access token revoked by logout, kept until the token would expire.

A deleted user is published as version -1. When Redis is unreachable, :func:`is_revoked` raises:
the authorizer fails closed (API Gateway answers 503, never 500).
"""

from __future__ import annotations

import time
import uuid

from shared.auth.tokens import AccessClaims
from shared.platform import cache

DELETED = -1
# As long as an access token lives: a version that failed to publish is stale no longer.
_VERSION_TTL_SECONDS = 15 * 60


def _version_key(user_id: str) -> str:
    return f"auth:ver:{user_id}"


def _deny_key(jti: str) -> str:
    return f"auth:deny:{jti}"


def publish_version(user_id: str, version: int) -> None:
    """Make ``version`` the only token version of ``user_id`` that is accepted."""
    cache.redis().set(_version_key(user_id), version, ex=_VERSION_TTL_SECONDS)


def deny(jti: str, *, expires_at: int) -> None:
    """Refuse the access token ``jti`` from now until it would have expired anyway."""
    ttl = max(1, expires_at - int(time.time()) + 5)
    cache.redis().set(_deny_key(jti), "1", ex=ttl)


def is_revoked(claims: AccessClaims) -> bool:
    """True when the token was revoked (logout, version bump, deactivation, deletion)."""
    version, denied = cache.redis().mget(_version_key(claims.user_id), _deny_key(claims.jti))
    if denied is not None:
        return True
    if version is None:
        current = _version_from_database(claims.user_id)
        publish_version(claims.user_id, current)
    else:
        current = int(version)
    return current == DELETED or current != claims.version


def _version_from_database(user_id: str) -> int:
    """The user's token version in Postgres (``DELETED`` for a missing or inactive account).

    SQLAlchemy Core on the users table, no ORM: the authorizer, which calls this on a cache
    miss, stays light to start."""
    from sqlalchemy import Boolean, Integer, Uuid, column, select, table

    from shared.platform import db

    users = table(
        "users", column("id", Uuid), column("token_version", Integer), column("is_active", Boolean)
    )
    query = select(users.c.token_version, users.c.is_active).where(users.c.id == uuid.UUID(user_id))
    with db.engine().connect() as connection:
        row = connection.execute(query).first()
    if row is None or not row.is_active:
        return DELETED
    return int(row.token_version)
