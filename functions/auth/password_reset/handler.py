"""POST /auth/password-reset: ask for a reset token by email (202, whether or not it exists)."""

from fastapi import Response

from shared.auth import service
from shared.auth.schemas import PasswordResetRequest
from shared.platform.declare import queue
from shared.platform.http import HttpFunction
from shared.platform.settings import Cache, Limits, Observability


class ResetRequestSettings(Observability, Cache, Limits):
    """Redis for the rate limit; the queue's address comes from its declared need."""


function = HttpFunction(
    method="POST",
    path="/auth/password-reset",
    auth=False,
    status_code=202,
    needs=(queue("notifications"),),
    settings=ResetRequestSettings,
)


@function.endpoint
async def request_password_reset(body: PasswordResetRequest) -> Response:
    """Ask for a password reset; if the account exists, a one-time token is emailed."""
    service.request_password_reset(body.email)
    return Response(status_code=202)


handler = function.handler
