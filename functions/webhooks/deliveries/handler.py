"""GET /webhooks/{id}/deliveries: an endpoint's delivery log, a page at a time."""

from typing import Annotated
from uuid import UUID

from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.http import CurrentPrincipal, HttpFunction, Query
from shared.platform.settings import ListSettings
from shared.webhooks import service
from shared.webhooks.schemas import DeliveriesPage

function = HttpFunction(
    method="GET",
    path="/webhooks/{id}/deliveries",
    needs=(DATABASE, secret("cursor-keys")),
    settings=ListSettings,
    errors=(404,),
)


@function.endpoint
async def list_webhook_deliveries(
    id: UUID,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> DeliveriesPage:
    """List a webhook's deliveries, newest first."""
    with db.session_scope() as session:
        return service.list_deliveries(session, principal, id, limit=limit, after=cursor)


handler = function.handler
