"""DELETE /webhooks/{id}: an endpoint and its delivery log."""

from uuid import UUID

from shared.platform import db
from shared.platform.declare import DATABASE
from shared.platform.http import CurrentPrincipal, HttpFunction, Response
from shared.platform.settings import ApiSettings
from shared.webhooks import service

function = HttpFunction(
    method="DELETE",
    path="/webhooks/{id}",
    roles=("admin", "member"),
    status_code=204,
    needs=(DATABASE,),
    settings=ApiSettings,
    errors=(404,),
)


@function.endpoint
async def delete_webhook(id: UUID, principal: CurrentPrincipal) -> Response:
    """Delete a webhook endpoint; nothing more is sent to it."""
    with db.session_scope() as session:
        service.delete(session, principal, id)
    return Response(status_code=204)


handler = function.handler
