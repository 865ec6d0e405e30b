"""GET /users/{id}: one user (oneself, or anyone for an admin)."""

from uuid import UUID

from shared.platform import db
from shared.platform.declare import DATABASE
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import ApiSettings
from shared.users import service
from shared.users.schemas import UserPublic

function = HttpFunction(
    method="GET", path="/users/{id}", needs=(DATABASE,), settings=ApiSettings, errors=(404,)
)


@function.endpoint
async def get_user(id: UUID, principal: CurrentPrincipal) -> UserPublic:
    """Read a user."""
    with db.session_scope() as session:
        return service.get_user(session, principal, id)


handler = function.handler
