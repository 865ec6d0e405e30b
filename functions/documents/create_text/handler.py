"""POST /documents/text: a document from text the caller sends, stored by the service."""

from shared.documents import service
from shared.documents.schemas import DocumentPublic, TextDocumentCreate
from shared.platform import db
from shared.platform.declare import DATABASE, bucket
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import DocumentSettings

function = HttpFunction(
    method="POST",
    path="/documents/text",
    roles=("admin", "member"),
    status_code=201,
    needs=(DATABASE, bucket("uploads", "write")),
    settings=DocumentSettings,
)


@function.endpoint
async def create_text_document(
    principal: CurrentPrincipal, body: TextDocumentCreate
) -> DocumentPublic:
    """Create a document from text; it is queued for ingestion at once."""
    with db.session_scope() as session:
        return service.create_text(session, principal, body)


handler = function.handler
