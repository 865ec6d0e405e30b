"""POST /auth/refresh: rotate a refresh token for a new token pair (or browser session)."""

from shared.auth import service
from shared.auth.schemas import BrowserSession, RefreshRequest, TokenPair
from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.errors import Unauthorized
from shared.platform.http import (
    CLEARED_REFRESH_COOKIE,
    HttpFunction,
    RefreshCookie,
    Response,
    SessionMode,
    refresh_cookie,
)
from shared.platform.settings import Signing, TokenSettings, get_settings

function = HttpFunction(
    method="POST",
    path="/auth/refresh",
    auth=False,
    needs=(DATABASE, secret("signing-keys")),
    settings=TokenSettings,
    errors=(401,),
)


@function.endpoint
async def refresh(
    response: Response,
    session_mode: SessionMode = None,
    cookie: RefreshCookie = None,
    body: RefreshRequest | None = None,
) -> TokenPair | BrowserSession:
    """Exchange a refresh token for a new pair; the old refresh token is spent.

    With `X-Session-Mode: cookie` the token is read from the cookie (never from the body) and
    the new one is set there; without that header the cookie is ignored.
    """
    if session_mode != "cookie":
        if body is None:  # no token presented at all: as unauthenticated as a wrong one
            raise Unauthorized(service.INVALID_REFRESH)
        with db.session_scope() as session:
            return service.refresh(session, body.refresh_token)
    try:
        if not cookie:
            raise Unauthorized(service.INVALID_REFRESH)
        with db.session_scope() as session:
            pair = service.refresh(session, cookie)
    except Unauthorized as refused:
        refused.headers["Set-Cookie"] = CLEARED_REFRESH_COOKIE  # it is of no use any more
        raise
    max_age = get_settings(Signing).refresh_token_ttl_seconds
    response.headers["Set-Cookie"] = refresh_cookie(pair.refresh_token, max_age=max_age)
    return BrowserSession.of(pair)


handler = function.handler
