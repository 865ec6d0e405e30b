"""Real Postgres and Redis on loopback, for the integration and end-to-end suites.

Each test session gets its own Postgres database (created, migrated by the tests that need it,
dropped at the end) and its own Redis logical database, flushed before and after, so a run
leaves nothing behind and never sees another run's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _admin_engine():  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    from shared.platform.db import normalize_url

    return create_engine(normalize_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, empty Postgres database for this test session."""
    from sqlalchemy import text

    name = f"stratus_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        from shared.platform import db

        db.reset()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis logical database for this test session, empty before and after."""
    import redis

    url = f"{REDIS_BASE_URL}/{os.environ.get('TEST_REDIS_DB', '11')}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
