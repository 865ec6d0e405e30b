"""Revocation on real Postgres and Redis: Postgres decides, Redis only caches, so whatever Redis
loses, a revoked token stays revoked; a cached "not revoked" is trusted only for
``REVOCATION_CACHE_SECONDS``, and the warm path reads nothing but Redis."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import pytest
import redis as redis_py
from sqlalchemy import event, update

from shared.auth import revocation
from shared.auth import service as auth
from shared.auth.tokens import AccessClaims
from shared.platform import cache, db
from shared.platform.identity import Principal
from shared.platform.migrate import upgrade
from shared.platform.settings import reset_settings
from shared.users.models import User

pytestmark = pytest.mark.integration

CACHE_SECONDS = 0.5


@pytest.fixture
def stores(pg_url, redis_url, monkeypatch) -> Iterator[redis_py.Redis]:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REVOCATION_CACHE_SECONDS", str(CACHE_SECONDS))
    monkeypatch.setattr(revocation, "_write_backs_paused_until", 0.0)
    reset_settings()
    db.reset()
    cache.reset()
    upgrade(pg_url)
    client = redis_py.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()
        db.reset()
        cache.reset()
        reset_settings()


def new_user() -> User:
    with db.session_scope() as session:
        user = User(
            email=f"{uuid.uuid4().hex[:12]}@example.com",
            name="R",
            password_hash="not-a-real-hash",
            role="member",
        )
        session.add(user)
    return user


def claims_of(user: User, *, version: int | None = None) -> AccessClaims:
    now = int(time.time())
    return AccessClaims(
        user_id=str(user.id),
        role="member",
        jti=uuid.uuid4().hex,
        issued_at=now,
        expires_at=now + 900,
        version=user.token_version if version is None else version,
    )


def logout(claims: AccessClaims) -> None:
    principal = Principal(
        user_id=uuid.UUID(claims.user_id),
        role="member",
        jti=claims.jti,
        expires_at=claims.expires_at,
    )
    with db.session_scope() as session:
        auth.logout(session, principal, None)


def bump_without_invalidation(user: User) -> None:
    """A version bump whose cache invalidation never reached Redis (lost, or writes refused)."""
    with db.session_scope() as session:
        session.execute(
            update(User).where(User.id == user.id).values(token_version=User.token_version + 1)
        )


@pytest.fixture
def queries() -> Iterator[list[str]]:
    """Every SQL statement the engine runs during the test."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_):  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = db.engine()
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_logged_out_token_stays_revoked_when_redis_loses_its_data(stores):
    # Given a user's token, accepted and cached, then logged out
    user = new_user()
    claims = claims_of(user)
    assert revocation.is_revoked(claims) is False
    logout(claims)
    assert revocation.is_revoked(claims) is True
    # When Redis loses everything (a restart without persistence, a failover, an eviction)
    stores.flushdb()
    # Then the token is still refused, and stays so once the cache is filled again
    assert revocation.is_revoked(claims) is True
    assert revocation.is_revoked(claims) is True
    # And another token of the same user is unaffected
    assert revocation.is_revoked(claims_of(user)) is False


def test_logout_writes_the_denylist_in_postgres_once(stores):
    from sqlalchemy import select

    from shared.auth.models import RevokedToken

    user = new_user()
    claims = claims_of(user)
    logout(claims)
    logout(claims)  # a second logout of the same token (a retry, two tabs) is no error
    with db.session_scope() as session:
        stored = session.scalars(select(RevokedToken).where(RevokedToken.user_id == user.id)).all()
        assert [(r.jti, int(r.expires_at.timestamp())) for r in stored] == [
            (claims.jti, claims.expires_at)
        ]


def test_a_cached_allow_is_trusted_only_for_the_cache_bound(stores):
    # Given a token accepted and cached
    user = new_user()
    claims = claims_of(user)
    assert revocation.is_revoked(claims) is False
    # When every session is revoked, but the invalidation never reaches Redis
    bump_without_invalidation(user)
    # Then the cached answer may still let the token in, but only within the bound
    assert revocation.is_revoked(claims) is False
    time.sleep(CACHE_SECONDS + 0.1)
    assert revocation.is_revoked(claims) is True
    assert revocation.is_revoked(claims) is True  # and for good


def test_the_warm_path_is_one_redis_read_and_a_cached_revocation_is_final(stores, queries):
    # Given a token accepted once (its state cached)
    user = new_user()
    claims = claims_of(user)
    assert revocation.is_revoked(claims) is False
    # When it is checked again within the bound
    queries.clear()
    assert revocation.is_revoked(claims) is False
    # Then no query ran
    assert queries == []
    # Given a token cached as logged out long ago, and one older than the cached version
    logged_out = claims_of(user)
    stores.set(revocation.token_key(logged_out.jti), "1:1000")
    older = claims_of(user, version=user.token_version - 1)
    # When they are checked, however old the entries
    # Then both are refused without a query
    assert revocation.is_revoked(logged_out) is True
    assert revocation.is_revoked(older) is True
    assert queries == []


def test_a_token_newer_than_a_stale_cached_version_is_let_in(stores):
    # Given a cached version that a bump made stale (the invalidation was lost)
    user = new_user()
    assert revocation.is_revoked(claims_of(user)) is False
    bump_without_invalidation(user)
    # When a token issued after the bump is checked
    newer = claims_of(user, version=user.token_version + 1)
    # Then Postgres is asked rather than the stale entry, and the token is let in
    assert revocation.is_revoked(newer) is False


def test_when_redis_cannot_be_read_postgres_decides(stores, monkeypatch):
    # Given a valid token, a logged-out one and one of a user whose sessions were all revoked
    user, other = new_user(), new_user()
    valid, logged_out, bumped = claims_of(user), claims_of(user), claims_of(other)
    logout(logged_out)
    bump_without_invalidation(other)
    # When Redis is unreachable
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port}/0")
    reset_settings()
    cache.reset()
    # Then every decision still comes out right, from Postgres
    started = time.monotonic()
    assert revocation.is_revoked(valid) is False
    assert revocation.is_revoked(logged_out) is True
    assert revocation.is_revoked(bumped) is True
    assert time.monotonic() - started < 5


def test_a_deactivated_or_deleted_user_is_refused(stores):
    # Given two users whose tokens were accepted and cached
    deactivated, deleted = new_user(), new_user()
    first, second = claims_of(deactivated), claims_of(deleted)
    assert revocation.is_revoked(first) is False
    assert revocation.is_revoked(second) is False
    # When one is deactivated and the other deleted (and the outbox drops their cached versions)
    with db.session_scope() as session:
        session.execute(update(User).where(User.id == deactivated.id).values(is_active=False))
        session.delete(session.get(User, deleted.id))
    stores.delete(revocation.version_key(deactivated.id), revocation.version_key(deleted.id))
    # Then both tokens are refused
    assert revocation.is_revoked(first) is True
    assert revocation.is_revoked(second) is True
