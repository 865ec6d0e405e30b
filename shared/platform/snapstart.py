"""Lambda SnapStart: prime before the snapshot, renew after each restore.

With SnapStart, Lambda initialises a function once, when a version is published, snapshots the
memory of that execution environment, and starts every later execution environment by
restoring the snapshot. What initialisation did is then free for every cold start; what it
left behind is shared by every restored copy. So:

- **before the snapshot** (:func:`prime`) a function does all the work that depends neither on
  the caller nor on a connection: its settings validated, its handler instrumented (and the
  tracer created where tracing is on), the modules and clients its declared needs imply
  imported and built (the ORM's mappers configured, the boto3 clients made), the steps its
  handler adds (``Function.before_snapshot``: the embedding model loaded), and whatever its
  kind adds (an HTTP function builds its FastAPI app and Mangum adapter and serves one
  synthetic request that touches no store). Nothing here opens a connection.
- **after every restore** (:func:`renew`) it renews what must not be shared between restored
  copies: the database pool and the Redis client (their sockets are dead, and would be shared
  by every copy), cached secrets and AWS credentials (a new boto3 session and new clients,
  which keep botocore's already parsed service models), and random state.

:func:`register` hands both to the runtime's hooks (``snapshot_restore_py``, which the managed
runtime ships; the layer does not). ``shared.platform.declare.Function`` calls it for every
function whose declaration says ``snap_start``, so a new function gets it for free. Outside
Lambda nothing is registered; the tests and ``make bench`` call :func:`prime` and :func:`renew`
themselves, around a fork that stands in for a restore.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import Protocol

from shared.platform.observability import logger

#: What a kind of need makes a function call in AWS: the boto3 clients worth building before
#: the snapshot. (The database and the cache read their credentials from Secrets Manager in AWS.)
AWS_SERVICES: dict[str, tuple[str, ...]] = {
    "bucket": ("s3",),
    "queue": ("sqs",),
    "secret": ("secretsmanager",),
    "email": ("ses",),
}


class Primable(Protocol):
    """A function declaration: ``shared.platform.declare.Function``."""

    def prime(self) -> None: ...


def in_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_RUNTIME_API"))


def register(function: Primable) -> bool:
    """Register ``function``'s priming and the renewal as the runtime hooks of this execution
    environment; False (and nothing registered) outside Lambda, or where the hooks module is
    missing (a runtime without SnapStart support)."""
    if not in_lambda():
        return False
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:  # pragma: no cover - every SnapStart runtime ships it
        return False
    register_before_snapshot(function.prime)
    register_after_restore(renew)
    return True


def aws_services(need_kinds: Iterable[str], environ: dict[str, str] | None = None) -> list[str]:
    """The AWS services a function with these needs calls, in a stable order."""
    env = os.environ if environ is None else environ
    kinds = set(need_kinds)
    services = {s for kind in kinds for s in AWS_SERVICES.get(kind, ())}
    if "database" in kinds and env.get("DATABASE_SECRET_ARN"):
        services.add("secretsmanager")
    if "cache" in kinds and env.get("REDIS_AUTH_SECRET_ARN"):
        services.add("secretsmanager")
    if "embeddings" in kinds and env.get("EMBEDDER") == "bedrock":
        services.add("bedrock-runtime")
    return sorted(services)


def prime_needs(need_kinds: Iterable[str]) -> None:
    """Import and build, without connecting, what the declared needs imply."""
    from shared.platform import aws

    kinds = set(need_kinds)
    if "database" in kinds:
        from shared.platform import db

        db.prime()
    if "cache" in kinds:
        from shared.platform import cache

        cache.prime()
    services = aws_services(kinds)
    if services:
        aws.prime(services)
    if "secretsmanager" in services:
        from shared.platform import secrets

        secrets.prime()


def prime(steps: Iterable[Callable[[], object]]) -> None:
    """Run priming ``steps``; one that fails is logged and skipped: priming only saves time,
    it must never keep a version from being published."""
    for step in steps:
        try:
            step()
        except Exception:
            logger.warning("SnapStart priming step failed", extra={"step": repr(step)})


def renew() -> None:
    """After a restore: what no two restored copies may share. Idempotent."""
    reseed()
    from shared.platform import aws, cache, db, secrets

    secrets.reset()
    aws.renew()
    db.renew()
    cache.renew()


def reseed() -> None:
    """New random state from the OS: the snapshot holds one that every copy would replay
    (``random``'s Mersenne Twister, the temporary file names, numpy's global generator)."""
    random.seed()
    tempfile._name_sequence = None  # type: ignore[attr-defined]
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
