"""The database: one SQLAlchemy engine per execution environment, one session per unit of work.

Postgres is reached through pg8000 (pure Python, no compiled driver in the layer); in AWS the
connection goes through RDS Proxy, which does the pooling, so the engine keeps a pool of one.
Locally it is PostgreSQL too: the runner's embedded server (``local/postgres.py``) on a Unix
socket (``?unix_sock=...``), or whatever ``DATABASE_URL`` names.

In AWS there is no ``DATABASE_URL``: the URL is built from the proxy's host, the database name
and the credentials in Secrets Manager (``DATABASE_SECRET_ARN``), with TLS on; every new
connection reads the credentials again (cached for ``DATABASE_SECRET_MAX_AGE`` seconds), so a
rotated password is picked up without a redeploy.

Liveness: a pooled connection is pinged when it is checked out after being idle for more than
``DATABASE_PING_AFTER_IDLE`` seconds (30 by default), not on every checkout: a busy execution
environment reuses its connection without the extra round trip, and one that sat frozen
between invocations (when RDS Proxy or a NAT may have dropped the connection) checks it first.
A dead connection found so is replaced before the request sees it. A connection that dies
inside the idle window (a backend terminated, a failover) surfaces as a disconnect error on its
first statement: SQLAlchemy then discards it and every connection pooled before it, and the
transport runs the request once more (:func:`retryable`): an HTTP request, or the authorizer's
check, is repeated transparently when nothing of it may have committed yet. A disconnect during
a commit (its outcome unknown), or a second one, is a 503 problem (:func:`is_disconnect`),
never a 500.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from shared.platform import secrets
from shared.platform.observability import without_tracebacks
from shared.platform.settings import Database, get_settings

T = TypeVar("T")

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


def read_database_url() -> str | None:
    """Where the read paths that tolerate lag go (lists, search): ``DATABASE_READ_URL``, or in
    AWS the read replica's ``DATABASE_READ_HOST`` with the primary's credentials; None: the
    primary itself (locally, and in a stage without a replica)."""
    settings = get_settings(Database)
    if settings.database_read_url is not None:
        return normalize_url(settings.database_read_url)
    if settings.database_read_host is None or settings.database_url is not None:
        return None
    username, password = credentials()
    return (
        f"postgresql+pg8000://{quote(username, safe='')}:{quote(password, safe='')}"
        f"@{settings.database_read_host}:{settings.database_port}"
        f"/{quote(settings.database_name or '', safe='')}"
    )


@lru_cache(maxsize=1)
def engine() -> Engine:
    """The engine of this execution environment, created on first use."""
    return _create_engine(database_url())


@lru_cache(maxsize=1)
def read_engine() -> Engine:
    """The read replica's engine (:func:`read_database_url`), or the primary's when none."""
    url = read_database_url()
    return engine() if url is None else _create_engine(url)


def _create_engine(url: str) -> Engine:
    from sqlalchemy import create_engine, event

    settings = get_settings(Database)
    kwargs: dict[str, Any] = {
        "pool_size": settings.database_pool_size,
        "max_overflow": 0,
        "pool_recycle": 300,
        # Never a statement's parameters in an error's message (nor so in a log): they are
        # emails, names, password hashes, tokens' hashes.
        "hide_parameters": True,
    }
    if uses_tls():
        import ssl

        kwargs["connect_args"] = {"ssl_context": ssl.create_default_context()}
    eng = create_engine(url, **kwargs)
    # Their records of a failure (a dead connection that would not close) carry a traceback.
    without_tracebacks(*(_logger_name(log) for log in (eng.pool.logger, eng.logger)))
    _ping_after_idle(eng, settings.database_ping_after_idle_seconds)
    _socket_errors_are_disconnects(eng)
    if settings.database_url is None:

        @event.listens_for(eng, "do_connect")
        def _current_credentials(_: Any, __: Any, ___: Any, params: dict[str, Any]) -> None:
            params["user"], params["password"] = credentials()

    return eng


def _socket_errors_are_disconnects(eng: Engine) -> None:
    """pg8000 lets some socket errors through as they are (a ``ConnectionResetError`` while
    it reads a reply): make them disconnects too, so that the pool drops the connection (and
    those pooled before it) and the error is a ``DBAPIError`` with ``connection_invalidated``."""
    from sqlalchemy import event, exc

    @event.listens_for(eng, "handle_error")
    def _socket_error(ctx: Any) -> Any:
        original = ctx.original_exception
        if not isinstance(original, OSError) or ctx.is_disconnect:
            return None
        ctx.is_disconnect = True
        return exc.DBAPIError(
            ctx.statement, None, original, hide_parameters=True, connection_invalidated=True
        )


def _logger_name(log: Any) -> str:
    """The name of a SQLAlchemy logger (a ``logging.Logger``, or its echo wrapper)."""
    return str(getattr(log, "name", None) or log.logger.name)


_CHECKED_IN_AT = "stratus_checked_in_at"


def _ping_after_idle(eng: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection on checkout only when it sat idle for ``idle_seconds``; a dead
    one makes the pool discard it and connect again (``DisconnectionError``)."""
    from sqlalchemy import event, exc

    @event.listens_for(eng, "checkin")
    def _checked_in(_: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(eng, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _: Any) -> None:
        checked_in_at = record.info.pop(_CHECKED_IN_AT, None)
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return  # a new connection, or one used moments ago
        try:
            eng.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError("idle connection failed its ping") from error


# ---- dead connections: retry once when nothing may have committed --------------------------------

#: The unit of work of the current request: whether any of its sessions reached a commit. A
#: mutable holder, so that a session run in a worker thread (a copied context) marks it too.
_UNIT: ContextVar[dict[str, bool] | None] = ContextVar("stratus_db_unit", default=None)


def begin_unit() -> None:
    """Start a unit of work that may be retried (an HTTP request, an authorizer check)."""
    _UNIT.set({"committing": False})


def is_disconnect(exc: BaseException) -> bool:
    """True for the error of a statement whose connection turned out dead (SQLAlchemy has
    invalidated it, and the pool's older connections with it)."""
    if "sqlalchemy" not in sys.modules:  # a function that never touched a database
        return False
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def retryable(exc: BaseException) -> bool:
    """True when ``exc`` is a dead connection and no session of the current unit of work has
    tried to commit: its transaction was rolled back with the connection, so running the unit
    again on a fresh connection cannot apply anything twice."""
    unit = _UNIT.get()
    return is_disconnect(exc) and unit is not None and not unit["committing"]


def run_retrying(fn: Callable[[], T]) -> T:
    """``fn()`` as one unit of work, run once more on a fresh connection if its connection
    was dead (:func:`retryable`)."""
    begin_unit()
    try:
        return fn()
    except Exception as exc:
        if not retryable(exc):
            raise
        log_retry(exc)
        begin_unit()
        return fn()


def log_retry(exc: BaseException) -> None:
    """Say that a unit of work runs again after a dead connection (never the statement)."""
    from shared.platform.observability import logger

    logger.warning(
        "The database connection was dead; running again on a fresh one",
        extra={"error": type(exc).__name__},
    )


def _mark_committing() -> None:
    unit = _UNIT.get()
    if unit is not None:
        unit["committing"] = True


@lru_cache(maxsize=1)
def _sessionmaker() -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind=engine(), expire_on_commit=False)


@lru_cache(maxsize=1)
def _read_sessionmaker() -> sessionmaker[Session]:
    """Sessions whose transaction is read-only from its first statement on: ``SET TRANSACTION
    READ ONLY`` goes out as the session begins its transaction on a connection, so a read
    scope that ends up asking nothing (a page answered without a query) costs no round trip."""
    from sqlalchemy import event, text
    from sqlalchemy.orm import sessionmaker

    makes = sessionmaker(bind=read_engine(), expire_on_commit=False)

    @event.listens_for(makes, "after_begin")
    def _read_only(_: Session, __: Any, connection: Any) -> None:
        connection.execute(text("SET TRANSACTION READ ONLY"))

    return makes


@contextmanager
def read_scope() -> Iterator[Session]:
    """One read-only transaction on the read replica (the primary when there is none): for the
    reads that tolerate its lag, lists and search. A write in it fails (``SET TRANSACTION READ
    ONLY``, before its first statement), on the primary as on the replica, so a read path that
    writes is caught locally."""
    session = _read_sessionmaker()()
    try:
        yield session
        if session.in_transaction():  # else nothing was asked: no transaction to end
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    session = _sessionmaker()()
    try:
        yield session
        _mark_committing()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    for callback in session.info.pop("after_commit", []):
        try:
            callback()
        except Exception as exc:  # the change is committed: never fail the caller for this
            from shared.platform.observability import logger

            logger.warning("An after-commit callback failed", extra={"error": type(exc).__name__})


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once ``session``'s transaction has committed (never if it rolls back),
    best effort: a callback that raises is logged, and the committed block still succeeds.

    An effect that must happen (a queue message, a cache invalidation, a file) is no callback:
    it goes through the outbox (``shared.platform.outbox.add``), which uses this hook to
    deliver it at once and keeps it for its relay otherwise."""
    session.info.setdefault("after_commit", []).append(callback)


def prime() -> None:
    """Before a SnapStart snapshot: the driver and dialect imported, the ORM's mappers
    configured (when the function uses the ORM), and the engine built where its URL needs no
    secret. Nothing connects."""
    if "sqlalchemy.orm" in sys.modules:
        from sqlalchemy.orm import configure_mappers

        configure_mappers()
    settings = get_settings(Database)
    import pg8000  # noqa: F401
    from sqlalchemy.dialects.postgresql import pg8000 as _dialect  # noqa: F401

    if settings.database_url is not None:
        engine()


def renew() -> None:
    """After a SnapStart restore: a new pool, the old one's connections dropped without being
    closed (their sockets are dead, and shared by every restored copy); the engine, and with it
    the statements it compiled, stays."""
    if engine.cache_info().currsize:
        engine().dispose(close=False)
    if read_engine.cache_info().currsize:
        read_engine().dispose(close=False)


def reset() -> None:
    """Dispose of the engine (tests and the local runner switch databases)."""
    if read_engine.cache_info().currsize:
        read_engine().dispose()
    read_engine.cache_clear()
    _read_sessionmaker.cache_clear()
    if engine.cache_info().currsize:
        engine().dispose()
    engine.cache_clear()
    _sessionmaker.cache_clear()


def affected(result: Any) -> int:
    """How many rows an UPDATE or DELETE matched (``CursorResult.rowcount``, which the
    ``Session.execute`` stubs do not expose)."""
    return int(result.rowcount)
