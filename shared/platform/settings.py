"""Settings: pydantic models of the environment, composed from mixins and parsed once.

A function declares the settings class it needs (for example
``class IngestSettings(Observability, Database, Queues)``); its handler validates them on entry
through :func:`get_settings`, so a misconfigured function fails loudly on its first invocation
instead of half-way through a request.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TypeVar, cast

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound="Settings")


class Settings(BaseSettings):
    """Base of every settings mixin: read from the environment, immutable, extra keys ignored."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Observability(Settings):
    """What every function needs: its stage, version and service name."""

    stage: str = Field(default="local", alias="STAGE")
    version: str = Field(default="0.1.0", alias="APP_VERSION")
    service: str = Field(default="stratus", alias="POWERTOOLS_SERVICE_NAME")


class Database(Settings):
    """The Postgres database (SQLite is accepted for the local runner's embedded default).

    Either ``DATABASE_URL`` (the local runner, tests), or, in AWS, the RDS Proxy's host, the
    database name and the ARN of the secret holding the credentials (``shared.platform.db`` builds
    the URL; the password never sits in the environment)."""

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    database_secret_arn: str | None = Field(default=None, alias="DATABASE_SECRET_ARN")
    database_host: str | None = Field(default=None, alias="DATABASE_HOST")
    database_name: str | None = Field(default=None, alias="DATABASE_NAME")
    database_port: int = Field(default=5432, alias="DATABASE_PORT")
    database_secret_max_age_seconds: int = Field(default=300, ge=0, alias="DATABASE_SECRET_MAX_AGE")
    database_pool_size: int = Field(default=1, ge=1, le=20, alias="DATABASE_POOL_SIZE")
    database_tls: bool = Field(default=False, alias="DATABASE_TLS")

    @model_validator(mode="after")
    def _one_way_to_connect(self) -> Database:
        if self.database_url is None and not (
            self.database_secret_arn and self.database_host and self.database_name
        ):
            raise ValueError(
                "set DATABASE_URL, or DATABASE_SECRET_ARN, DATABASE_HOST and DATABASE_NAME"
            )
        return self


class Cache(Settings):
    """Redis (ElastiCache in AWS): ``REDIS_URL``, or in AWS the primary endpoint and the ARN of
    the secret holding the AUTH token (``shared.platform.cache`` builds a ``rediss://`` URL)."""

    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    redis_host: str | None = Field(default=None, alias="REDIS_HOST")
    redis_port: int = Field(default=6379, alias="REDIS_PORT")
    redis_auth_secret_arn: str | None = Field(default=None, alias="REDIS_AUTH_SECRET_ARN")
    redis_secret_max_age_seconds: int = Field(default=300, ge=0, alias="REDIS_SECRET_MAX_AGE")

    @model_validator(mode="after")
    def _one_way_to_connect(self) -> Cache:
        if self.redis_url is None and not (self.redis_host and self.redis_auth_secret_arn):
            raise ValueError("set REDIS_URL, or REDIS_HOST and REDIS_AUTH_SECRET_ARN")
        return self


class Aws(Settings):
    """AWS region and, for the local runner and tests, an endpoint override (moto)."""

    region: str = Field(default="us-east-1", alias="AWS_REGION")
    endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")


class Signing(Aws):
    """Where the signing keys live (Secrets Manager), and how access tokens are shaped."""

    signing_keys_secret_arn: str = Field(alias="SIGNING_KEYS_SECRET_ARN")
    signing_keys_max_age_seconds: int = Field(default=300, ge=0, alias="SIGNING_KEYS_MAX_AGE")
    access_token_ttl_seconds: int = Field(default=900, ge=60, alias="ACCESS_TOKEN_TTL_SECONDS")
    refresh_token_ttl_seconds: int = Field(
        default=30 * 24 * 3600, ge=3600, alias="REFRESH_TOKEN_TTL_SECONDS"
    )
    token_issuer: str = Field(default="stratus", alias="TOKEN_ISSUER")
    token_audience: str = Field(default="stratus-api", alias="TOKEN_AUDIENCE")


class Limits(Settings):
    """Product limits that the contract lets operators tune."""

    rate_limit_per_minute: int = Field(default=120, ge=1, alias="RATE_LIMIT_PER_MINUTE")
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1, alias="MAX_UPLOAD_BYTES")


#: An origin as a browser serializes it: lowercase scheme and host, a port only when it is not
#: the scheme's default, nothing after it (``Access-Control-Allow-Origin`` is compared verbatim).
_ORIGIN = (
    r"(?P<scheme>https?)://"
    r"(?P<host>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>[1-9][0-9]{0,4}))?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Cors(Settings):
    """The browser frontend's origin, e.g. ``https://app.example.com``. Every HTTP function's
    response then carries ``Access-Control-Allow-Origin`` for it (``shared.platform.http``); unset
    or empty, no CORS header at all."""

    frontend_origin: str | None = Field(default=None, alias="FRONTEND_ORIGIN")

    @field_validator("frontend_origin")
    @classmethod
    def _frontend_origin(cls, value: str | None) -> str | None:
        if not value:
            return None
        found = re.fullmatch(_ORIGIN, value)
        port = int(found["port"]) if found and found["port"] else None
        if found is None or (port is not None and port > 65535):
            raise ValueError(
                f"{value!r} is not an origin: scheme, host and optional port only, lowercase,"
                " with no path, not even a trailing slash (https://app.example.com)"
            )
        if port == _DEFAULT_PORTS[found["scheme"]]:
            raise ValueError(
                f"{value!r}: leave out the default port, browsers send the origin without it"
            )
        return value


@cache
def _parse(cls: type[Settings]) -> Settings:
    return cls()


def get_settings(cls: type[S]) -> S:
    """Parse ``cls`` from the environment once per execution environment."""
    return cast(S, _parse(cls))


def reset_settings() -> None:
    """Forget parsed settings (tests and the local runner change the environment)."""
    _parse.cache_clear()


class ApiSettings(Observability, Database, Cache, Limits):
    """An API function that reads and writes the database: Postgres, Redis, the limits."""


class TokenSettings(ApiSettings, Signing):
    """An API function that signs tokens or pagination cursors: also the signing keys."""


class AuthorizerSettings(Observability, Signing, Cache, Database):
    """The authorizer: the signing keys, Redis and (on a cache miss) Postgres."""


class Storage(Aws):
    """The uploads bucket."""

    uploads_bucket: str = Field(alias="UPLOADS_BUCKET")
    upload_url_ttl_seconds: int = Field(default=600, ge=60, le=3600, alias="UPLOAD_URL_TTL")
    download_url_ttl_seconds: int = Field(default=300, ge=60, le=3600, alias="DOWNLOAD_URL_TTL")


class DocumentSettings(ApiSettings, Storage):
    """The Data service's functions that touch files: the API's needs plus the bucket."""


class IngestSettings(Observability, Database, Storage):
    """The ingest worker: Postgres and the uploads bucket (vectors and embeddings configure
    themselves: ``shared.vectors``, ``shared.embeddings``)."""


class DeploySettings(Observability, Database, Aws):
    """The deploy job: the database, and the secret naming the first admin."""

    admin_secret_arn: str = Field(alias="ADMIN_SECRET_ARN")


class Email(Aws):
    """Who notification emails come from (a verified SES identity)."""

    email_sender: str = Field(default="no-reply@stratus.example", alias="EMAIL_SENDER")
    app_url: str = Field(default="http://127.0.0.1:3000", alias="APP_URL")
