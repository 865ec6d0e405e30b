"""Apply the Alembic migrations: used by the deploy job, the local runner and the tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

from shared.platform.db import normalize_url

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

#: The key of the Postgres advisory lock held while migrating: two deploys (or a deploy and an
#: engineer by hand) never run the migrations at the same time.
ADVISORY_LOCK_KEY = 0x5354524154555301  # "STRATUS" + 1


def alembic_config(database_url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config that needs no alembic.ini, for a URL or an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url is not None:
        config.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at ``database_url`` up to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Take the database at ``database_url`` down to ``revision``."""
    command.downgrade(alembic_config(database_url), revision)


def apply(revision: str = "head", engine: Engine | None = None) -> str | None:
    """Bring this environment's database (``shared.platform.db``'s engine: the URL, or the secret's
    credentials over TLS; or ``engine``) up to ``revision`` under an advisory lock, in one
    transaction; return the revision it is at afterwards."""
    from alembic.migration import MigrationContext
    from sqlalchemy import text

    from shared.platform import db

    with (engine or db.engine()).begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        current = MigrationContext.configure(connection).get_current_revision()
        if current is not None and not _knows(current):
            # The database is ahead of this code: a rollback (CloudFormation runs the previous
            # version of the deploy job) or an older commit redeployed. Migrations are
            # expand-then-contract, so this code works on the newer schema: nothing to do.
            from shared.platform.observability import logger

            logger.warning(
                "The database is at a revision this code does not know: left as it is",
                extra={"revision": current},
            )
            return current
        command.upgrade(alembic_config(connection=connection), revision)
        return MigrationContext.configure(connection).get_current_revision()


def known_revisions() -> set[str]:
    """Every revision of this code's migrations."""
    from alembic.script import ScriptDirectory

    return {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }


def _knows(revision: str) -> bool:
    """True when ``revision`` is one of this code's migrations."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False
