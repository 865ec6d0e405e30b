"""Alembic environment: runs online on the connection the caller handed over
(``config.attributes["connection"]``), or else on the URL it configured."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from shared.platform.db import normalize_url
from shared.platform.orm import Base
from shared.tables import register_all

register_all()  # every domain's tables on Base.metadata, for autogenerate and the drift test

config = context.config
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        run_migrations(given)
        return
    url = config.get_main_option("sqlalchemy.url") or normalize_url(os.environ["DATABASE_URL"])
    connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        run_migrations(connection)
    connectable.dispose()


run_migrations_online()
