"""The database foundation on real Postgres."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shared.platform import db
from shared.platform.migrate import downgrade, upgrade

pytestmark = pytest.mark.integration


@pytest.fixture
def database(pg_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    from shared.platform.settings import reset_settings

    reset_settings()
    db.reset()
    yield pg_url
    db.reset()
    reset_settings()


def test_migrations_apply_and_roll_back_on_postgres(database):
    # When the migrations run to head
    upgrade(database)
    # Then Alembic records the head revision in the database
    with db.engine().connect() as conn:
        current = conn.execute(text("select version_num from alembic_version")).scalar()
    assert current == head_revision()
    # And running them again is a no-op, and down to base empties the version table
    upgrade(database)
    downgrade(database)
    with db.engine().connect() as conn:
        assert conn.execute(text("select count(*) from alembic_version")).scalar() == 0


def test_the_migrations_create_exactly_what_the_models_declare(database):
    # Given the schema the migrations build
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shared.platform.orm import Base
    from shared.tables import register_all
    from tests.support.services import has_pgvector

    register_all()
    upgrade(database)
    # On a server without pgvector, migration 0006 leaves chunk_vectors out by design
    skipped = set() if has_pgvector(database) else {"chunk_vectors"}

    def include(obj, name, kind, reflected, compare_to):  # type: ignore[no-untyped-def]
        table = obj if kind == "table" else getattr(obj, "table", None)
        return getattr(table, "name", name) not in skipped

    # Then Alembic finds nothing to add, drop or alter against the ORM models
    with db.engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include})
        assert compare_metadata(context, Base.metadata) == []


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from shared.platform.migrate import MIGRATIONS_DIR, alembic_config

    config = alembic_config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_the_engine_uses_pg8000_with_a_pool_of_one(database):
    engine = db.engine()
    assert engine.dialect.driver == "pg8000"
    assert engine.pool.size() == 1
    assert db.engine() is engine  # one engine per execution environment


def test_a_session_scope_commits_on_success_and_rolls_back_on_error(database):
    with db.engine().begin() as conn:
        conn.execute(text("create table if not exists scratch (v int)"))
        conn.execute(text("delete from scratch"))
    with db.session_scope() as session:
        session.execute(text("insert into scratch values (1)"))

    def fail_halfway() -> None:
        with db.session_scope() as session:
            session.execute(text("insert into scratch values (2)"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_halfway()
    with db.engine().connect() as conn:
        assert conn.execute(text("select v from scratch")).scalars().all() == [1]
        conn.execute(text("drop table scratch"))
        conn.commit()


def _count_pings(monkeypatch) -> list[int]:
    pings: list[int] = []
    dialect = db.engine().dialect
    original = dialect.do_ping

    def counted(dbapi_connection):  # type: ignore[no-untyped-def]
        pings.append(1)
        return original(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return pings


def _backend_pid() -> int:
    with db.session_scope() as session:
        return int(session.execute(text("select pg_backend_pid()")).scalar_one())


def test_a_busy_connection_is_not_pinged_and_an_idle_dead_one_is_replaced(pg_url, monkeypatch):
    import time

    from sqlalchemy import create_engine

    from shared.platform.settings import reset_settings

    # Given the pool pings a connection idle for more than 0.3 s
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("DATABASE_PING_AFTER_IDLE", "0.3")
    reset_settings()
    db.reset()
    try:
        pings = _count_pings(monkeypatch)
        # When requests follow each other closely
        first = _backend_pid()
        assert [_backend_pid() for _ in range(5)] == [first] * 5
        # Then they reuse the connection without a single ping (no extra round trip)
        assert pings == []
        # When the connection then sits idle and dies meanwhile (a proxy or NAT dropped it)
        admin = create_engine(db.normalize_url(pg_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": first})
        admin.dispose()
        time.sleep(0.4)
        # Then the next request pings it once, and gets a fresh connection instead of an error
        assert _backend_pid() != first
        assert pings == [1]
    finally:
        db.reset()
        reset_settings()


def test_a_failed_statement_never_carries_its_parameters(database, log_lines):
    # Given a statement that Postgres refuses, with a secret among its parameters
    from sqlalchemy.exc import DBAPIError

    secret = "ada-secret@example.com"
    with pytest.raises(DBAPIError) as failure, db.session_scope() as session:
        session.execute(text("SELECT CAST(:value AS integer)"), {"value": secret})
    # Then SQLAlchemy leaves the parameters out of the error's text
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(failure.value)
    assert "[parameters:" not in str(failure.value)
    # (Postgres's own message may still quote the value, "invalid input syntax for type
    # integer: ...": which is why a log line names an error's type, never its message)
    assert secret not in str(log_lines())


def test_the_pools_failure_records_carry_no_traceback(database):
    # Given the engine, and a handler on the root logger (Lambda's runtime has one there)
    import logging

    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    root = logging.getLogger()
    handler = Keep()
    root.addHandler(handler)
    try:
        pool_logger = db.engine().pool.logger
        # When the pool logs a failure the way it does for a dead connection that won't close
        try:
            raise ConnectionError("secret detail of the failure")
        except ConnectionError:
            pool_logger.error("Exception terminating connection %r", "conn", exc_info=True)
    finally:
        root.removeHandler(handler)
    # Then the record names the error's type only: no traceback, no message of the error
    [record] = [r for r in seen if r.name == pool_logger.name]
    formatted = logging.Formatter().format(record)
    assert formatted == "Exception terminating connection 'conn' (ConnectionError)"
