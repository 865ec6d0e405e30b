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
def client(service: str) -> Any:
    """A cached boto3 client for ``service``, honouring the endpoint override."""
    from botocore.config import Config

    settings = get_settings(Aws)
    # Bedrock embeddings retry with their own backoff and jitter (shared.embeddings); the
    # client must not multiply those attempts by its own.
    attempts = 1 if service == "bedrock-runtime" else 3
    config = Config(
        retries={"mode": "standard", "max_attempts": attempts},
        s3={"addressing_style": "path"} if settings.endpoint_url else {},
        signature_version="s3v4" if service == "s3" else None,
    )
    boto_session: Any = session()  # the stubs type each service; callers pick their own
    # No endpoint_url argument: botocore reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>
    # itself (the local runner sends S3 through its policy-checking proxy that way).
    return boto_session.client(service, config=config)


@lru_cache(maxsize=4)
def _secrets_provider(secretsmanager: Any) -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=secretsmanager)


def secret_string(secret_id: str, *, max_age: int) -> str:
    """The string value of the Secrets Manager secret ``secret_id``, cached for ``max_age``
    seconds (Powertools parameters), so a rotated secret is picked up without a redeploy."""
    value = _secrets_provider(client("secretsmanager")).get(secret_id, max_age=max_age)
    if not isinstance(value, str):
        raise ValueError(f"secret {secret_id}: expected a string value")
    return value


def reset() -> None:
    """Forget cached clients and settings (tests and the local runner change the environment)."""
    _secrets_provider.cache_clear()
    client.cache_clear()
    session.cache_clear()
    reset_settings()
