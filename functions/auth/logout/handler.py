"""POST /auth/logout: end this session."""

from shared.auth import service
from shared.auth.schemas import LogoutRequest
from shared.platform import db
from shared.platform.declare import DATABASE
from shared.platform.http import (
    CLEARED_REFRESH_COOKIE,
    CurrentPrincipal,
    HttpFunction,
    RefreshCookie,
    Response,
    SessionMode,
)
from shared.platform.settings import ApiSettings

function = HttpFunction(
    method="POST",
    path="/auth/logout",
    status_code=204,
    needs=(DATABASE,),
    settings=ApiSettings,
)


@function.endpoint
async def logout(
    principal: CurrentPrincipal,
    session_mode: SessionMode = None,
    cookie: RefreshCookie = None,
    body: LogoutRequest | None = None,
) -> Response:
    """Log out: this access token and the given refresh token's family stop working.

    With `X-Session-Mode: cookie` the refresh token is the cookie's, and the cookie is cleared.
    """
    cookie_mode = session_mode == "cookie"
    refresh_token = cookie if cookie_mode else (body.refresh_token if body else None)
    with db.session_scope() as session:
        service.logout(session, principal, refresh_token)
    response = Response(status_code=204)
    if cookie_mode:
        response.headers["Set-Cookie"] = CLEARED_REFRESH_COOKIE
    return response


handler = function.handler
