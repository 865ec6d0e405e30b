"""The database: one SQLAlchemy engine per execution environment, one session per unit of work.

Postgres is reached through pg8000 (pure Python, no compiled driver in the layer); in AWS the
connection goes through RDS Proxy, which does the pooling, so the engine keeps a pool of one.
The local runner's embedded default is a SQLite file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from shared.settings import Database, get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    """Pin the pg8000 driver for any ``postgres://`` or ``postgresql://`` URL."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+pg8000://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def engine() -> Engine:
    """The engine of this execution environment, created on first use."""
    from sqlalchemy import create_engine, event

    settings = get_settings(Database)
    url = normalize_url(settings.database_url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs.update(pool_size=settings.database_pool_size, max_overflow=0, pool_recycle=300)
        if settings.database_tls:
            import ssl

            kwargs["connect_args"] = {"ssl_context": ssl.create_default_context()}
    eng = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

    return eng


@lru_cache(maxsize=1)
def _sessionmaker() -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind=engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    session = _sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    for callback in session.info.pop("after_commit", []):
        callback()


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once ``session``'s transaction has committed (never if it rolls back):
    for side effects outside the database, such as publishing to Redis or sending a message."""
    session.info.setdefault("after_commit", []).append(callback)


def reset() -> None:
    """Dispose of the engine (tests and the local runner switch databases)."""
    if engine.cache_info().currsize:
        engine().dispose()
    engine.cache_clear()
    _sessionmaker.cache_clear()
