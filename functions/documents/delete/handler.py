"""DELETE /documents/{id}: the document, its file, chunks and vectors."""

from uuid import UUID

from shared.documents import service
from shared.platform import db
from shared.platform.declare import DATABASE, VECTORS, bucket, queue
from shared.platform.http import CurrentPrincipal, HttpFunction, Response
from shared.platform.settings import DocumentSettings

function = HttpFunction(
    method="DELETE",
    path="/documents/{id}",
    roles=("admin", "member"),
    status_code=204,
    needs=(DATABASE, VECTORS, bucket("uploads", "read_write"), queue("webhooks")),
    settings=DocumentSettings,
    errors=(404,),
)


@function.endpoint
async def delete_document(id: UUID, principal: CurrentPrincipal) -> Response:
    """Delete a document; search never returns it again."""
    with db.session_scope() as session:
        service.delete(session, principal, id)
    return Response(status_code=204)


handler = function.handler
