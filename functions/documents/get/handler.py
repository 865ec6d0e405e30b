"""GET /documents/{id}: one document (its owner's, or anyone's for an admin)."""

from uuid import UUID

from shared.documents import service
from shared.documents.schemas import DocumentPublic
from shared.platform import db
from shared.platform.declare import DATABASE, bucket
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import DocumentSettings

function = HttpFunction(
    method="GET",
    path="/documents/{id}",
    needs=(DATABASE, bucket("uploads", "read")),
    settings=DocumentSettings,
    errors=(404,),
)


@function.endpoint
async def get_document(id: UUID, principal: CurrentPrincipal) -> DocumentPublic:
    """Read a document."""
    with db.session_scope() as session:
        return service.get(session, principal, id)


handler = function.handler
