"""The API Gateway Lambda authorizer (TOKEN type), as transport: the bearer token in, an IAM
policy and the principal's context out. Functions never parse tokens.

The declaration names what the check needs; the check itself is the domain's (``shared.auth``),
registered with :meth:`AuthorizerFunction.verify` in ``functions/``. It returns the
:class:`~shared.platform.identity.Principal` or raises
:class:`~shared.platform.errors.Unauthorized`; either way API Gateway gets what it expects.
Its result cache is off (TTL 0), so logout, password change, deactivation and deletion take
effect on the very next request. Any other error (Redis unreachable) escapes: API Gateway then
answers 503 (its AUTHORIZER_FAILURE response), never 500 and never an open door.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from shared.platform import db, snapstart
from shared.platform.declare import Access, AuthorizerTrigger, Function
from shared.platform.errors import Unauthorized
from shared.platform.identity import Principal
from shared.platform.observability import logger, set_request_id
from shared.platform.settings import Observability, Settings

UNAUTHORIZED = "Unauthorized"  # the exact message API Gateway turns into a 401

Verifier = Callable[[str], Principal]


class AuthorizerFunction(Function):
    """Verifies ``Authorization: Bearer <access token>`` with the registered verifier."""

    def __init__(
        self,
        *,
        needs: tuple[Access, ...] = (),
        settings: type[Settings] = Observability,
        timeout_seconds: int = 5,
        memory_mb: int = 512,
    ) -> None:
        super().__init__(
            trigger=AuthorizerTrigger(result_ttl_seconds=0),
            needs=needs,
            settings=settings,
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
        )
        self._verify: Verifier | None = None

    def verify(self, fn: Verifier) -> Verifier:
        """Register ``fn(token) -> Principal`` (raising ``Unauthorized``) as the check."""
        if self._verify is not None:
            raise RuntimeError("the authorizer already has a verifier")
        self._verify = fn
        self.description = (fn.__doc__ or "").strip().partition("\n")[0]
        return fn

    def prime(self) -> None:
        """Before a SnapStart snapshot: the verifier run once on a malformed token, which it
        refuses before reading a key or the revocation state (``shared.platform.snapstart``)."""
        super().prime()
        snapstart.prime([self._prime_verify])

    def _prime_verify(self) -> None:
        if self._verify is not None:
            with contextlib.suppress(Unauthorized):
                self._verify("snapstart.priming.malformed")

    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if self._verify is None:
            raise RuntimeError("the authorizer has no verifier: decorate one with @function.verify")
        set_request_id(getattr(context, "aws_request_id", "authorizer"))
        header = str(event.get("authorizationToken") or "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Exception(UNAUTHORIZED)
        verify = self._verify
        try:
            # a read-only check: repeated once on a fresh connection if its connection was dead
            principal = db.run_retrying(lambda: verify(token.strip()))
        except Unauthorized as exc:
            logger.info("Token refused", extra={"reason": exc.detail})
            raise Exception(UNAUTHORIZED) from None
        return {
            "principalId": str(principal.user_id),
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
                "sub": str(principal.user_id),
                "role": principal.role,
                "jti": principal.jti or "",
                "exp": principal.expires_at or 0,
            },
        }


def _api_wildcard(method_arn: str) -> str:
    """``arn:aws:execute-api:<region>:<account>:<api>/<stage>/*`` from the method ARN."""
    prefix, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0]
    return f"{prefix}/{stage}/*" if prefix and stage else method_arn
