"""POST /auth/password-reset: ask for a reset token by email (202, whether or not it exists)."""

from shared.auth import service
from shared.auth.schemas import PasswordResetRequest
from shared.platform import db
from shared.platform.declare import DATABASE, queue
from shared.platform.http import HttpFunction, Response
from shared.platform.settings import Cache, Database, Limits, Observability


class ResetRequestSettings(Observability, Database, Cache, Limits):
    """Postgres for the outbox, Redis for the rate limit; the queue's address comes from its
    declared need."""


function = HttpFunction(
    method="POST",
    path="/auth/password-reset",
    auth=False,
    status_code=202,
    needs=(DATABASE, queue("notifications")),
    settings=ResetRequestSettings,
)


@function.endpoint
async def request_password_reset(body: PasswordResetRequest) -> Response:
    """Ask for a password reset; if the account exists, a one-time token is emailed."""
    with db.session_scope() as session:
        service.request_password_reset(session, body.email)
    return Response(status_code=202)


handler = function.handler
