"""Access tokens (JWT, HS256 pinned, ``kid`` in the header) and opaque refresh tokens.

Access tokens carry ``sub``, ``role``, ``jti``, ``iat``, ``exp``, ``iss``, ``aud`` and ``ver``
(the user's token version: bumping it revokes every access token issued before). Verification
accepts exactly one algorithm and only kids present in the key set; anything else is
:class:`InvalidToken`, never another error. Refresh tokens are random strings, stored only as
SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from shared.auth import keys
from shared.platform.settings import Signing, get_settings

ALGORITHM = "HS256"
_KID_MAX_LENGTH = 64
LEEWAY_SECONDS = 5  # clock skew allowed on exp and iat


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or otherwise unacceptable."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    role: str
    jti: str
    issued_at: int
    expires_at: int
    version: int


def issue_access_token(*, user_id: str, role: str, version: int) -> tuple[str, int]:
    """A signed access token for the user and its lifetime in seconds."""
    import jwt

    settings = get_settings(Signing)
    keyset = keys.load()
    now = int(time.time())
    ttl = settings.access_token_ttl_seconds
    claims = {
        "sub": user_id,
        "role": role,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + ttl,
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "ver": version,
    }
    token = jwt.encode(
        claims, keyset.current, algorithm=ALGORITHM, headers={"kid": keyset.current_kid}
    )
    return token, ttl


def verify_access_token(token: str) -> AccessClaims:
    """The claims of a valid access token; :class:`InvalidToken` for anything else."""
    import jwt

    settings = get_settings(Signing)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("malformed token") from None
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM or not isinstance(kid, str) or not kid:
        raise InvalidToken("unexpected algorithm or kid")
    if len(kid) > _KID_MAX_LENGTH:
        raise InvalidToken("unknown kid")
    key = keys.key_for(kid)
    if key is None:
        raise InvalidToken("unknown kid")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=settings.token_audience,
            issuer=settings.token_issuer,
            options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.PyJWTError:
        raise InvalidToken("signature, audience, issuer or expiry check failed") from None
    try:
        verified = AccessClaims(
            user_id=str(uuid.UUID(str(claims["sub"]))),
            role=_role(claims.get("role")),
            jti=str(claims["jti"]),
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
            version=int(claims.get("ver", -1)),
        )
    except (ValueError, TypeError, OverflowError):
        raise InvalidToken("malformed claims") from None
    # No lifetime beyond the configured one, however well signed (a leaked key, an old issuer
    # with a longer TTL): a 30-year token is refused, not trusted for 30 years.
    if verified.expires_at - verified.issued_at > settings.access_token_ttl_seconds:
        raise InvalidToken("lifetime longer than the access token TTL")
    if verified.issued_at > time.time() + LEEWAY_SECONDS:
        raise InvalidToken("issued in the future")
    return verified


def _role(value: object) -> str:
    if value not in ("admin", "member", "viewer"):
        raise ValueError("unknown role")
    return str(value)


def new_refresh_token() -> str:
    """A fresh opaque refresh token (256 bits of randomness)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored for an opaque token (refresh or password reset): its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()
