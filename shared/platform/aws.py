"""AWS clients: created lazily, once per execution environment, from one boto3 session.

``AWS_ENDPOINT_URL`` points every client at moto in the local runner and in tests; S3 then uses
path-style addresses so that presigned URLs work from any HTTP client on the machine.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from shared.platform.settings import Aws, get_settings, reset_settings

if TYPE_CHECKING:
    import boto3


@lru_cache(maxsize=1)
def session() -> boto3.Session:
    """The one boto3 session of this execution environment."""
    import boto3

    return boto3.Session(region_name=get_settings(Aws).region)


@cache
def client(service: str, *, max_attempts: int = 3) -> Any:
    """A cached boto3 client for ``service``, honouring the endpoint override.

    Retries are botocore's ``standard`` mode: throttling, transient and modelled-retryable
    errors (Bedrock's ``ModelNotReadyException`` among them) are retried with exponential
    backoff and full jitter, ``max_attempts`` attempts in all; nothing here loops by hand."""
    from botocore.config import Config

    settings = get_settings(Aws)
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        s3={"addressing_style": "path"} if settings.endpoint_url else {},
        signature_version="s3v4" if service == "s3" else None,
    )
    boto_session: Any = session()  # the stubs type each service; callers pick their own
    # No endpoint_url argument: botocore reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>
    # itself (the local runner sends S3 through its policy-checking proxy that way).
    return boto_session.client(service, config=config)


def prime(services: list[str]) -> None:
    """Before a SnapStart snapshot: the session and the clients of ``services``, built (service
    models parsed, no request sent)."""
    for service in services:
        client(service)


def renew() -> None:
    """After a SnapStart restore: a new session (the old one's credentials may be stale and are
    shared by every restored copy) and new clients on first use. botocore's loader, which holds
    the parsed service models, moves to the new session, so the first client after a restore
    costs milliseconds, not the ~100 ms of parsing them again."""
    loader = None
    if session.cache_info().currsize:
        loader = session()._session.get_component("data_loader")
    client.cache_clear()
    session.cache_clear()
    if loader is not None:
        session()._session.register_component("data_loader", loader)


def reset() -> None:
    """Forget cached clients and settings (tests and the local runner change the environment)."""
    from shared.platform import secrets

    secrets.reset()
    client.cache_clear()
    session.cache_clear()
    reset_settings()
