"""What API Gateway answers by itself, before any function runs: plain data, no CDK imports.

The CDK app turns :data:`GATEWAY_RESPONSES` into the REST API's gateway responses and the local
runner answers the same way, so an unknown route, a rejected token or a throttled call look
identical in both: an RFC 9457 problem like the ones ``shared.platform.http`` produces. The binary
media types are the bodies API Gateway passes to functions base64-encoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.platform.errors import PROBLEM_CONTENT_TYPE, Problem


@dataclass(frozen=True)
class GatewayResponse:
    """One API Gateway response type (``ResponseType`` in CDK) rendered as a problem."""

    type: str  # the API Gateway response type, e.g. "MISSING_AUTHENTICATION_TOKEN"
    status: int
    title: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)  # besides Content-Type

    def body(self, request_id: str) -> dict[str, Any]:
        """The problem document; the CDK app passes ``"$context.requestId"`` as the id."""
        return Problem(
            title=self.title, status=self.status, detail=self.detail, request_id=request_id
        ).body()

    @property
    def all_headers(self) -> dict[str, str]:
        """Every header of the response, Content-Type included."""
        return {"Content-Type": PROBLEM_CONTENT_TYPE, **self.headers}


_RESPONSES = (
    # API Gateway answers an unknown path or method with this type (a 403 by default).
    GatewayResponse("MISSING_AUTHENTICATION_TOKEN", 404, "Not Found", "No such resource."),
    GatewayResponse(
        "UNAUTHORIZED",
        401,
        "Unauthorized",
        "Authentication is required.",
        {"WWW-Authenticate": "Bearer"},
    ),
    GatewayResponse("ACCESS_DENIED", 403, "Forbidden", "You may not do this."),
    GatewayResponse("THROTTLED", 429, "Too Many Requests", "Too many requests: retry later."),
    # The authorizer failed (Redis unreachable): it fails closed, and the client may retry.
    GatewayResponse(
        "AUTHORIZER_FAILURE",
        503,
        "Service Unavailable",
        "Authentication is unavailable right now: retry shortly.",
        {"Retry-After": "5"},
    ),
    GatewayResponse(
        "REQUEST_TOO_LARGE", 413, "Content Too Large", "The request body is over 10 MB."
    ),
    GatewayResponse(
        "DEFAULT_5XX",
        500,
        "Internal Server Error",
        "Something failed on our side. Quote the request id when reporting it.",
    ),
)

#: Gateway responses by API Gateway response type.
GATEWAY_RESPONSES: dict[str, GatewayResponse] = {r.type: r for r in _RESPONSES}

#: Request and response bodies of these types travel base64-encoded between API Gateway and the
#: functions (``isBase64Encoded``); every other body is passed as text.
BINARY_MEDIA_TYPES: tuple[str, ...] = (
    "multipart/form-data",
    "application/octet-stream",
    "application/pdf",
    "image/*",
)
