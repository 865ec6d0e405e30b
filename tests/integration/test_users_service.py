"""``list_users`` pagination on real Postgres: ties on ``created_at`` are broken by id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from shared.platform import keyring, pagination
from shared.platform.db import normalize_url
from shared.platform.errors import Conflict, Unprocessable
from shared.platform.identity import Principal
from shared.platform.migrate import upgrade
from shared.users import service
from shared.users.models import User
from shared.users.schemas import UserUpdate

pytestmark = pytest.mark.integration


@pytest.fixture
def session(pg_url, monkeypatch) -> Iterator[Session]:
    """A session inside one transaction that is rolled back: the test leaves no rows behind."""
    key_set = keyring.FixedRing(keyring.parse(keyring.new_secret("c1")))
    monkeypatch.setattr(pagination, "cursor_keys", lambda: key_set)
    upgrade(pg_url)
    engine = create_engine(normalize_url(pg_url))
    with engine.connect() as conn:
        transaction = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as s:
            yield s
        transaction.rollback()
    engine.dispose()


@pytest.fixture
def users(session) -> list[User]:
    """25 users: ten created at one instant, ten at another, five on their own."""
    tie_a = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)
    tie_b = tie_a - timedelta(seconds=1)
    stamps = [tie_a] * 10 + [tie_b] * 10 + [tie_b - timedelta(minutes=i + 1) for i in range(5)]
    created = [
        User(
            email=f"page-{i}-{uuid.uuid4().hex[:8]}@example.com",
            name=f"User {i}",
            password_hash="x",
            role="admin" if i == 0 else "member",
            created_at=stamp,
        )
        for i, stamp in enumerate(stamps)
    ]
    session.add_all(created)
    session.flush()
    return created


def walk(session: Session, principal: Principal, *, limit: int) -> list:
    items, after, pages = [], None, 0
    while True:
        page = service.list_users(session, principal, limit=limit, after=after)
        pages += 1
        assert len(page.items) <= limit
        items += page.items
        if page.next_cursor is None:
            return items
        assert len(page.items) == limit  # only a full page points further
        after = page.next_cursor
        assert pages < 1000, "the walk does not end"


@pytest.mark.parametrize("limit", [1, 3, 10, 100])
def test_the_walk_is_stable_complete_and_without_duplicates(session, users, limit):
    # Given 25 users, twenty of them sharing one of two created_at values (plus any others)
    admin = Principal(user_id=users[0].id, role="admin")
    expected = list(
        session.scalars(select(User.id).order_by(User.created_at.desc(), User.id.desc()))
    )
    # When an admin walks the whole listing `limit` at a time
    items = walk(session, admin, limit=limit)
    ids = [u.id for u in items]
    # Then every user appears exactly once, newest first, ties broken by id descending
    assert len(ids) == len(set(ids))
    assert ids == expected
    mine = [u.id for u in users]
    assert set(mine) <= set(ids)
    order = [(u.created_at, u.id) for u in items]
    assert order == sorted(order, reverse=True)
    # And within each tie the ids run in descending order (the tie-break itself was exercised)
    tied = [u.id for u in items if u.created_at == users[0].created_at]
    assert len(tied) >= 10
    assert tied == sorted(tied, reverse=True)


def test_a_cursor_in_the_middle_of_a_tie_resumes_right_after_it(session, users):
    # Given the first page ending inside the ten users that share the newest instant
    admin = Principal(user_id=users[0].id, role="admin")
    everyone = walk(session, admin, limit=100)
    start = [u.id for u in everyone].index(
        max(u.id for u in users if u.created_at == users[0].created_at)
    )
    # The tie's first member may sit behind newer users of other runs: walk up to it
    first = service.list_users(session, admin, limit=start + 4, after=None)
    assert first.next_cursor is not None
    # When the next page is fetched
    second = service.list_users(session, admin, limit=4, after=first.next_cursor)
    # Then it starts with the user right after the last one shown, inside the tie
    assert [u.id for u in second.items] == [u.id for u in everyone[start + 4 : start + 8]]


def test_another_admins_cursor_is_refused(session, users):
    first = Principal(user_id=users[0].id, role="admin")
    other = Principal(user_id=uuid.uuid4(), role="admin")
    page = service.list_users(session, first, limit=2, after=None)
    assert page.next_cursor is not None
    with pytest.raises(Unprocessable):
        service.list_users(session, other, limit=2, after=page.next_cursor)


# ---- the last-admin guard under concurrency ----------------------------------------------------


@pytest.fixture
def private_pg() -> Iterator[str]:
    """A database of its own, so that the admins below are the only ones there are. (The
    sessions below commit by themselves: their outbox effects are never delivered, no Redis.)"""
    from tests.support.services import fresh_database

    with fresh_database() as url:
        upgrade(url)
        yield url


def _two_admins(engine) -> tuple[User, User]:
    with Session(engine, expire_on_commit=False) as s:
        pair = (
            User(email="a@example.com", name="A", password_hash="x", role="admin"),
            User(email="b@example.com", name="B", password_hash="x", role="admin"),
        )
        s.add_all(pair)
        s.commit()
    return pair


def _sessions(engine) -> tuple[Session, Session]:
    """Two sessions run one after the other in this thread: a fix that makes the second wait
    for the first's lock must not hang the test, so a wait ends in an error (a refusal)."""
    from sqlalchemy import text

    pair = (Session(engine), Session(engine))
    for s in pair:
        s.execute(text("SET lock_timeout = '2s'"))
    return pair


def _active_admins(engine) -> int:
    from sqlalchemy import func

    with Session(engine) as s:
        query = select(func.count()).select_from(User)
        return s.scalar(query.where(User.role == "admin", User.is_active.is_(True))) or 0


@pytest.mark.parametrize("changes", [{"role": "member"}, {"is_active": False}])
def test_two_admins_stepping_down_at_once_leave_one_admin(private_pg, changes):
    # Given exactly two active admins
    engine = create_engine(normalize_url(private_pg))
    a, b = _two_admins(engine)
    update = UserUpdate.model_validate(changes)
    # When both step down in overlapping transactions (two Lambda instances at once)
    first, second = _sessions(engine)
    outcomes = []
    try:
        for s, admin in ((first, a), (second, b)):
            try:
                service.update_user(s, Principal(user_id=admin.id, role="admin"), admin.id, update)
                outcomes.append("ok")
            except (Conflict, DBAPIError) as exc:  # a refusal or a serialization failure: fine
                s.rollback()
                outcomes.append(type(exc).__name__)
        for s in (first, second):
            try:
                s.commit()
            except DBAPIError:  # losing a serialization race is a correct refusal
                s.rollback()
    finally:
        first.close()
        second.close()
    # Then one of them is refused and one active admin remains
    remaining = _active_admins(engine)
    engine.dispose()
    assert remaining == 1, f"outcomes: {outcomes}"


def test_two_admins_deleting_themselves_at_once_leave_one_admin(private_pg):
    engine = create_engine(normalize_url(private_pg))
    a, b = _two_admins(engine)
    first, second = _sessions(engine)
    try:
        for s, admin in ((first, a), (second, b)):
            try:
                service.delete_user(s, Principal(user_id=admin.id, role="admin"), admin.id)
            except (Conflict, DBAPIError):
                s.rollback()
        for s in (first, second):
            try:
                s.commit()
            except DBAPIError:  # losing a serialization race is a correct refusal
                s.rollback()
    finally:
        first.close()
        second.close()
    remaining = _active_admins(engine)
    engine.dispose()
    assert remaining == 1
