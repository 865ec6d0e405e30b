"""PATCH /users/{id}: rename (oneself or admin); change role or activation (admin)."""

from uuid import UUID

from shared.platform import db
from shared.platform.declare import DATABASE, queue
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import ApiSettings
from shared.users import service
from shared.users.schemas import UserPublic, UserUpdate

function = HttpFunction(
    method="PATCH",
    path="/users/{id}",
    needs=(DATABASE, queue("notifications"), queue("webhooks")),
    settings=ApiSettings,
    errors=(403, 404, 409),
)


@function.endpoint
async def update_user(id: UUID, body: UserUpdate, principal: CurrentPrincipal) -> UserPublic:
    """Change a user's name, role or activation."""
    with db.session_scope() as session:
        return service.update_user(session, principal, id, body)


handler = function.handler
