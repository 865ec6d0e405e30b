"""POST /notifications/{id}/read: mark a notification read."""

from uuid import UUID

from shared.notifications import service
from shared.platform import db
from shared.platform.declare import DATABASE
from shared.platform.http import CurrentPrincipal, HttpFunction, Response
from shared.platform.settings import ApiSettings

function = HttpFunction(
    method="POST",
    path="/notifications/{id}/read",
    status_code=204,
    needs=(DATABASE,),
    settings=ApiSettings,
    errors=(404,),
)


@function.endpoint
async def mark_read(id: UUID, principal: CurrentPrincipal) -> Response:
    """Mark one of your notifications read."""
    with db.session_scope() as session:
        service.mark_read(session, principal, id)
    return Response(status_code=204)


handler = function.handler
