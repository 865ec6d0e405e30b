"""Signing keys, from Secrets Manager.

The secret is a JSON object: ``{"current": "<kid>", "<kid>": "<secret>", "<older kid>": ...}``.
Tokens are signed with the current key and verified with any key present, so a key rotates
without logging anyone out: add a new kid, make it current, and remove the old kid once the
longest-lived access token signed with it has expired (15 minutes). Values are cached for
``SIGNING_KEYS_MAX_AGE`` seconds (Powertools parameters); an unknown kid forces one refetch at
most once a minute, so a flood of forged kids cannot hammer Secrets Manager.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shared.platform.settings import Signing, get_settings

_REFETCH_INTERVAL_SECONDS = 60.0
_lock = threading.Lock()
_last_forced = 0.0


@dataclass(frozen=True)
class KeySet:
    current_kid: str
    keys: dict[str, bytes]

    @property
    def current(self) -> bytes:
        return self.keys[self.current_kid]

    def cursor_key(self) -> bytes:
        """The pagination cursor key, derived from the current signing key."""
        return hmac.new(self.current, b"stratus/pagination-cursor", hashlib.sha256).digest()


def parse(secret: str) -> KeySet:
    """A key set from the secret's JSON; refuses a secret without a usable current key."""
    data = json.loads(secret)
    if not isinstance(data, dict) or not isinstance(data.get("current"), str):
        raise ValueError("signing keys secret: no 'current' kid")
    keys = {
        kid: value.encode()
        for kid, value in data.items()
        if kid != "current" and isinstance(value, str) and len(value) >= 32
    }
    if data["current"] not in keys:
        raise ValueError("signing keys secret: the current kid has no key of 32+ characters")
    return KeySet(current_kid=data["current"], keys=keys)


def new_secret(kid: str = "k1") -> str:
    """A fresh secret value (the local runner seeds Secrets Manager with it)."""
    value = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode()
    return json.dumps({"current": kid, kid: value})


def load(*, force: bool = False) -> KeySet:
    """The key set, cached for ``SIGNING_KEYS_MAX_AGE`` seconds."""
    from shared.platform import aws

    settings = get_settings(Signing)
    value = _provider(aws.client("secretsmanager")).get(
        settings.signing_keys_secret_arn,
        max_age=settings.signing_keys_max_age_seconds,
        force_fetch=force,
    )
    if not isinstance(value, str):
        raise ValueError("signing keys secret: expected a string value")
    return parse(value)


@lru_cache(maxsize=4)
def _provider(client: Any) -> Any:
    """One Powertools secrets provider (and its cache) per Secrets Manager client."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client)


def key_for(kid: str) -> bytes | None:
    """The key of ``kid``; refetches once (rate-limited) when the kid is unknown."""
    global _last_forced
    keyset = load()
    if kid in keyset.keys:
        return keyset.keys[kid]
    with _lock:
        if time.monotonic() - _last_forced < _REFETCH_INTERVAL_SECONDS:
            return None
        _last_forced = time.monotonic()
    return load(force=True).keys.get(kid)
