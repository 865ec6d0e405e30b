"""Key rings: HMAC keys with ids, in one Secrets Manager secret, rotated without downtime.

The secret is a JSON object ``{"current": "<kid>", "<kid>": "<key>", "<older kid>": ...}``.
What is signed carries the kid of the key that signed it; anything presented is verified with
the key of its kid, as long as that kid is in the ring. A key therefore rotates without
invalidating what was signed before: add a new kid, make it current, and remove the old kid once
nothing signed with it is still in use. Two rings exist, each its own secret with its own
readers: the access-token signing keys (``shared.auth.keys``) and the pagination cursor keys
(``shared.platform.pagination``).

Values are cached for the secret's max age (``shared.platform.secrets``); an unknown kid forces
one refetch at most once a minute, so a flood of forged kids cannot hammer Secrets Manager.
"""

from __future__ import annotations

import base64
import json
import secrets as _random
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from shared.platform import secrets

MIN_KEY_LENGTH = 32
_REFETCH_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True)
class KeyRing:
    """The keys of one secret, by kid, and the kid that signs."""

    current_kid: str
    keys: dict[str, bytes]

    @property
    def current(self) -> bytes:
        return self.keys[self.current_kid]


def parse(value: str, *, what: str = "key ring") -> KeyRing:
    """A ring from the secret's JSON; refuses a secret without a usable current key."""
    try:
        data = json.loads(value)
    except ValueError:
        raise ValueError(f"{what}: the secret is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("current"), str):
        raise ValueError(f"{what}: no 'current' kid")
    keys = {
        kid: key.encode()
        for kid, key in data.items()
        if kid != "current" and isinstance(key, str) and len(key) >= MIN_KEY_LENGTH
    }
    if data["current"] not in keys:
        raise ValueError(f"{what}: the current kid has no key of {MIN_KEY_LENGTH}+ characters")
    return KeyRing(current_kid=data["current"], keys=keys)


def new_secret(kid: str = "k1") -> str:
    """A fresh secret value with one key, current (the local runner seeds its secrets so)."""
    key = base64.urlsafe_b64encode(_random.token_bytes(48)).decode()
    return json.dumps({"current": kid, kid: key})


def rotated(value: str, *, new_kid: str | None = None) -> str:
    """``value`` with a new current key added; the old keys stay, to verify what they signed."""
    ring = parse(value)
    data = {kid: key.decode() for kid, key in ring.keys.items()}
    if new_kid is None:
        number = 1 + max((int(k[1:]) for k in data if k[1:].isdigit()), default=0)
        new_kid = f"{ring.current_kid[:1] or 'k'}{number}"
    if new_kid in data:
        raise ValueError(f"kid {new_kid!r} is already in the ring")
    data[new_kid] = base64.urlsafe_b64encode(_random.token_bytes(48)).decode()
    return json.dumps({"current": new_kid, **data})


class KeySource(Protocol):
    """Where a signer gets its ring and a verifier the key of a kid."""

    def load(self, *, force: bool = False) -> KeyRing: ...

    def key_for(self, kid: str) -> bytes | None: ...


@dataclass(frozen=True)
class FixedRing:
    """A ring held in memory (tests, and tools that already hold the secret's value)."""

    ring: KeyRing

    def load(self, *, force: bool = False) -> KeyRing:
        return self.ring

    def key_for(self, kid: str) -> bytes | None:
        return self.ring.keys.get(kid)


@dataclass
class Ring:
    """One secret's ring, read through the shared secrets cache."""

    secret_id: str
    max_age: int
    what: str = "key ring"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _last_forced: float = 0.0

    def load(self, *, force: bool = False) -> KeyRing:
        return parse(secrets.get(self.secret_id, max_age=self.max_age, force=force), what=self.what)

    def key_for(self, kid: str) -> bytes | None:
        """The key of ``kid``; refetches once (rate-limited) when the kid is unknown."""
        ring = self.load()
        if kid in ring.keys:
            return ring.keys[kid]
        with self._lock:
            if time.monotonic() - self._last_forced < _REFETCH_INTERVAL_SECONDS:
                return None
            self._last_forced = time.monotonic()
        return self.load(force=True).keys.get(kid)


@lru_cache(maxsize=8)
def ring(secret_id: str, *, max_age: int, what: str = "key ring") -> Ring:
    """The ring of ``secret_id``: one per secret and execution environment (its refetch limit
    is per ring). Callers pass the ARN from their settings on every use, so a changed
    environment (tests, the local runner) gets its own ring."""
    return Ring(secret_id, max_age=max_age, what=what)
