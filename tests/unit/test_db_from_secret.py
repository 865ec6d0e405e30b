"""In AWS the database and Redis URLs are built from Secrets Manager (moto), never read from
the environment; ``DATABASE_URL`` and ``REDIS_URL`` still win where they are set."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from shared.platform import aws, cache, db
from shared.platform.settings import reset_settings

PASSWORD = "p@ss:w/rd%"  # characters a URL must escape


def _reset() -> None:
    aws.reset()
    reset_settings()
    db.reset()
    cache.reset()


@pytest.fixture
def secrets(monkeypatch) -> Iterator[Any]:
    """A moto Secrets Manager, with clean settings, clients and engines around the test."""
    for name in ("DATABASE_URL", "REDIS_URL", "AWS_ENDPOINT_URL", "DATABASE_TLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        _reset()
        yield aws.client("secretsmanager")
        _reset()


@pytest.fixture
def database_secret(secrets, monkeypatch) -> str:
    arn: str = secrets.create_secret(
        Name="stratus/dev/database",
        SecretString=json.dumps(
            {"username": "stratus", "password": PASSWORD, "engine": "postgres", "port": 5432}
        ),
    )["ARN"]
    monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
    monkeypatch.setenv("DATABASE_HOST", "proxy.example.internal")
    monkeypatch.setenv("DATABASE_NAME", "stratus")
    return arn


def test_the_url_is_built_from_the_secret(database_secret):
    # When the database URL is asked for without DATABASE_URL
    url = db.database_url()
    # Then it names the proxy and the database, with the password escaped
    assert url == (
        "postgresql+pg8000://stratus:p%40ss%3Aw%2Frd%25@proxy.example.internal:5432/stratus"
    )
    # And the driver gets the password back exactly
    from sqlalchemy.engine import make_url

    assert make_url(url).password == PASSWORD
    # And TLS is on even though DATABASE_TLS is not set
    assert db.uses_tls() is True


def test_the_engine_connects_with_tls_and_the_current_credentials(database_secret, monkeypatch):
    # Given an engine made from the secret
    made: dict[str, Any] = {}
    import sqlalchemy

    real = sqlalchemy.create_engine

    def spy(url: str, **kwargs: Any) -> Any:
        made.update(url=url, **kwargs)
        return real(url, **kwargs)

    monkeypatch.setattr(sqlalchemy, "create_engine", spy)
    engine = db.engine()
    # Then the connection goes out over TLS with a verifying context
    context = made["connect_args"]["ssl_context"]
    assert context.verify_mode.name == "CERT_REQUIRED"
    assert engine.url.host == "proxy.example.internal"
    # And each new connection reads the credentials again (a rotated password is picked up)
    params: dict[str, Any] = {}
    engine.dialect.dispatch.do_connect(engine.dialect, None, [], params)
    assert params == {"user": "stratus", "password": PASSWORD}


def test_database_url_wins_when_set(database_secret, monkeypatch):
    # Given DATABASE_URL alongside the AWS variables
    monkeypatch.setenv("DATABASE_URL", "postgresql://local:secret@127.0.0.1:5432/app")
    reset_settings()
    # Then it is used as it is (with the pg8000 driver pinned), TLS off as before
    assert db.database_url() == "postgresql+pg8000://local:secret@127.0.0.1:5432/app"
    assert db.uses_tls() is False


def test_settings_without_a_way_to_connect_name_what_is_missing(secrets):
    from shared.platform.settings import Cache, Database

    with pytest.raises(ValueError, match="DATABASE_URL, or DATABASE_SECRET_ARN"):
        Database()
    with pytest.raises(ValueError, match="REDIS_URL, or REDIS_HOST"):
        Cache()


def test_the_redis_url_is_built_from_the_auth_token(secrets, monkeypatch):
    # Given the AUTH token in Secrets Manager and the primary endpoint in the environment
    arn = secrets.create_secret(Name="stratus/dev/redis-auth", SecretString="t0k/en@x")["ARN"]
    monkeypatch.setenv("REDIS_AUTH_SECRET_ARN", arn)
    monkeypatch.setenv("REDIS_HOST", "redis.example.internal")
    monkeypatch.setenv("REDIS_PORT", "6380")
    # Then the URL speaks TLS with the token as the password, escaped
    url = cache.redis_url()
    assert url == "rediss://:t0k%2Fen%40x@redis.example.internal:6380/0"
    # And redis-py reads the token back exactly, over TLS
    client = cache.redis()
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["password"] == "t0k/en@x"
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    # When REDIS_URL is set, it wins
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    _reset()
    assert cache.redis_url() == "redis://127.0.0.1:6379/0"
