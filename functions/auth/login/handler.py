"""POST /auth/login: email and password for a token pair."""

from shared.auth import service
from shared.auth.schemas import LoginRequest, TokenPair
from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.http import HttpFunction
from shared.platform.settings import TokenSettings

function = HttpFunction(
    method="POST",
    path="/auth/login",
    auth=False,
    needs=(DATABASE, secret("signing-keys")),
    settings=TokenSettings,
    errors=(401, 503),
)


@function.endpoint
async def login(body: LoginRequest) -> TokenPair:
    """Log in with email and password."""
    with db.session_scope() as session:
        return service.login(session, body)


handler = function.handler
