"""POST /auth/password-reset/confirm: set a new password with a reset token."""

from shared.auth import service
from shared.auth.schemas import PasswordResetConfirm
from shared.platform import db
from shared.platform.declare import DATABASE, queue
from shared.platform.http import HttpFunction, Response
from shared.platform.settings import ApiSettings

function = HttpFunction(
    method="POST",
    path="/auth/password-reset/confirm",
    auth=False,
    status_code=204,
    needs=(DATABASE, queue("notifications")),
    settings=ApiSettings,
    errors=(400,),
)


@function.endpoint
async def confirm_password_reset(body: PasswordResetConfirm) -> Response:
    """Set a new password with the emailed token; every session is signed out."""
    with db.session_scope() as session:
        service.confirm_password_reset(session, body.token, body.new_password)
    return Response(status_code=204)


handler = function.handler
