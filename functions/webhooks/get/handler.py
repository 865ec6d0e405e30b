"""GET /webhooks/{id}: one of the caller's webhook endpoints."""

from uuid import UUID

from shared.platform import db
from shared.platform.declare import DATABASE
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import ApiSettings
from shared.webhooks import service
from shared.webhooks.schemas import WebhookPublic

function = HttpFunction(
    method="GET",
    path="/webhooks/{id}",
    needs=(DATABASE,),
    settings=ApiSettings,
    errors=(404,),
)


@function.endpoint
async def get_webhook(id: UUID, principal: CurrentPrincipal) -> WebhookPublic:
    """Read a webhook endpoint."""
    with db.session_scope() as session:
        return service.get(session, principal, id)


handler = function.handler
