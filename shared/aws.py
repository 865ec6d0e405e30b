"""AWS clients: created lazily, once per execution environment, from one boto3 session.

``AWS_ENDPOINT_URL`` points every client at moto in the local runner and in tests; S3 then uses
path-style addresses so that presigned URLs work from any HTTP client on the machine.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from shared.settings import Aws, get_settings, reset_settings

if TYPE_CHECKING:
    import boto3


@lru_cache(maxsize=1)
def session() -> boto3.Session:
    """The one boto3 session of this execution environment."""
    import boto3

    return boto3.Session(region_name=get_settings(Aws).region)


@cache
def client(service: str) -> Any:
    """A cached boto3 client for ``service``, honouring the endpoint override."""
    from botocore.config import Config

    settings = get_settings(Aws)
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        s3={"addressing_style": "path"} if settings.endpoint_url else {},
        signature_version="s3v4" if service == "s3" else None,
    )
    boto_session: Any = session()  # the stubs type each service; callers pick their own
    return boto_session.client(service, endpoint_url=settings.endpoint_url, config=config)


def reset() -> None:
    """Forget cached clients and settings (tests and the local runner change the environment)."""
    client.cache_clear()
    session.cache_clear()
    reset_settings()
