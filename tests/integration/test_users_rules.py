"""The rules of the Users service, on a session of a real PostgreSQL database of their own
(emptied after each test) and fakeredis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.orm import Session

from shared.auth import passwords, revocation
from shared.auth.models import RefreshToken
from shared.platform import keyring, pagination
from shared.platform.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.platform.identity import Principal
from shared.platform.orm import Base
from shared.platform.outbox import OutboxRow
from shared.users import cache as user_cache
from shared.users import service
from shared.users.models import User
from shared.users.schemas import UserUpdate

FAKE_HASH = "not-a-real-hash"  # nothing here logs in: argon2 would only slow the suite down

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("sent_messages"),  # notifications are queued, not sent
]


@pytest.fixture(scope="module")
def engine():
    """A migrated database of this module's own: the users below are the only ones there."""
    from shared.platform.migrate import upgrade
    from tests.support.services import fresh_database

    with fresh_database() as url:
        upgrade(url)
        engine = create_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def session(redis, engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s
    present = set(inspect(engine).get_table_names())  # no chunk_vectors without pgvector
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name in present)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))


@pytest.fixture
def make_user(session):
    """A factory of users stored in the session's database."""

    def make(role: str = "member", *, is_active: bool = True, **fields) -> User:
        user = User(
            email=f"{uuid.uuid4().hex[:12]}@example.com",
            name=fields.pop("name", "Someone"),
            password_hash=FAKE_HASH,
            role=role,
            is_active=is_active,
            **fields,
        )
        session.add(user)
        session.commit()
        return user

    return make


def as_principal(user: User) -> Principal:
    return Principal(user_id=user.id, role=user.role)


def commit(session: Session) -> None:
    """What ``db.session_scope`` does at the end of a request: commit, then the callbacks."""
    session.commit()
    for callback in session.info.pop("after_commit", []):
        callback()


def reread(session: Session, user: User) -> User:
    session.expire_all()
    fresh = session.get(User, user.id)
    assert fresh is not None
    return fresh


def add_refresh_token(session: Session, user: User) -> RefreshToken:
    token = RefreshToken(
        user_id=user.id,
        family_id=uuid.uuid4(),
        token_hash=uuid.uuid4().hex,
        expires_at=datetime.now(UTC) + timedelta(days=30),
    )
    session.add(token)
    session.commit()
    return token


# ---- visibility --------------------------------------------------------------------------------


def test_a_member_reads_itself_and_an_admin_reads_anyone(session, make_user):
    # Given a member and an admin
    member, admin = make_user("member"), make_user("admin")
    # When each reads the member
    # Then both see it
    assert service.get_user(session, as_principal(member), member.id).id == member.id
    assert service.get_user(session, as_principal(admin), member.id).email == member.email


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_another_users_account_is_404_like_a_missing_one(session, make_user, role):
    # Given a caller and another user
    caller, other = make_user(role), make_user("member")
    # When the caller reads the other user, and a user that does not exist
    with pytest.raises(NotFound) as hidden:
        service.get_user(session, as_principal(caller), other.id)
    with pytest.raises(NotFound) as missing:
        service.get_user(session, as_principal(caller), uuid.uuid4())
    # Then both are the same 404: nothing tells them apart
    assert hidden.value.detail == missing.value.detail == service.NOT_FOUND


def test_an_admin_reading_a_missing_user_gets_404(session, make_user):
    admin = make_user("admin")
    with pytest.raises(NotFound):
        service.get_user(session, as_principal(admin), uuid.uuid4())


# ---- the user cache ----------------------------------------------------------------------------


def test_a_read_is_cached_and_a_change_invalidates_it(session, make_user, redis):
    # Given a member whose account was read once
    member = make_user("member", name="Before")
    service.get_user(session, as_principal(member), member.id)
    key = f"user:{member.id}"
    assert redis.get(key) is not None
    assert 0 < redis.ttl(key) <= user_cache.TTL_SECONDS
    # When the member renames itself and the request commits
    service.update_user(session, as_principal(member), member.id, UserUpdate(name="After"))
    commit(session)
    # Then the cached copy is gone and the next read sees the new name
    assert redis.get(key) in (None, user_cache._TOMBSTONE)  # no copy of the user is left
    assert service.get_user(session, as_principal(member), member.id).name == "After"


def test_reads_are_served_from_the_cache(session, make_user):
    # Given a cached user whose row then changes behind the service's back
    member = make_user("member", name="Cached")
    service.get_user(session, as_principal(member), member.id)
    reread(session, member).name = "Changed directly"
    session.commit()
    # When it is read again
    # Then the cached copy answers (which is why every change must invalidate it)
    assert service.get_user(session, as_principal(member), member.id).name == "Cached"


def test_a_refused_change_leaves_the_cache_alone(session, make_user, redis):
    member = make_user("member")
    service.get_user(session, as_principal(member), member.id)
    with pytest.raises(Forbidden):
        service.update_user(session, as_principal(member), member.id, UserUpdate(role="admin"))
    session.rollback()
    assert redis.get(f"user:{member.id}") is not None


# ---- updates -----------------------------------------------------------------------------------


def test_a_member_renames_itself_and_the_name_is_trimmed(session, make_user):
    member = make_user("member")
    updated = service.update_user(
        session, as_principal(member), member.id, UserUpdate(name="  Ada Lovelace  ")
    )
    commit(session)
    assert updated.name == "Ada Lovelace"
    assert reread(session, member).name == "Ada Lovelace"


def test_a_member_renaming_another_user_gets_404_and_nothing_changes(session, make_user):
    caller, other = make_user("member"), make_user("member", name="Original")
    with pytest.raises(NotFound):
        service.update_user(session, as_principal(caller), other.id, UserUpdate(name="Hijacked"))
    session.rollback()
    assert reread(session, other).name == "Original"


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "admin"},
        {"role": "member"},  # even its own current role: the field itself is admin-only
        {"is_active": False},
        {"is_active": True},
        {"name": "Renamed", "role": "admin"},  # nothing of a refused request is applied
    ],
)
def test_a_member_sending_role_or_is_active_is_forbidden(session, make_user, changes):
    # Given a member
    member = make_user("member", name="Original")
    # When it sends role or is_active for itself
    with pytest.raises(Forbidden):
        service.update_user(
            session, as_principal(member), member.id, UserUpdate.model_validate(changes)
        )
    session.rollback()
    # Then nothing changed
    fresh = reread(session, member)
    assert (fresh.name, fresh.role, fresh.is_active, fresh.token_version) == (
        "Original",
        "member",
        True,
        0,
    )


@pytest.mark.parametrize("changes", [{"role": "member"}, {"is_active": False}])
def test_a_viewer_may_not_change_its_role_or_activation(session, make_user, changes):
    viewer = make_user("viewer", name="Original")
    with pytest.raises(Forbidden):
        service.update_user(
            session, as_principal(viewer), viewer.id, UserUpdate.model_validate(changes)
        )
    session.rollback()
    assert (reread(session, viewer).role, reread(session, viewer).is_active) == ("viewer", True)


def test_a_viewer_renames_itself(session, make_user):
    # The contract: `name` is editable by oneself, whatever the role
    viewer = make_user("viewer", name="Original")
    updated = service.update_user(
        session, as_principal(viewer), viewer.id, UserUpdate(name="  Vera  ")
    )
    session.commit()
    assert updated.name == "Vera" == reread(session, viewer).name


def test_a_viewer_patching_another_user_gets_404_not_403(session, make_user):
    viewer, other = make_user("viewer"), make_user("member")
    with pytest.raises(NotFound):
        service.update_user(session, as_principal(viewer), other.id, UserUpdate(name="x"))


def test_an_admin_updating_a_missing_user_gets_404(session, make_user):
    admin = make_user("admin")
    with pytest.raises(NotFound):
        service.update_user(session, as_principal(admin), uuid.uuid4(), UserUpdate(name="x"))


def cache_version(redis, user: User) -> str:
    """What the authorizer would have cached for ``user``: its version, read just now."""
    key = revocation.version_key(user.id)
    redis.set(key, f"{user.token_version}:{int(time.time() * 1000)}")
    return key


def outbox_rows(session: Session) -> list[OutboxRow]:
    session.expire_all()
    return list(session.scalars(select(OutboxRow).order_by(OutboxRow.created_at)))


def test_deactivation_revokes_every_session(session, make_user, redis, sent_messages):
    # Given a member with two live refresh tokens, and its token version cached by the authorizer
    admin, member = make_user("admin"), make_user("member")
    tokens = [add_refresh_token(session, member), add_refresh_token(session, member)]
    cached = cache_version(redis, member)
    # When an admin deactivates it
    updated = service.update_user(
        session, as_principal(admin), member.id, UserUpdate(is_active=False)
    )
    assert redis.exists(cached)  # nothing is invalidated before the commit
    commit(session)
    # Then it is inactive, its token version moved on, its refresh tokens revoked
    assert updated.is_active is False
    fresh = reread(session, member)
    assert (fresh.is_active, fresh.token_version) == (False, 1)
    for token in tokens:
        session.refresh(token)
        assert token.revoked_at is not None
    # And the cached version is gone, the user is told, and the outbox holds nothing pending
    assert not redis.exists(cached)
    assert [(q, m["kind"]) for q, m in sent_messages] == [("notifications", "account_changed")]
    rows = outbox_rows(session)
    assert {r.kind for r in rows} == {"cache_delete", "cache_set", "queue"}
    assert all(r.delivered_at is not None for r in rows)


def test_a_role_change_bumps_the_token_version(session, make_user, redis):
    admin, member = make_user("admin"), make_user("member")
    token = add_refresh_token(session, member)
    cached = cache_version(redis, member)
    updated = service.update_user(
        session, as_principal(admin), member.id, UserUpdate(role="viewer")
    )
    commit(session)
    assert updated.role == "viewer"
    assert reread(session, member).token_version == 1
    assert not redis.exists(cached)
    session.refresh(token)
    assert token.revoked_at is not None


@pytest.mark.parametrize(
    "changes", [{"name": "New name"}, {"role": "member"}, {"is_active": True}, {}]
)
def test_a_change_that_touches_no_role_or_activation_keeps_sessions(
    session, make_user, redis, changes
):
    admin, member = make_user("admin"), make_user("member")
    token = add_refresh_token(session, member)
    service.update_user(session, as_principal(admin), member.id, UserUpdate.model_validate(changes))
    commit(session)
    assert reread(session, member).token_version == 0
    session.refresh(token)
    assert token.revoked_at is None


def test_reactivation_does_not_bump_the_version(session, make_user):
    admin, member = make_user("admin"), make_user("member", is_active=False)
    updated = service.update_user(
        session, as_principal(admin), member.id, UserUpdate(is_active=True)
    )
    commit(session)
    assert updated.is_active is True
    assert reread(session, member).token_version == 0


# ---- the last-admin guard ----------------------------------------------------------------------


@pytest.mark.parametrize("changes", [{"role": "member"}, {"role": "viewer"}, {"is_active": False}])
def test_the_last_active_admin_cannot_demote_or_deactivate_itself(session, make_user, changes):
    # Given the only active admin (an inactive one does not count)
    admin = make_user("admin")
    make_user("admin", is_active=False)
    # When it demotes or deactivates itself
    with pytest.raises(Conflict):
        service.update_user(
            session, as_principal(admin), admin.id, UserUpdate.model_validate(changes)
        )
    session.rollback()
    # Then it is still an active admin with its sessions intact
    fresh = reread(session, admin)
    assert (fresh.role, fresh.is_active, fresh.token_version) == ("admin", True, 0)


def test_the_last_active_admin_may_still_rename_itself(session, make_user):
    admin = make_user("admin")
    updated = service.update_user(
        session, as_principal(admin), admin.id, UserUpdate(name="Root", role="admin")
    )
    assert (updated.name, updated.role) == ("Root", "admin")


@pytest.mark.parametrize("changes", [{"role": "member"}, {"is_active": False}])
def test_with_another_active_admin_an_admin_may_step_down(session, make_user, changes):
    first, _second = make_user("admin"), make_user("admin")
    service.update_user(session, as_principal(first), first.id, UserUpdate.model_validate(changes))
    commit(session)
    fresh = reread(session, first)
    assert (fresh.role, fresh.is_active) != ("admin", True)
    assert fresh.token_version == 1


# ---- deletion ----------------------------------------------------------------------------------


def test_a_member_deleting_another_user_gets_404_and_it_stays(session, make_user):
    caller, other = make_user("member"), make_user("member")
    with pytest.raises(NotFound):
        service.delete_user(session, as_principal(caller), other.id)
    session.rollback()
    assert session.get(User, other.id) is not None


def test_deleting_oneself_ends_the_sessions_and_drops_the_cache(
    session, make_user, redis, sent_messages
):
    # Given a member with a cached copy, a cached token version and a refresh token
    member = make_user("member")
    add_refresh_token(session, member)
    service.get_user(session, as_principal(member), member.id)
    cached = cache_version(redis, member)
    # When it deletes itself and the request commits
    service.delete_user(session, as_principal(member), member.id)
    commit(session)
    # Then the row and its refresh tokens are gone, no cached version or copy is left
    session.expire_all()
    assert session.get(User, member.id) is None
    assert session.scalar(select(func.count()).select_from(RefreshToken)) == 0
    assert not redis.exists(cached)
    assert redis.get(f"user:{member.id}") in (None, user_cache._TOMBSTONE)
    # And the purge of its data is queued
    assert sent_messages == [("purge", {"user_id": str(member.id)})]


def test_the_last_active_admin_cannot_delete_itself(session, make_user, redis):
    admin = make_user("admin")
    cached = cache_version(redis, admin)
    with pytest.raises(Conflict):
        service.delete_user(session, as_principal(admin), admin.id)
    session.rollback()
    commit(session)
    assert session.get(User, admin.id) is not None
    assert redis.exists(cached)
    assert outbox_rows(session) == []


def test_an_admin_deletes_another_admin(session, make_user):
    first, second = make_user("admin"), make_user("admin")
    service.delete_user(session, as_principal(first), second.id)
    commit(session)
    session.expire_all()
    assert session.get(User, second.id) is None


def test_deleting_a_missing_user_is_404(session, make_user):
    admin = make_user("admin")
    with pytest.raises(NotFound):
        service.delete_user(session, as_principal(admin), uuid.uuid4())


# ---- listing -----------------------------------------------------------------------------------


@pytest.fixture
def cursor_keys(monkeypatch):
    key_set = keyring.FixedRing(keyring.parse(keyring.new_secret("c1")))
    monkeypatch.setattr(pagination, "cursor_keys", lambda: key_set)
    return key_set


def test_list_users_walks_everyone_once_newest_first(session, make_user, cursor_keys):
    # Given seven users, four of them created at the same instant
    admin = make_user("admin")
    now = datetime.now(UTC)
    for i in range(6):
        make_user(created_at=now if i < 4 else now - timedelta(minutes=i))
    # When an admin walks the listing three at a time
    seen, after = [], None
    while True:
        page = service.list_users(session, as_principal(admin), limit=3, after=after)
        assert len(page.items) <= 3
        seen += page.items
        if page.next_cursor is None:
            break
        after = page.next_cursor
    # Then every user appears once, by created_at then id, descending
    ids = [u.id for u in seen]
    assert len(ids) == len(set(ids)) == 7
    order = [(u.created_at, u.id) for u in seen]
    assert order == sorted(order, reverse=True)


def test_a_cursor_is_bound_to_the_admin_that_got_it(session, make_user, cursor_keys):
    first, second = make_user("admin"), make_user("admin")
    make_user()
    page = service.list_users(session, as_principal(first), limit=1, after=None)
    assert page.next_cursor is not None
    service.list_users(session, as_principal(first), limit=1, after=page.next_cursor)
    with pytest.raises(Unprocessable) as refused:
        service.list_users(session, as_principal(second), limit=1, after=page.next_cursor)
    assert refused.value.errors is not None
    assert refused.value.errors[0].loc == ("query", "cursor")


# ---- the bootstrap admin -----------------------------------------------------------------------


def test_ensure_admin_creates_the_admin_once(session):
    # When it runs twice for the same email (the second time spelled differently)
    assert service.ensure_admin(session, email="Root@Example.com", password="a" * 12) is True
    assert service.ensure_admin(session, email=" root@example.com ", password="b" * 12) is False
    session.commit()
    # Then there is one admin, with the first password
    admins = list(session.scalars(select(User).where(User.email == "root@example.com")))
    assert len(admins) == 1
    assert (admins[0].role, admins[0].is_active) == ("admin", True)
    assert passwords.verify_password(admins[0].password_hash, "a" * 12)


@pytest.mark.parametrize("password", ["a" * 11, "a" * 129, ""])
def test_ensure_admin_refuses_a_password_out_of_bounds(session, password):
    with pytest.raises(ValueError, match="12-128"):
        service.ensure_admin(session, email="root@example.com", password=password)
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_ensure_admin_never_promotes_an_existing_member(session, make_user):
    member = make_user("member")
    assert service.ensure_admin(session, email=member.email, password="a" * 12) is False
    session.commit()
    fresh = reread(session, member)
    assert (fresh.role, fresh.password_hash) == ("member", FAKE_HASH)
    assert session.scalar(select(func.count()).select_from(User)) == 1
