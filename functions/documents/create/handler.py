"""POST /documents: a document awaiting its upload, with a presigned POST for the file."""

from shared.documents import service
from shared.documents.schemas import DocumentCreate, DocumentCreated
from shared.platform import db
from shared.platform.declare import DATABASE, bucket
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import DocumentSettings

function = HttpFunction(
    method="POST",
    path="/documents",
    roles=("admin", "member"),
    status_code=201,
    needs=(DATABASE, bucket("uploads", "write")),
    settings=DocumentSettings,
)


@function.endpoint
async def create_document(principal: CurrentPrincipal, body: DocumentCreate) -> DocumentCreated:
    """Create a document and get the form that uploads its file to S3."""
    with db.session_scope() as session:
        return service.create(session, principal, body)


handler = function.handler
