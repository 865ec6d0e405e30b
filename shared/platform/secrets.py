"""Secrets Manager, read through one cache per execution environment (Powertools parameters).

Every secret the system reads goes through :func:`get`: database credentials, the Redis AUTH
token, the token signing keys, the cursor keys, the admin bootstrap. A value is reused for its
``max_age`` seconds, so a rotated secret is picked up without a redeploy, and ``force`` refetches
at once (an unknown key id, a credential that stopped working).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from shared.platform import aws


@lru_cache(maxsize=4)
def _provider(secretsmanager: Any) -> Any:
    """One Powertools secrets provider (and so one cache) per Secrets Manager client."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=secretsmanager)


def get(secret_id: str, *, max_age: int, force: bool = False) -> str:
    """The string value of the secret ``secret_id``, cached for ``max_age`` seconds."""
    value = _provider(aws.client("secretsmanager")).get(
        secret_id, max_age=max_age, force_fetch=force
    )
    if not isinstance(value, str):
        raise ValueError(f"secret {secret_id}: expected a string value")
    return value


def prime() -> None:
    """Before a SnapStart snapshot: the provider (Powertools' parameters utility) built."""
    _provider(aws.client("secretsmanager"))


def reset() -> None:
    """Forget every cached value (tests, the local runner, and a SnapStart restore)."""
    _provider.cache_clear()
