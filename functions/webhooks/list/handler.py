"""GET /webhooks: the caller's webhook endpoints, a page at a time."""

from typing import Annotated

from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.http import CurrentPrincipal, HttpFunction, Query
from shared.platform.settings import ListSettings
from shared.webhooks import service
from shared.webhooks.schemas import WebhooksPage

function = HttpFunction(
    method="GET",
    path="/webhooks",
    needs=(DATABASE, secret("cursor-keys")),
    settings=ListSettings,
)


@function.endpoint
async def list_webhooks(
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> WebhooksPage:
    """List your webhook endpoints, newest first."""
    with db.session_scope() as session:
        return service.list_endpoints(session, principal, limit=limit, after=cursor)


handler = function.handler
