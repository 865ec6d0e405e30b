"""Signing secrets, encrypted at rest: XChaCha20-Poly1305 (libsodium, through PyNaCl) under a
key of the ``webhook-keys`` ring.

The ring lives in Secrets Manager (``shared.platform.keyring``; in AWS the secret is encrypted
by KMS, and only the functions that register, rotate or sign read it). A stored value is
``<kid>:<base64(nonce | ciphertext)>``, bound to its endpoint by the associated data, so a
ciphertext copied to another row does not decrypt. Rotating the ring (a new current kid) keeps
old values readable; nothing here ever logs a secret.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets as _random
import uuid

from shared.platform.keyring import KeySource, ring
from shared.platform.settings import get_settings
from shared.webhooks.config import WebhookKeys

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, no secret


def keys() -> KeySource:
    settings = get_settings(WebhookKeys)
    return ring(
        settings.webhook_keys_secret_arn,
        max_age=settings.webhook_keys_max_age_seconds,
        what="webhook keys secret",
    )


def new_secret() -> str:
    """A fresh Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(32)).decode()


def _key(ring_key: bytes) -> bytes:
    """The 32-byte AEAD key derived from a ring key (ring keys are 64 random characters)."""
    return hashlib.sha256(b"stratus webhook secret\x00" + ring_key).digest()


def encrypt(secret: str, *, endpoint_id: uuid.UUID, source: KeySource | None = None) -> str:
    """``secret`` sealed under the ring's current key, bound to ``endpoint_id``."""
    from nacl import bindings

    current = (source or keys()).load()
    nonce = os.urandom(bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    sealed = bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        secret.encode(), endpoint_id.bytes, nonce, _key(current.current)
    )
    return f"{current.current_kid}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(stored: str, *, endpoint_id: uuid.UUID, source: KeySource | None = None) -> str:
    """The secret ``stored`` holds; ValueError when its key is gone or it was tampered with."""
    from nacl import bindings
    from nacl.exceptions import CryptoError

    kid, _, packed = stored.partition(":")
    key = (source or keys()).key_for(kid)
    if key is None:
        raise ValueError(f"webhook secret: no key {kid!r} in the ring")
    raw = base64.b64decode(packed)
    size = bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
    try:
        opened = bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            raw[size:], endpoint_id.bytes, raw[:size], _key(key)
        )
    except CryptoError:
        raise ValueError("webhook secret: it does not decrypt for this endpoint") from None
    return bytes(opened).decode()
