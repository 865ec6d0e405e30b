"""The Data service's rules: plain functions on a database session, no HTTP or Lambda in sight.

Owners control their documents; an admin may read anyone's; a viewer writes nothing (the routes
say so). Another user's document that the caller may not see is 404; one an admin may see but
not change is 403. Rows live in ``shared.documents.repository``, files in
``shared.documents.storage``, vectors in ``shared.vectors``.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from shared.documents import repository, storage
from shared.documents.models import Document
from shared.documents.schemas import (
    DocumentCreate,
    DocumentCreated,
    DocumentPublic,
    DocumentsPage,
    DocumentUpdate,
    DownloadLink,
    SearchRequest,
    SearchResponse,
    SearchResult,
    Status,
    TextDocumentCreate,
    UploadForm,
)
from shared.platform import observability, outbox
from shared.platform.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from shared.platform.identity import Principal
from shared.platform.observability import logger
from shared.platform.settings import Limits, Storage, get_settings

NOT_FOUND = "No such document."
#: Documents still waiting for their upload after this long are removed (maintenance).
ABANDONED_AFTER = timedelta(hours=24)


def _now() -> datetime:
    return datetime.now(UTC)


def _readable(session: Session, principal: Principal, document_id: uuid.UUID) -> Document:
    document = repository.get(session, document_id)
    if document is None or (document.owner_id != principal.user_id and not principal.is_admin):
        raise NotFound(NOT_FOUND)
    return document


def _writable(session: Session, principal: Principal, document_id: uuid.UUID) -> Document:
    document = _readable(session, principal, document_id)
    if document.owner_id != principal.user_id:
        raise Forbidden("Only the owner may change a document.")
    return document


def create(session: Session, principal: Principal, data: DocumentCreate) -> DocumentCreated:
    """A document awaiting its upload, and the presigned POST that uploads it."""
    limit = get_settings(Limits).max_upload_bytes
    if data.size_bytes > limit:
        raise Unprocessable(
            "The file is too large.",
            errors=[FieldError(loc=("body", "size_bytes"), msg=f"At most {limit} bytes.")],
        )
    document_id = uuid.uuid4()
    key = storage.object_key(principal.user_id, document_id)
    document = repository.add(
        session,
        Document(
            id=document_id,
            owner_id=principal.user_id,
            title=data.title.strip(),
            filename=data.filename,
            content_type=data.content_type,
            size_bytes=data.size_bytes,
            s3_key=key,
            status="pending_upload",
        ),
    )
    ttl = get_settings(Storage).upload_url_ttl_seconds
    post = storage.presigned_post(
        key, content_type=data.content_type, max_bytes=data.size_bytes, ttl=ttl
    )
    upload = UploadForm(
        url=post["url"], fields=post["fields"], expires_at=_now() + timedelta(seconds=ttl)
    )
    logger.info("Document created", extra={"document_id": str(document_id)})
    return DocumentCreated(document=DocumentPublic.model_validate(document), upload=upload)


def create_text(session: Session, principal: Principal, data: TextDocumentCreate) -> DocumentPublic:
    """A text document, stored in S3 by the service itself: already queued for ingestion."""
    body = data.text.encode()
    document_id = uuid.uuid4()
    document = repository.add(
        session,
        Document(
            id=document_id,
            owner_id=principal.user_id,
            title=data.title.strip(),
            filename=f"{document_id}.txt",
            content_type="text/plain",
            size_bytes=len(body),
            s3_key=storage.object_key(principal.user_id, document_id),
            status="queued",
        ),
    )
    # The text is written with the row, in the outbox; the object is put once both committed.
    # So the ingest worker, woken by the object, always finds its document, and a committed
    # document always gets its file: if S3 fails now, the outbox relay puts it later.
    outbox.add(session, storage.put_text_effect(document.s3_key, data.text))
    logger.info("Document created", extra={"document_id": str(document_id)})
    return DocumentPublic.model_validate(document)


def _refresh_status(session: Session, document: Document) -> None:
    """An upload that landed but was not picked up yet is ``queued``, not ``pending_upload``.

    A conditional UPDATE, never a plain write: the ingest worker may have moved the document on
    since it was read, and its status must not be overwritten."""
    if document.status == "pending_upload" and storage.exists(document.s3_key):
        repository.mark_uploaded(session, document.id)
        session.refresh(document)


def get(session: Session, principal: Principal, document_id: uuid.UUID) -> DocumentPublic:
    document = _readable(session, principal, document_id)
    _refresh_status(session, document)
    return DocumentPublic.model_validate(document)


def rename(
    session: Session, principal: Principal, document_id: uuid.UUID, data: DocumentUpdate
) -> DocumentPublic:
    document = _writable(session, principal, document_id)
    document.title = data.title.strip()
    session.flush()
    return DocumentPublic.model_validate(document)


def delete(session: Session, principal: Principal, document_id: uuid.UUID) -> None:
    """Delete a document: its vectors, its object, its chunks and its row.

    The vectors and the object go first: if either fails, the row stays and the caller can
    simply retry (every step is idempotent)."""
    document = _writable(session, principal, document_id)
    remove_document_data(document)
    repository.remove(session, document)
    from shared.webhooks.events import emit

    emit(
        session,
        "document.deleted",
        owner_id=document.owner_id,
        data={
            "document_id": str(document.id),
            "owner_id": str(document.owner_id),
            "status": "deleted",
        },
    )


def remove_document_data(document: Document) -> None:
    """Remove what a document has outside the database: its vectors and its S3 object."""
    from shared.vectors import get_vector_store

    get_vector_store().delete_document(str(document.id))
    storage.delete(document.s3_key)


def download(session: Session, principal: Principal, document_id: uuid.UUID) -> DownloadLink:
    """A presigned GET of the original bytes; 409 while nothing has been uploaded."""
    document = _readable(session, principal, document_id)
    if document.status == "pending_upload" and not storage.exists(document.s3_key):
        raise Conflict("No file has been uploaded for this document yet.")
    ttl = get_settings(Storage).download_url_ttl_seconds
    url = storage.presigned_get(document.s3_key, filename=document.filename, ttl=ttl)
    return DownloadLink(url=url, expires_at=_now() + timedelta(seconds=ttl))


def list_documents(
    session: Session,
    principal: Principal,
    *,
    status: Status | None,
    limit: int,
    after: str | None,
) -> DocumentsPage:
    """The caller's own documents, newest first, a page at a time."""
    items, next_cursor = repository.page(
        session,
        owner_id=principal.user_id,
        status=status,
        scope=f"documents:{principal.user_id}:{status or '*'}",
        limit=limit,
        after=after,
    )
    return DocumentsPage(
        items=[DocumentPublic.model_validate(d) for d in items], next_cursor=next_cursor
    )


def remove_abandoned(session: Session, *, now: datetime) -> int:
    """Delete documents left ``pending_upload`` for over a day, with their objects (a late
    upload may have landed); returns how many (maintenance)."""
    abandoned = repository.abandoned(session, created_before=now - ABANDONED_AFTER)
    for document in abandoned:
        storage.delete(document.s3_key)
        repository.remove(session, document)
    return len(abandoned)


def purge_owner(session: Session, owner_id: uuid.UUID) -> dict[str, int]:
    """Delete every document of a deleted user: vectors, files, chunks and rows. Each step is a
    delete, so a retry after a crash half-way removes what is left."""
    from shared.vectors import get_vector_store

    get_vector_store().delete_owner(str(owner_id))
    objects = storage.delete_prefix(storage.owner_prefix(owner_id))
    return {"documents": repository.delete_owner(session, owner_id), "objects": objects}


def search(session: Session, principal: Principal, request: SearchRequest) -> SearchResponse:
    """The best chunks of the caller's own ready documents, whatever ``document_ids`` names;
    none scoring under the embedder's minimum (``SEARCH_MIN_SCORE``)."""
    started = time.perf_counter()
    try:
        return _search(session, principal, request)
    finally:
        observability.milliseconds(
            observability.SEARCH_LATENCY, (time.perf_counter() - started) * 1000
        )


def _search(session: Session, principal: Principal, request: SearchRequest) -> SearchResponse:
    from shared.embeddings import get_embedder, min_score
    from shared.vectors import get_vector_store

    (vector,) = get_embedder().embed([request.query])
    wanted = [str(d) for d in request.document_ids] if request.document_ids else None
    # Ask for more than top_k: hits of documents that are not ready (or gone) are dropped below.
    hits = get_vector_store().search(
        owner_id=str(principal.user_id),
        vector=vector,
        top_k=min(request.top_k * 3, 150),
        document_ids=wanted,
    )
    floor = min_score()
    hits = [hit for hit in hits if hit.score >= floor]
    if not hits:
        return SearchResponse(results=[])
    ids = {uuid.UUID(h.document_id) for h in hits}
    documents = repository.ready_documents(session, owner_id=principal.user_id, ids=ids)
    texts = repository.chunk_texts(session, documents)
    results = []
    for hit in hits:
        document = documents.get(uuid.UUID(hit.document_id))
        text = texts.get((uuid.UUID(hit.document_id), hit.chunk_index))
        if document is None or text is None:
            continue
        results.append(
            SearchResult(
                document_id=document.id,
                title=document.title,
                chunk_index=hit.chunk_index,
                text=text,
                score=round(hit.score, 6),
            )
        )
        if len(results) == request.top_k:
            break
    return SearchResponse(results=results)
