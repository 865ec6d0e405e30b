"""GET /documents: the caller's own documents, a page at a time."""

from shared.documents import service
from shared.documents.schemas import DocumentsPage, Status
from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.http import CurrentPrincipal, HttpFunction, PageCursor, PageLimit
from shared.platform.settings import ListSettings

function = HttpFunction(
    method="GET",
    path="/documents",
    needs=(DATABASE, secret("cursor-keys")),
    settings=ListSettings,
)


@function.endpoint
async def list_documents(
    principal: CurrentPrincipal,
    status: Status | None = None,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> DocumentsPage:
    """List the caller's documents, newest first."""
    with db.read_scope() as session:  # lists and search tolerate the replica's lag
        return service.list_documents(session, principal, status=status, limit=limit, after=cursor)


handler = function.handler
