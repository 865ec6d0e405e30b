"""The reads that tolerate lag (lists, search) go to the read replica: ``DATABASE_READ_URL``
(``DATABASE_READ_HOST`` in AWS), in a read-only transaction; without one, to the primary. Here
a second database stands in for the replica, so what is read shows where it came from."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from shared.platform import db
from shared.platform.settings import reset_settings
from tests.support.services import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def primary_and_replica(pg_url, monkeypatch):
    with fresh_database() as primary, fresh_database() as replica:
        for url, name in ((primary, "primary"), (replica, "replica")):
            monkeypatch.setenv("DATABASE_URL", url)
            reset_settings()
            db.reset()
            with db.session_scope() as session:
                session.execute(text("CREATE TABLE whereami (name text)"))
                session.execute(text("INSERT INTO whereami VALUES (:n)"), {"n": name})
        monkeypatch.setenv("DATABASE_URL", primary)
        monkeypatch.setenv("DATABASE_READ_URL", replica)
        reset_settings()
        db.reset()
        yield
        db.reset()
    reset_settings()


def test_read_scope_reads_the_replica_and_session_scope_the_primary(primary_and_replica):
    with db.read_scope() as session:
        assert session.execute(text("SELECT name FROM whereami")).scalar() == "replica"
    with db.session_scope() as session:
        assert session.execute(text("SELECT name FROM whereami")).scalar() == "primary"


def test_a_read_path_that_writes_fails_even_on_the_primary(pg_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.delenv("DATABASE_READ_URL", raising=False)
    reset_settings()
    db.reset()
    try:
        # Without a replica, reads use the primary's engine, still read-only
        assert db.read_engine() is db.engine()
        with pytest.raises(DBAPIError, match="read-only transaction"), db.read_scope() as session:
            session.execute(text("CREATE TEMPORARY TABLE nope (x int)"))
    finally:
        db.reset()
        reset_settings()


def test_a_read_scope_that_asks_nothing_takes_no_connection(pg_url, monkeypatch):
    # The read-only transaction begins with the first statement, not with the scope
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.delenv("DATABASE_READ_URL", raising=False)
    reset_settings()
    db.reset()
    checkouts: list[object] = []
    try:
        event.listen(db.read_engine(), "checkout", lambda *_: checkouts.append(None))
        with db.read_scope():
            pass
        assert checkouts == []
        with db.read_scope() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
        assert len(checkouts) == 1
    finally:
        db.reset()
        reset_settings()
