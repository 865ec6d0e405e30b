"""Settings: pydantic models of the environment, composed from mixins and parsed once.

A function declares the settings class it needs (for example
``class IngestSettings(Observability, Database, Storage)``); the settings its needs imply
(``Database`` for ``DATABASE``, ``VectorSettings`` for ``VECTORS``, ...) are checked with them
(``shared.platform.declare.Function.validate``): in Lambda when the function is initialised,
elsewhere on its first invocation. A misconfigured function stops loudly before it serves
anything, with a message naming the setting and never echoing a value.

Local implementations (the lexical embedder, the example sender) are defaults in the local
stage only: in a deployed stage (``STAGE`` other than ``local``) such a
setting must be given, and a local-only value is refused.
"""

from __future__ import annotations

import os
import re
from functools import cache
from typing import Any, Literal, Self, TypeVar, cast
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound="Settings")


class Settings(BaseSettings):
    """Base of every settings mixin: read from the environment, immutable, extra keys ignored."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)


LOCAL_STAGE = "local"


class SettingsError(ValueError):
    """The environment does not configure what a function needs; the message names every bad
    setting and why, never a value (a URL may carry a password)."""


class Staged(Settings):
    """The stage a function runs in: ``local`` (the runner, tests) or a deployed one."""

    stage: str = Field(default=LOCAL_STAGE, min_length=1, max_length=32, alias="STAGE")

    @property
    def deployed(self) -> bool:
        return self.stage != LOCAL_STAGE

    @model_validator(mode="after")
    def _stage_given_in_lambda(self) -> Self:
        if "stage" not in self.model_fields_set and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            raise ValueError("STAGE is not set: a function in Lambda must say its stage")
        return self

    def _local_default(self, field: str, value: Any, *, default: Any, local_only: set[Any]) -> None:
        """Resolve ``field``: the local ``default`` when unset in the local stage; refused when
        unset, or set to a local-only value, in a deployed stage."""
        alias = type(self).model_fields[field].alias or field.upper()
        if value is None:
            if self.deployed:
                raise ValueError(f"{alias} is not set: stage {self.stage!r} must choose one")
            object.__setattr__(self, field, default)  # frozen model: resolved once, here
        elif self.deployed and value in local_only:
            raise ValueError(
                f"{alias}={value} is a local implementation, refused in stage {self.stage!r}"
            )


class Observability(Staged):
    """What every function needs: its stage, version and service name."""

    version: str = Field(default="0.1.0", alias="APP_VERSION")
    service: str = Field(default="stratus", alias="POWERTOOLS_SERVICE_NAME")


_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+")


class Database(Staged):
    """The Postgres database.

    Either ``DATABASE_URL`` (the local runner, tests), or, in AWS, the RDS Proxy's host, the
    database name and the ARN of the secret holding the credentials (``shared.platform.db`` builds
    the URL; the password never sits in the environment)."""

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    database_secret_arn: str | None = Field(default=None, alias="DATABASE_SECRET_ARN")
    database_host: str | None = Field(default=None, alias="DATABASE_HOST")
    #: The read replica, for the reads that tolerate lag (``shared.platform.db.read_scope``):
    #: a URL (tests), or in AWS its host (the primary's credentials); unset: the primary.
    database_read_url: str | None = Field(default=None, alias="DATABASE_READ_URL")
    database_read_host: str | None = Field(default=None, alias="DATABASE_READ_HOST")
    database_name: str | None = Field(default=None, alias="DATABASE_NAME")
    database_port: int = Field(default=5432, alias="DATABASE_PORT")
    database_secret_max_age_seconds: int = Field(default=300, ge=0, alias="DATABASE_SECRET_MAX_AGE")
    database_pool_size: int = Field(default=1, ge=1, le=20, alias="DATABASE_POOL_SIZE")
    database_tls: bool = Field(default=False, alias="DATABASE_TLS")
    #: A pooled connection idle this long is pinged before use (``shared.platform.db``).
    database_ping_after_idle_seconds: float = Field(
        default=30, ge=0, alias="DATABASE_PING_AFTER_IDLE"
    )

    @model_validator(mode="after")
    def _one_way_to_connect(self) -> Database:
        if self.database_url is None and not (
            self.database_secret_arn and self.database_host and self.database_name
        ):
            raise ValueError(
                "set DATABASE_URL, or DATABASE_SECRET_ARN, DATABASE_HOST and DATABASE_NAME"
            )
        if self.database_url is not None and not self.database_url.startswith(_POSTGRES_SCHEMES):
            raise ValueError("DATABASE_URL must be a PostgreSQL URL (postgresql://...)")
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


class Cursors(Aws):
    """Where the pagination cursor keys live (their own secret: a listing reads no token key)."""

    cursor_keys_secret_arn: str = Field(alias="CURSOR_KEYS_SECRET_ARN")
    cursor_keys_max_age_seconds: int = Field(default=300, ge=0, alias="CURSOR_KEYS_MAX_AGE")


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


def env_name(kind: str, name: str) -> str | None:
    """Environment variable naming, the one convention shared by CDK and the local runner."""
    key = re.sub(r"[^A-Za-z0-9]", "_", name).upper()
    return {
        "bucket": f"{key}_BUCKET",
        "queue": f"{key}_QUEUE_URL",
        "secret": f"{key}_SECRET_ARN",
        "database": "DATABASE_URL",
        "cache": "REDIS_URL",
    }.get(kind)


@cache
def _parse(cls: type[Settings]) -> Settings:
    try:
        return cls()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        )
        raise SettingsError(f"{cls.__name__}: {problems}") from None


def get_settings(cls: type[S]) -> S:
    """Parse ``cls`` from the environment once per execution environment."""
    return cast(S, _parse(cls))


def reset_settings() -> None:
    """Forget parsed settings (tests and the local runner change the environment)."""
    _parse.cache_clear()


class ApiSettings(Observability, Database, Cache, Limits):
    """An API function that reads and writes the database: Postgres, Redis, the limits."""


class TokenSettings(ApiSettings, Signing):
    """An API function that signs access tokens: also the signing keys."""


class ListSettings(ApiSettings, Cursors):
    """An API function that lists a page at a time: also the cursor keys."""


class RevocationCache(Settings):
    """How long the authorizer may trust a revocation state cached in Redis before it reads
    Postgres again (``docs/auth.md``): the bound on how stale a cached "not revoked" can be."""

    revocation_cache_seconds: float = Field(
        default=5.0, ge=0, le=60, alias="REVOCATION_CACHE_SECONDS"
    )


class AuthorizerSettings(Observability, Signing, Cache, Database, RevocationCache):
    """The authorizer: the signing keys, Redis (the revocation cache) and Postgres (the
    revocation state itself)."""


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


class Email(Aws, Staged):
    """Who notification emails come from (a verified SES identity), and the web app they link
    to. Both have local defaults only."""

    email_sender: str | None = Field(default=None, min_length=3, alias="EMAIL_SENDER")
    app_url: str | None = Field(default=None, alias="APP_URL")

    @model_validator(mode="after")
    def _deployed_needs_both(self) -> Self:
        self._local_default(
            "email_sender", self.email_sender, default="no-reply@stratus.example", local_only=set()
        )
        self._local_default("app_url", self.app_url, default=LOCAL_APP_URL, local_only=set())
        return self


LOCAL_APP_URL = "http://127.0.0.1:3000"


# ---- vectors and embeddings ----------------------------------------------------------------

TITAN_V2_MODEL_ID = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = (256, 512, 1024)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class VectorSettings(Staged):
    """Which vector store (``shared.vectors``), and where OpenSearch is (the region comes from
    ``AWS_REGION``). pgvector is the local default; a deployed stage names its own (pgvector on
    the RDS database, or OpenSearch)."""

    vector_store: Literal["pgvector", "opensearch"] | None = Field(
        default=None, alias="VECTOR_STORE"
    )
    opensearch_endpoint: str | None = Field(default=None, alias="OPENSEARCH_ENDPOINT")
    opensearch_index: str = Field(
        default="stratus-chunks", min_length=1, max_length=255, alias="OPENSEARCH_INDEX"
    )
    opensearch_service: Literal["aoss", "es"] = Field(default="aoss", alias="OPENSEARCH_SERVICE")
    embedding_dimensions: int = Field(default=256, ge=1, le=16_000, alias="EMBEDDING_DIMENSIONS")

    @field_validator("opensearch_endpoint")
    @classmethod
    def _https_endpoint(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise ValueError("OPENSEARCH_ENDPOINT must be a bare URL: https://<host>[:port]")
        # TLS always; plain HTTP only to loopback, where the tests run a stand-in server.
        if parts.scheme != "https" and not (
            parts.scheme == "http" and _is_loopback(parts.hostname)
        ):
            raise ValueError("OPENSEARCH_ENDPOINT must be an https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _store_chosen(self) -> Self:
        self._local_default("vector_store", self.vector_store, default="pgvector", local_only=set())
        if self.vector_store == "opensearch" and not self.opensearch_endpoint:
            raise ValueError("VECTOR_STORE=opensearch needs OPENSEARCH_ENDPOINT")
        if self.vector_store == "pgvector" and self.embedding_dimensions != PGVECTOR_DIMENSIONS:
            raise ValueError(
                f"VECTOR_STORE=pgvector holds vectors of {PGVECTOR_DIMENSIONS} dimensions"
                f" (migration 0006), not EMBEDDING_DIMENSIONS={self.embedding_dimensions}"
            )
        return self


#: The pgvector table's column is ``vector(256)`` (shared/vectors/models.py).
PGVECTOR_DIMENSIONS = 256
#: The static model's Matryoshka dimensions (its first 64 or 128 components are a smaller model).
STATIC_DIMENSIONS = (64, 128, 256)
#: ``SEARCH_MIN_SCORE`` when unset: results scoring lower are not returned. Chosen on the labelled
#: set (docs/vectors.md): 0.10 keeps 98 % of the static and the lexical embedders' correct
#: top-5 hits. Bedrock's has not been measured (it cannot run here): no floor but 0.
DEFAULT_MIN_SCORE = {"static": 0.10, "local": 0.10, "bedrock": 0.0}


class EmbeddingSettings(Staged):
    """Which embedder (``shared.embeddings``), how it is shaped, and the lowest score a search
    result may have. The static model is the local default and a choice in AWS; the lexical
    ``local`` embedder is local only; a deployed stage names its own."""

    embedder: Literal["static", "local", "bedrock"] | None = Field(default=None, alias="EMBEDDER")
    search_min_score: float | None = Field(default=None, ge=-1.0, le=1.0, alias="SEARCH_MIN_SCORE")
    embedding_dimensions: int = Field(default=256, ge=16, le=4096, alias="EMBEDDING_DIMENSIONS")
    bedrock_model_id: str = Field(default=TITAN_V2_MODEL_ID, min_length=1, alias="BEDROCK_MODEL_ID")
    embedding_batch_size: int = Field(default=16, ge=1, le=128, alias="EMBEDDING_BATCH_SIZE")
    embedding_max_attempts: int = Field(default=5, ge=1, le=20, alias="EMBEDDING_MAX_ATTEMPTS")

    @model_validator(mode="after")
    def _embedder_chosen(self) -> Self:
        self._local_default("embedder", self.embedder, default="static", local_only={"local"})
        if self.search_min_score is None:
            object.__setattr__(self, "search_min_score", DEFAULT_MIN_SCORE[str(self.embedder)])
        if self.embedder == "static" and self.embedding_dimensions not in STATIC_DIMENSIONS:
            raise ValueError(
                f"EMBEDDING_DIMENSIONS must be one of {STATIC_DIMENSIONS} with the static model,"
                f" not {self.embedding_dimensions}"
            )
        if self.embedder == "bedrock" and self.embedding_dimensions not in TITAN_V2_DIMENSIONS:
            raise ValueError(
                f"EMBEDDING_DIMENSIONS must be one of {TITAN_V2_DIMENSIONS} with Bedrock, "
                f"not {self.embedding_dimensions}"
            )
        return self
