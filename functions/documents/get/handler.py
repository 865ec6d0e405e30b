"""GET /documents/{id}: one document (its owner's, or anyone's for an admin)."""

from uuid import UUID

from shared import db
from shared.declare import DATABASE, bucket
from shared.documents import service
from shared.documents.schemas import DocumentPublic
from shared.http import CurrentPrincipal, HttpFunction
from shared.settings import DocumentSettings

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
