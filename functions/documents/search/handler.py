"""POST /search: semantic search over the caller's own ready documents."""

from shared import embeddings
from shared.documents import service
from shared.documents.schemas import SearchRequest, SearchResponse
from shared.platform import db
from shared.platform.declare import DATABASE, EMBEDDINGS, VECTORS
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import ApiSettings

function = HttpFunction(
    method="POST",
    path="/search",
    needs=(DATABASE, VECTORS, EMBEDDINGS),
    settings=ApiSettings,
    memory_mb=1024,
)
# Before a SnapStart snapshot: the embedding model read and run once (no call but Bedrock's).
function.before_snapshot(embeddings.prime)


@function.endpoint
async def search(principal: CurrentPrincipal, body: SearchRequest) -> SearchResponse:
    """Find the passages of your documents that best match the query."""
    with db.read_scope() as session:  # lists and search tolerate the replica's lag
        return service.search(session, principal, body)


handler = function.handler
