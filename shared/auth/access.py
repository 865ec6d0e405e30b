"""Who a bearer token names: the check the API Gateway authorizer runs on every request.

Apart from the rest of the Auth service on purpose: it needs the token keys, Redis and (on a
cache miss) one Core query, and none of the ORM, so the authorizer starts light.
"""

from __future__ import annotations

import uuid

from shared.auth import revocation, tokens
from shared.platform.errors import Unauthorized
from shared.platform.identity import Principal
from shared.platform.observability import logger


def principal_for_token(token: str) -> Principal:
    """The caller an access token names, if the token is valid and not revoked.

    ``Unauthorized`` for a malformed, forged, expired or revoked token. A revocation state that
    cannot be read (Redis unreachable) raises its own error: the authorizer fails closed."""
    try:
        claims = tokens.verify_access_token(token)
    except tokens.InvalidToken as exc:
        raise Unauthorized(str(exc)) from None
    if revocation.is_revoked(claims):
        logger.info("Revoked token refused", extra={"user_id": claims.user_id})
        raise Unauthorized("revoked token")
    return Principal(
        user_id=uuid.UUID(claims.user_id),
        role=claims.role,  # verify_access_token checked it is a role
        jti=claims.jti,
        expires_at=claims.expires_at,
    )
