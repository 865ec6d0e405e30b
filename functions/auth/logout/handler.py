"""POST /auth/logout: end this session."""

from fastapi import Response

from shared.auth import service
from shared.auth.schemas import LogoutRequest
from shared.platform import db
from shared.platform.declare import DATABASE
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import ApiSettings

function = HttpFunction(
    method="POST",
    path="/auth/logout",
    status_code=204,
    needs=(DATABASE,),
    settings=ApiSettings,
)


@function.endpoint
async def logout(principal: CurrentPrincipal, body: LogoutRequest | None = None) -> Response:
    """Log out: this access token and the given refresh token's family stop working."""
    with db.session_scope() as session:
        service.logout(session, principal, body.refresh_token if body else None)
    return Response(status_code=204)


handler = function.handler
