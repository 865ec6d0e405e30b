"""The database: one SQLAlchemy engine per execution environment, one session per unit of work.

Postgres is reached through pg8000 (pure Python, no compiled driver in the layer); in AWS the
connection goes through RDS Proxy, which does the pooling, so the engine keeps a pool of one.
Locally it is PostgreSQL too: the runner's embedded server (``local/postgres.py``) on a Unix
socket (``?unix_sock=...``), or whatever ``DATABASE_URL`` names.

In AWS there is no ``DATABASE_URL``: the URL is built from the proxy's host, the database name
and the credentials in Secrets Manager (``DATABASE_SECRET_ARN``), with TLS on; every new
connection reads the credentials again (cached for ``DATABASE_SECRET_MAX_AGE`` seconds), so a
rotated password is picked up without a redeploy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.platform import secrets
from shared.platform.settings import Database, get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    """Pin the pg8000 driver for any ``postgres://`` or ``postgresql://`` URL."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+pg8000://" + url[len(prefix) :]
    return url


def credentials() -> tuple[str, str]:
    """The username and password of the database secret (an RDS secret: a JSON document)."""
    import json

    settings = get_settings(Database)
    if settings.database_secret_arn is None:
        raise ValueError("DATABASE_SECRET_ARN is not set")
    document = json.loads(
        secrets.get(settings.database_secret_arn, max_age=settings.database_secret_max_age_seconds)
    )
    return str(document["username"]), str(document["password"])


def database_url() -> str:
    """``DATABASE_URL`` when it is set; otherwise a Postgres URL built from the secret."""
    settings = get_settings(Database)
    if settings.database_url is not None:
        return normalize_url(settings.database_url)
    username, password = credentials()
    return (
        f"postgresql+pg8000://{quote(username, safe='')}:{quote(password, safe='')}"
        f"@{settings.database_host}:{settings.database_port}"
        f"/{quote(settings.database_name or '', safe='')}"
    )


def uses_tls() -> bool:
    """TLS is on when ``DATABASE_TLS`` says so, and always for a URL built from the secret."""
    settings = get_settings(Database)
    return settings.database_tls or settings.database_url is None


@lru_cache(maxsize=1)
def engine() -> Engine:
    """The engine of this execution environment, created on first use."""
    from sqlalchemy import create_engine, event

    settings = get_settings(Database)
    url = database_url()
    kwargs: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": settings.database_pool_size,
        "max_overflow": 0,
        "pool_recycle": 300,
    }
    if uses_tls():
        import ssl

        kwargs["connect_args"] = {"ssl_context": ssl.create_default_context()}
    eng = create_engine(url, **kwargs)
    if settings.database_url is None:

        @event.listens_for(eng, "do_connect")
        def _current_credentials(_: Any, __: Any, ___: Any, params: dict[str, Any]) -> None:
            params["user"], params["password"] = credentials()

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


def affected(result: Any) -> int:
    """How many rows an UPDATE or DELETE matched (``CursorResult.rowcount``, which the
    ``Session.execute`` stubs do not expose)."""
    return int(result.rowcount)
