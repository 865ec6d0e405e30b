"""GET /auth/me: the caller's own account."""

from shared.platform import db
from shared.platform.declare import DATABASE
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import ApiSettings
from shared.users import service
from shared.users.schemas import UserPublic

function = HttpFunction(method="GET", path="/auth/me", needs=(DATABASE,), settings=ApiSettings)


@function.endpoint
async def me(principal: CurrentPrincipal) -> UserPublic:
    """Read the caller's own account."""
    with db.session_scope() as session:
        return service.get_user(session, principal, principal.user_id)


handler = function.handler
