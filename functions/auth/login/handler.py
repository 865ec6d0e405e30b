"""POST /auth/login: email and password for a token pair (or a browser session)."""

from shared.auth import service
from shared.auth.schemas import BrowserSession, LoginRequest, TokenPair
from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.http import HttpFunction, Response, SessionMode, refresh_cookie
from shared.platform.settings import Signing, TokenSettings, get_settings

function = HttpFunction(
    method="POST",
    path="/auth/login",
    auth=False,
    needs=(DATABASE, secret("signing-keys")),
    settings=TokenSettings,
    errors=(401, 503),
)


@function.endpoint
async def login(
    body: LoginRequest, response: Response, session_mode: SessionMode = None
) -> TokenPair | BrowserSession:
    """Log in with email and password.

    With `X-Session-Mode: cookie` the refresh token is set as an HttpOnly cookie, not returned.
    """
    with db.session_scope() as session:
        pair = service.login(session, body)
    if session_mode != "cookie":
        return pair
    max_age = get_settings(Signing).refresh_token_ttl_seconds
    response.headers["Set-Cookie"] = refresh_cookie(pair.refresh_token, max_age=max_age)
    return BrowserSession.of(pair)


handler = function.handler
