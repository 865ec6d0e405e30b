"""GET /documents/{id}/download: a presigned GET of the original bytes."""

from uuid import UUID

from shared.documents import service
from shared.documents.schemas import DownloadLink
from shared.platform import db
from shared.platform.declare import DATABASE, bucket
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import DocumentSettings

function = HttpFunction(
    method="GET",
    path="/documents/{id}/download",
    needs=(DATABASE, bucket("uploads", "read")),
    settings=DocumentSettings,
    errors=(404, 409),
)


@function.endpoint
async def download_document(id: UUID, principal: CurrentPrincipal) -> DownloadLink:
    """Get a short-lived link to the original file."""
    with db.session_scope() as session:
        return service.download(session, principal, id)


handler = function.handler
