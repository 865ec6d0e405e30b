"""POST /auth/refresh: rotate a refresh token for a new token pair."""

from shared.auth import service
from shared.auth.schemas import RefreshRequest, TokenPair
from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.http import HttpFunction
from shared.platform.settings import TokenSettings

function = HttpFunction(
    method="POST",
    path="/auth/refresh",
    auth=False,
    needs=(DATABASE, secret("signing-keys")),
    settings=TokenSettings,
    errors=(401,),
)


@function.endpoint
async def refresh(body: RefreshRequest) -> TokenPair:
    """Exchange a refresh token for a new pair; the old refresh token is spent."""
    with db.session_scope() as session:
        return service.refresh(session, body.refresh_token)


handler = function.handler
