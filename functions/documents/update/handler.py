"""PATCH /documents/{id}: rename a document."""

from uuid import UUID

from shared.documents import service
from shared.documents.schemas import DocumentPublic, DocumentUpdate
from shared.platform import db
from shared.platform.declare import DATABASE
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import ApiSettings

function = HttpFunction(
    method="PATCH",
    path="/documents/{id}",
    roles=("admin", "member"),
    needs=(DATABASE,),
    settings=ApiSettings,
    errors=(404,),
)


@function.endpoint
async def rename_document(
    id: UUID, body: DocumentUpdate, principal: CurrentPrincipal
) -> DocumentPublic:
    """Change a document's title."""
    with db.session_scope() as session:
        return service.rename(session, principal, id, body)


handler = function.handler
