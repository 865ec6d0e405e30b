"""The access-token signing keys: a key ring (``shared.platform.keyring``) in Secrets Manager.

Tokens are signed with the current key and verified with any key present, so a key rotates
without logging anyone out: add a new kid, make it current, and remove the old kid once the
longest-lived access token signed with it has expired (15 minutes). Only the functions that sign
or verify access tokens (login, refresh, the authorizer) may read this secret; the pagination
cursors have their own (``cursor-keys``).
"""

from __future__ import annotations

from shared.platform.keyring import KeyRing, Ring, new_secret, ring
from shared.platform.settings import Signing, get_settings

__all__ = ["KeyRing", "key_for", "load", "new_secret"]


def _ring() -> Ring:
    settings = get_settings(Signing)
    return ring(
        settings.signing_keys_secret_arn,
        max_age=settings.signing_keys_max_age_seconds,
        what="signing keys secret",
    )


def load(*, force: bool = False) -> KeyRing:
    """The signing keys, cached for ``SIGNING_KEYS_MAX_AGE`` seconds."""
    return _ring().load(force=force)


def key_for(kid: str) -> bytes | None:
    """The key of ``kid``; refetches once (rate-limited) when the kid is unknown."""
    return _ring().key_for(kid)
