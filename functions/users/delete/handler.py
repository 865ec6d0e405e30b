"""DELETE /users/{id}: delete an account (oneself, or anyone for an admin)."""

from uuid import UUID

from shared.platform import db
from shared.platform.declare import DATABASE, queue
from shared.platform.http import CurrentPrincipal, HttpFunction, Response
from shared.platform.settings import ApiSettings
from shared.users import service

function = HttpFunction(
    method="DELETE",
    path="/users/{id}",
    status_code=204,
    needs=(DATABASE, queue("purge"), queue("webhooks")),
    settings=ApiSettings,
    errors=(404, 409),
)


@function.endpoint
async def delete_user(id: UUID, principal: CurrentPrincipal) -> Response:
    """Delete an account; its sessions end at once."""
    with db.session_scope() as session:
        service.delete_user(session, principal, id)
    return Response(status_code=204)


handler = function.handler
