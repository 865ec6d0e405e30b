"""POST /auth/password: change the caller's password."""

from shared.auth import service
from shared.auth.schemas import PasswordChange
from shared.platform import db
from shared.platform.declare import DATABASE, queue
from shared.platform.http import CurrentPrincipal, HttpFunction, Response
from shared.platform.settings import ApiSettings

function = HttpFunction(
    method="POST",
    path="/auth/password",
    status_code=204,
    needs=(DATABASE, queue("notifications")),
    settings=ApiSettings,
    errors=(403,),
)


@function.endpoint
async def change_password(principal: CurrentPrincipal, body: PasswordChange) -> Response:
    """Change the password; every session of the user is revoked."""
    with db.session_scope() as session:
        service.change_password(session, principal, body)
    return Response(status_code=204)


handler = function.handler
