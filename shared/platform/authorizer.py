"""The API Gateway Lambda authorizer (TOKEN type): verifies the bearer token and its revocation
state, and hands the principal to the functions in its context. Functions never parse tokens.

Its result cache is off (TTL 0), so logout, password change, deactivation and deletion take
effect on the very next request; the price is one warm invocation (about a millisecond and one
Redis round trip) per request. When Redis cannot be reached the authorizer fails closed: API
Gateway answers 503 (its AUTHORIZER_FAILURE response), never 500 and never an open door.
"""

from __future__ import annotations

from typing import Any

from shared.platform.declare import CACHE, DATABASE, AuthorizerTrigger, Function, secret
from shared.platform.observability import logger, set_request_id
from shared.platform.settings import Cache, Database, Signing

UNAUTHORIZED = "Unauthorized"  # the exact message API Gateway turns into a 401


class AuthorizerSettings(Signing, Cache, Database):
    """What the authorizer needs: the signing keys, Redis and (on a cache miss) Postgres."""


class TokenAuthorizer(Function):
    """Verifies ``Authorization: Bearer <access token>``."""

    def __init__(self) -> None:
        super().__init__(
            trigger=AuthorizerTrigger(result_ttl_seconds=0),
            needs=(secret("signing-keys"), CACHE, DATABASE),
            settings=AuthorizerSettings,
            timeout_seconds=5,
            memory_mb=512,
        )

    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from shared.auth import revocation, tokens

        set_request_id(getattr(context, "aws_request_id", "authorizer"))
        header = str(event.get("authorizationToken") or "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Exception(UNAUTHORIZED)
        try:
            claims = tokens.verify_access_token(token.strip())
        except tokens.InvalidToken as exc:
            logger.info("Token refused", extra={"reason": str(exc)})
            raise Exception(UNAUTHORIZED) from None
        if revocation.is_revoked(claims):  # a Redis outage raises: fail closed (503)
            logger.info("Revoked token refused", extra={"user_id": claims.user_id})
            raise Exception(UNAUTHORIZED)
        return {
            "principalId": claims.user_id,
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Action": "execute-api:Invoke",
                        "Effect": "Allow",
                        "Resource": _api_wildcard(str(event.get("methodArn", ""))),
                    }
                ],
            },
            "context": {
                "sub": claims.user_id,
                "role": claims.role,
                "jti": claims.jti,
                "exp": claims.expires_at,
            },
        }


def _api_wildcard(method_arn: str) -> str:
    """``arn:aws:execute-api:<region>:<account>:<api>/<stage>/*`` from the method ARN."""
    prefix, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0]
    return f"{prefix}/{stage}/*" if prefix and stage else method_arn
