"""POST /webhooks: register an endpoint; its signing secret is shown this once."""

from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.webhooks import service
from shared.webhooks.config import WebhookSecretSettings
from shared.webhooks.schemas import WebhookCreate, WebhookCreated

function = HttpFunction(
    method="POST",
    path="/webhooks",
    roles=("admin", "member"),
    status_code=201,
    needs=(DATABASE, secret("webhook-keys")),
    settings=WebhookSecretSettings,
    errors=(404, 409),
)


@function.endpoint
async def create_webhook(principal: CurrentPrincipal, body: WebhookCreate) -> WebhookCreated:
    """Register a webhook endpoint for your events."""
    with db.session_scope() as session:
        return service.create(session, principal, body)


handler = function.handler
