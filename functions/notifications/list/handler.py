"""GET /notifications: the caller's notifications, a page at a time."""

from shared.notifications import service
from shared.notifications.schemas import NotificationsPage
from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.http import CurrentPrincipal, HttpFunction, PageCursor, PageLimit
from shared.platform.settings import ListSettings

function = HttpFunction(
    method="GET",
    path="/notifications",
    needs=(DATABASE, secret("cursor-keys")),
    settings=ListSettings,
)


@function.endpoint
async def list_notifications(
    principal: CurrentPrincipal,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> NotificationsPage:
    """List the caller's notifications, newest first."""
    with db.read_scope() as session:  # lists and search tolerate the replica's lag
        return service.list_notifications(session, principal, limit=limit, after=cursor)


handler = function.handler
