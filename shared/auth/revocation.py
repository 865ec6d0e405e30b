"""Revocation that takes effect on the next request: Postgres decides, Redis only caches.

The source of truth is Postgres: ``users.token_version`` (bumped by password change and reset,
deactivation and role change; the row is gone or inactive for a deleted or deactivated user) and
``revoked_tokens`` (the access tokens ended by logout, until they expire). Both are written in
the transaction of the change itself.

Redis caches what the authorizer read, with the time it read it (``<value>:<read at, ms>``):

- ``auth:ver:<user>``: the user's token version (``-1``: deleted or inactive);
- ``auth:jti:<jti>``: whether that access token was revoked by logout (``1``) or not (``0``).

A cached "revoked" is final (a revoked token never comes back, and token versions only grow), so
it is trusted whatever its age. Anything that would let a token through is trusted only while it
is younger than ``REVOCATION_CACHE_SECONDS``; older, or missing, the authorizer reads Postgres
again (one query for both) and writes the answer back, best effort. So whatever Redis loses or
keeps (a restart, a failover, an eviction, writes refused and expiry paused by ``CLIENT PAUSE
WRITE``), a revoked token is accepted at most ``REVOCATION_CACHE_SECONDS`` after its revocation
committed. The write path deletes the cached entries through the outbox
(:func:`invalidation_of_user`, :func:`invalidation_of_token`), so the usual case is immediate.

When Redis cannot be read at all, the authorizer decides from Postgres alone (slower, still
exact); only when Postgres fails too does it raise, and API Gateway answers 503.

No ORM here: the authorizer imports this module and stays light (SQLAlchemy Core only).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.auth.tokens import AccessClaims
from shared.platform import cache
from shared.platform.observability import logger
from shared.platform.settings import RevocationCache, get_settings

if TYPE_CHECKING:
    from shared.platform.outbox import CacheDelete

DELETED = -1
#: Cached versions are dropped after this long (memory only: correctness never relies on it).
_VERSION_TTL_SECONDS = 15 * 60
#: A cached entry read on a clock up to this far ahead of ours still counts as fresh.
_CLOCK_SKEW_SECONDS = 1.0

#: After a write-back failed (Redis refusing writes), skip write-backs in this process for this
#: long: each one would wait for the client's timeout and decide nothing.
_write_backs_paused_until = 0.0


def version_key(user_id: str | uuid.UUID) -> str:
    return f"auth:ver:{user_id}"


def token_key(jti: str) -> str:
    return f"auth:jti:{jti}"


def invalidation_of_user(user_id: uuid.UUID) -> CacheDelete:
    """The outbox effect that drops the user's cached token version (after a bump, a
    deactivation, a reactivation or a deletion)."""
    from shared.platform import outbox

    return outbox.cache_delete(version_key(user_id))


def invalidation_of_token(jti: str) -> CacheDelete:
    """The outbox effect that drops the cached state of one access token (after a logout)."""
    from shared.platform import outbox

    return outbox.cache_delete(token_key(jti))


@dataclass(frozen=True)
class _Cached:
    value: int
    read_at: float  # seconds since the epoch, when Postgres was read

    def fresh(self, now: float, max_age: float) -> bool:
        return -_CLOCK_SKEW_SECONDS <= now - self.read_at <= max_age


def _parse(raw: str | bytes | None) -> _Cached | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    value, _, read_at = text.partition(":")
    try:
        return _Cached(int(value), int(read_at) / 1000)
    except ValueError:
        return None  # an entry in an older format: read Postgres again


def _entry(value: int, read_at: float) -> str:
    return f"{value}:{int(read_at * 1000)}"


def is_revoked(claims: AccessClaims) -> bool:
    """True when the token was revoked (logout, version bump, deactivation, deletion).

    One Redis round trip (``MGET``) in the common case; Postgres when the cache cannot vouch for
    the token. Raises only when Postgres cannot be read (the authorizer fails closed: 503)."""
    from redis.exceptions import RedisError

    max_age = get_settings(RevocationCache).revocation_cache_seconds
    try:
        raw_version, raw_token = cache.redis().mget(
            version_key(claims.user_id), token_key(claims.jti)
        )
    except RedisError as exc:
        logger.warning(
            "Revocation cache unreadable: deciding from Postgres",
            extra={"error": type(exc).__name__},
        )
        version, denied = _from_database(claims)
        return _decide(claims, version, denied)
    version_entry, token_entry = _parse(raw_version), _parse(raw_token)
    if token_entry is not None and token_entry.value == 1:
        return True  # logged out: final
    if version_entry is not None and version_entry.value > claims.version:
        return True  # a later version exists: final, versions only grow
    now = time.time()
    if (
        version_entry is not None
        and token_entry is not None
        and version_entry.fresh(now, max_age)
        and token_entry.fresh(now, max_age)
    ):
        return _decide(claims, version_entry.value, bool(token_entry.value))
    read_at = time.time()  # before the query: the entry can only look older than it is
    version, denied = _from_database(claims)
    _write_back(claims, version=version, denied=denied, read_at=read_at)
    return _decide(claims, version, denied)


def _decide(claims: AccessClaims, version: int, denied: bool) -> bool:
    return denied or version == DELETED or version != claims.version


def _write_back(claims: AccessClaims, *, version: int, denied: bool, read_at: float) -> None:
    """Cache what Postgres said, best effort: a failure only costs the next request a query."""
    global _write_backs_paused_until
    from redis.exceptions import RedisError

    if time.monotonic() < _write_backs_paused_until:
        return
    token_ttl = max(1, claims.expires_at - int(time.time()) + 5)
    try:
        pipe = cache.redis().pipeline(transaction=False)
        pipe.set(version_key(claims.user_id), _entry(version, read_at), ex=_VERSION_TTL_SECONDS)
        pipe.set(token_key(claims.jti), _entry(int(denied), read_at), ex=token_ttl)
        pipe.execute()
    except RedisError as exc:
        pause = max(1.0, get_settings(RevocationCache).revocation_cache_seconds)
        _write_backs_paused_until = time.monotonic() + pause
        logger.warning("Could not cache the revocation state", extra={"error": type(exc).__name__})


def _from_database(claims: AccessClaims) -> tuple[int, bool]:
    """The user's token version (``DELETED`` for a missing or inactive account) and whether
    the token was revoked by logout, in one query.

    SQLAlchemy Core on two tables, no ORM: the authorizer, which calls this, stays light."""
    from sqlalchemy import Boolean, Integer, String, Uuid, column, exists, select, table

    from shared.platform import db

    users = table(
        "users", column("id", Uuid), column("token_version", Integer), column("is_active", Boolean)
    )
    revoked = table("revoked_tokens", column("jti", String))
    query = select(
        users.c.token_version,
        users.c.is_active,
        exists().where(revoked.c.jti == claims.jti).label("denied"),
    ).where(users.c.id == uuid.UUID(claims.user_id))
    with db.engine().connect() as connection:
        row = connection.execute(query).first()
    if row is None or not row.is_active:
        return DELETED, bool(row.denied) if row is not None else False
    return int(row.token_version), bool(row.denied)
