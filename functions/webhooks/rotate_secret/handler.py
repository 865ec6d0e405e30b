"""POST /webhooks/{id}/rotate-secret: a new signing secret, the old one signing for 24 hours."""

from uuid import UUID

from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.webhooks import service
from shared.webhooks.config import WebhookSecretSettings
from shared.webhooks.schemas import WebhookSecret

function = HttpFunction(
    method="POST",
    path="/webhooks/{id}/rotate-secret",
    roles=("admin", "member"),
    needs=(DATABASE, secret("webhook-keys")),
    settings=WebhookSecretSettings,
    errors=(404,),
)


@function.endpoint
async def rotate_webhook_secret(id: UUID, principal: CurrentPrincipal) -> WebhookSecret:
    """Rotate a webhook's signing secret (both sign for 24 hours)."""
    with db.session_scope() as session:
        return service.rotate_secret(session, principal, id)


handler = function.handler
