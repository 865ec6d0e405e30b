"""POST /webhooks/{id}/deliveries/{delivery_id}/retry: attempt a failed delivery again."""

from uuid import UUID

from shared.platform import db
from shared.platform.declare import DATABASE, queue
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import ApiSettings
from shared.webhooks import service
from shared.webhooks.schemas import DeliveryPublic

function = HttpFunction(
    method="POST",
    path="/webhooks/{id}/deliveries/{delivery_id}/retry",
    roles=("admin", "member"),
    status_code=202,
    needs=(DATABASE, queue("webhooks")),
    settings=ApiSettings,
    errors=(404, 409),
)


@function.endpoint
async def retry_webhook_delivery(
    id: UUID, delivery_id: UUID, principal: CurrentPrincipal
) -> DeliveryPublic:
    """Send a failed delivery again, now."""
    with db.session_scope() as session:
        return service.retry(session, principal, id, delivery_id)


handler = function.handler
