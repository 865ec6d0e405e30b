"""PATCH /webhooks/{id}: change the URL, events or description, or (re-)enable it."""

from uuid import UUID

from shared.platform import db
from shared.platform.declare import DATABASE
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.webhooks import service
from shared.webhooks.config import WebhookApiSettings
from shared.webhooks.schemas import WebhookPublic, WebhookUpdate

function = HttpFunction(
    method="PATCH",
    path="/webhooks/{id}",
    roles=("admin", "member"),
    needs=(DATABASE,),
    settings=WebhookApiSettings,
    errors=(404,),
)


@function.endpoint
async def update_webhook(
    id: UUID, body: WebhookUpdate, principal: CurrentPrincipal
) -> WebhookPublic:
    """Change a webhook endpoint; a new URL is checked as at registration."""
    with db.session_scope() as session:
        return service.update(session, principal, id, body)


handler = function.handler
