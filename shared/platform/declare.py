"""Declarations: what a function is, written once next to its handler.

A function's trigger (a route, a queue, a schedule, or the authorizer), the access it needs and
its settings are declared here. ``functions/registry.py`` finds every declaration; the CDK app,
the local runner, the OpenAPI document and the sample events in ``events/`` are derived from it.
This module is imported by every handler, so it stays free of heavy imports.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.platform import snapstart
from shared.platform.identity import Role
from shared.platform.observability import get_tracer, logger, metrics
from shared.platform.settings import (
    Aws,
    Cache,
    Database,
    Email,
    EmbeddingSettings,
    Observability,
    Settings,
    SettingsError,
    VectorSettings,
    env_name,
    get_settings,
)

# ---- resources and the access a function needs -------------------------------------------


@dataclass(frozen=True)
class Access:
    """One grant: ``kind`` of resource, its declared ``name`` and the ``level`` of access."""

    kind: Literal[
        "database", "cache", "bucket", "queue", "secret", "email", "vectors", "embeddings"
    ]
    name: str = ""
    level: Literal["read", "write", "read_write", "send"] = "read"

    @property
    def env(self) -> str | None:
        """The environment variable that carries this resource's address, if it has one."""
        return env_name(self.kind, self.name)

    @property
    def aws_env(self) -> tuple[str, ...]:
        """The environment variables the CDK app sets for this resource. Mostly :attr:`env`;
        for the database and the cache, whose credentials must not sit in the environment,
        their address and the ARN of the secret holding the credentials instead of a URL."""
        if self.kind in AWS_ENV_NAMES:
            return AWS_ENV_NAMES[self.kind]
        return (self.env,) if self.env else ()


#: What the CDK app sets: instead of ``DATABASE_URL`` and ``REDIS_URL``
#: (``shared.platform.settings`` builds the URL from them, reading the credentials from Secrets
#: Manager); for the services the local runner replaces with defaults (the pgvector store on
#: its embedded PostgreSQL, the static embedder, moto's SES), where they are.
AWS_ENV_NAMES: dict[str, tuple[str, ...]] = {
    "database": ("DATABASE_SECRET_ARN", "DATABASE_HOST", "DATABASE_NAME", "DATABASE_TLS"),
    "cache": ("REDIS_HOST", "REDIS_PORT", "REDIS_AUTH_SECRET_ARN"),
    "vectors": ("VECTOR_STORE", "OPENSEARCH_ENDPOINT", "OPENSEARCH_SERVICE"),
    "embeddings": ("EMBEDDER", "BEDROCK_MODEL_ID"),
    "email": ("EMAIL_SENDER",),
}

DATABASE = Access("database")
CACHE = Access("cache")
EMAIL = Access("email", level="send")
VECTORS = Access("vectors", level="read_write")
EMBEDDINGS = Access("embeddings")


def bucket(name: str, level: Literal["read", "write", "read_write"] = "read") -> Access:
    """Access to the declared bucket ``name``."""
    return Access("bucket", name, level)


def queue(name: str) -> Access:
    """Permission to send to the queue of the worker declared with ``queue=name``."""
    return Access("queue", name, "send")


def secret(name: str) -> Access:
    """Read access to the declared secret ``name``."""
    return Access("secret", name, "read")


@dataclass(frozen=True)
class Bucket:
    """An S3 bucket the system owns (declared in ``functions/resources.py``)."""

    name: str


@dataclass(frozen=True)
class Secret:
    """A Secrets Manager secret the system owns.

    ``local_value`` seeds it in the local runner. In AWS the secret is created as the JSON object
    ``template`` with ``generate_key`` set to a generated random string (64 letters and digits),
    so it is usable from the first deploy and its value never passes through a template or a
    terminal; ``context`` names, for a template key, the CDK context value (``-c key=value``) that
    fills it in.
    """

    name: str
    description: str
    local_value: Callable[[], str] | None = None
    template: tuple[tuple[str, str], ...] = ()
    generate_key: str | None = None
    context: tuple[tuple[str, str], ...] = ()


# ---- triggers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """An API Gateway route: method, path template, authentication and the roles let in."""

    method: str
    path: str
    auth: bool = True
    roles: tuple[Role, ...] = ()
    status_code: int = 200

    @property
    def path_regex(self) -> re.Pattern[str]:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        return re.compile(f"^{pattern}$")

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


@dataclass(frozen=True)
class QueueTrigger:
    """An SQS queue (with its dead-letter queue) that feeds a worker."""

    queue: str
    batch_size: int = 10
    max_receive_count: int = 5
    visibility_timeout_seconds: int | None = None  # default: six times the function timeout
    max_concurrency: int = 2
    s3_bucket: str | None = None  # ObjectCreated notifications of this bucket feed the queue
    s3_prefix: str = ""
    #: A FIFO queue: SQS drops a second message with the same deduplication id within five
    #: minutes (``shared.platform.queues.send_json``); no per-message delays.
    fifo: bool = False


@dataclass(frozen=True)
class ScheduleTrigger:
    """An EventBridge schedule: ``rate(...)`` or ``cron(...)``."""

    expression: str


@dataclass(frozen=True)
class DeployTrigger:
    """Run once on every deploy that changes the function, before the API takes traffic (a CDK
    trigger in AWS; the local runner runs it when it starts). A failure fails the deploy."""


@dataclass(frozen=True)
class AuthorizerTrigger:
    """The API Gateway Lambda authorizer (TOKEN type, on the ``Authorization`` header)."""

    identity_header: str = "Authorization"
    result_ttl_seconds: int = 0


Trigger = Route | QueueTrigger | ScheduleTrigger | DeployTrigger | AuthorizerTrigger


# ---- the function declaration ----------------------------------------------------------------


@dataclass
class Function:
    """A Lambda function: its trigger, what it may touch, its settings and its sizing.

    Subclasses (``HttpFunction``, ``QueueWorker``, ``ScheduledJob``, ``DeployJob``,
    ``AuthorizerFunction``)
    supply :meth:`invoke`; :attr:`handler` is the Lambda entry point.
    """

    trigger: Trigger
    needs: tuple[Access, ...] = ()
    settings: type[Settings] = Observability
    timeout_seconds: int = 10
    memory_mb: int = 512
    description: str = ""
    _instrumented: Callable[..., Any] | None = field(default=None, init=False, repr=False)
    _snapshot_steps: list[Callable[[], object]] = field(
        default_factory=list, init=False, repr=False
    )

    @property
    def need_kinds(self) -> frozenset[str]:
        """The kinds of resource this function needs (``"database"``, ``"email"``, ...)."""
        return frozenset(access.kind for access in self.needs)

    @property
    def kind(self) -> str:
        return {
            Route: "http",
            QueueTrigger: "queue",
            ScheduleTrigger: "schedule",
            DeployTrigger: "deploy",
            AuthorizerTrigger: "authorizer",
        }[type(self.trigger)]

    @property
    def snap_start(self) -> bool:
        """Whether the function runs with Lambda SnapStart: every kind invoked again and again
        (routes, the authorizer, workers, schedules), not the deploy job, which runs once per
        deploy and would only pay for a snapshot. The CDK app publishes such a function's
        versions behind the ``live`` alias, and ``shared.platform.snapstart`` primes it."""
        return self.kind != "deploy"

    @property
    def traced_modules(self) -> tuple[str, ...]:
        """The libraries X-Ray patches in this function (Powertools ``patch_modules``): the
        database driver and the AWS SDK when its needs use them, nothing else."""
        kinds = self.need_kinds
        modules = []
        if "database" in kinds:
            modules.append("pg8000")
        if snapstart.aws_services(kinds) or kinds & {"vectors", "embeddings"}:
            modules.append("botocore")
        if "vectors" in kinds:
            modules.append("httplib")  # the OpenSearch client's HTTP requests
        # Redis: no aws-xray-sdk patcher; shared.platform.cache traces each command itself.
        return tuple(modules)

    def __post_init__(self) -> None:
        # In Lambda a misconfigured function must fail its initialisation, before it serves
        # anything; elsewhere (the CDK app, tests, the registry) only on its first invocation.
        if os.environ.get("AWS_LAMBDA_RUNTIME_API") or os.environ.get("STRATUS_VALIDATE_AT_INIT"):
            self.validate()
        if self.snap_start:
            snapstart.register(self)  # in Lambda only: the runtime's SnapStart hooks

    def validate(self) -> None:
        """Check that the environment configures everything this function declares: its own
        settings, the settings each need implies, and the address of each named resource.
        Raises :class:`~shared.platform.settings.SettingsError` naming what is missing."""
        for settings in (self.settings, *self._need_settings()):
            get_settings(settings)
        missing = [
            f"{access.kind} {access.name!r} ({access.env})"
            for access in self.needs
            if access.env and access.kind in NAMED_KINDS and not os.environ.get(access.env)
        ]
        if missing:
            raise SettingsError(
                "no address for declared resources: "
                + ", ".join(missing)
                + ": the deployment (or the local runner) must set them"
            )

    def _need_settings(self) -> list[type[Settings]]:
        return list(dict.fromkeys(NEED_SETTINGS[kind] for kind in sorted(self.need_kinds)))

    def invoke(self, event: dict[str, Any], context: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def prepared(self) -> Callable[..., Any]:
        """The instrumented :meth:`invoke`, made once, after the settings were validated."""
        if self._instrumented is None:
            self.validate()
            self._instrumented = instrument(self.invoke, self.traced_modules)
        return self._instrumented

    def handler(self, event: dict[str, Any], context: Any) -> Any:
        """The Lambda entry point: settings validated, then the instrumented :meth:`invoke`."""
        return self.prepared()(event, context)

    def before_snapshot(self, step: Callable[[], object]) -> Callable[[], object]:
        """Add a priming step of the function's own, run by :meth:`prime` after the platform's:
        work of its domain that depends neither on the caller nor on a connection (a model to
        load). Returns ``step``, so it also works as a decorator."""
        self._snapshot_steps.append(step)
        return step

    def prime(self) -> None:
        """Before a SnapStart snapshot (``shared.platform.snapstart``): everything that depends
        neither on the caller nor on a connection. Subclasses add their transport's own."""
        snapstart.prime(
            [
                self.prepared,
                lambda: snapstart.prime_needs(self.need_kinds),
                *self._snapshot_steps,
            ]
        )


#: The settings each kind of need implies; checked with the function's own (``validate``).
NEED_SETTINGS: dict[str, type[Settings]] = {
    "database": Database,
    "cache": Cache,
    "vectors": VectorSettings,
    "embeddings": EmbeddingSettings,
    "email": Email,
    "bucket": Aws,
    "queue": Aws,
    "secret": Aws,
}
#: Needs that name one declared resource, whose address is an environment variable.
NAMED_KINDS = frozenset({"bucket", "queue", "secret"})


def instrument(fn: Callable[..., Any], traced: tuple[str, ...] = ()) -> Callable[..., Any]:
    """The one decorator order of every handler: logger context, metrics, then the tracer
    (patching the ``traced`` libraries)."""
    inner = fn
    tracer = get_tracer(traced)
    if tracer is not None:
        inner = tracer.capture_lambda_handler(inner)
    # Powertools emits the cold-start metric even with metrics disabled (the local runner)
    cold_start_metric = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() != "true"
    inner = metrics.log_metrics(inner, capture_cold_start_metric=cold_start_metric)
    inner = logger.inject_lambda_context(inner, clear_state=True)
    return functools.wraps(fn)(inner)
