"""The ingest worker's logic: an S3 ``ObjectCreated`` record in, a ``ready`` (or ``failed``)
document with its chunks and vectors out.

Exactly one effect per upload, however often or concurrently the message arrives: a delivery
first *claims* the document (``queued``/``pending_upload`` → ``processing`` in one conditional
UPDATE); a delivery that cannot claim it does nothing. A claim older than ``STALE_AFTER`` (the
worker died half-way) may be taken over. Vectors are upserted by chunk id and chunks replaced in
one transaction, so a retry after a crash leaves one set of each. A file that cannot be parsed
ends ``failed`` with a readable error (no retry: it would fail the same way); any other error
puts the document back to ``queued`` and fails the record, so SQS retries it and, after
``maxReceiveCount`` receives, dead-letters it.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from shared.documents import repository, storage
from shared.documents.models import Document
from shared.notifications.messages import Kind
from shared.platform import db, observability
from shared.platform.observability import logger

STALE_AFTER = timedelta(minutes=15)
EMBED_BATCH = 64
#: Written vectors moved into the store's approximate index after each document, at least.
INDEX_AFTER_INGEST = 2000

Outcome = Literal["ready", "failed", "skipped", "unknown", "deleted"]


class S3ObjectRef(BaseModel):
    key: str
    size: int | None = None


class S3BucketRef(BaseModel):
    name: str


class S3Entity(BaseModel):
    bucket: S3BucketRef
    object: S3ObjectRef = Field(alias="object")


class S3Record(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_name: str = Field(alias="eventName")
    s3: S3Entity


class S3Notification(BaseModel):
    """The body S3 sends to the ingest queue."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "Records": [
                        {
                            "eventVersion": "2.1",
                            "eventSource": "aws:s3",
                            "eventName": "ObjectCreated:Post",
                            "s3": {
                                "bucket": {"name": "stratus-local-uploads"},
                                "object": {
                                    "key": "uploads/00000000-0000-4000-8000-0000000000aa/"
                                    "00000000-0000-4000-8000-000000000001",
                                    "size": 42,
                                },
                            },
                        }
                    ]
                }
            ]
        },
    )

    records: list[S3Record] = Field(alias="Records")


def _now() -> datetime:
    return datetime.now(UTC)


def ingest_notification(notification: S3Notification) -> list[Outcome]:
    """Ingest every created object the notification names."""
    return [
        ingest_object(unquote_plus(record.s3.object.key))
        for record in notification.records
        if record.event_name.startswith("ObjectCreated")
    ]


def _claim(key: str) -> Document | None:
    with db.session_scope() as session:
        document = repository.by_key(session, key)
        if document is None:
            return None
        if not repository.claim(
            session, document.id, now=_now(), stale_before=_now() - STALE_AFTER
        ):
            return None
        session.refresh(document)
        return document


def _set_status(document_id: uuid.UUID, status: str, error: str | None = None) -> None:
    with db.session_scope() as session:
        repository.release(session, document_id, status=status, error=error)


def ingest_object(key: str) -> Outcome:
    """Ingest the object at ``key`` into its document."""
    with db.session_scope() as session:
        exists = repository.by_key(session, key) is not None
    if not exists:
        logger.warning("No document for this object: ignored", extra={"key": key})
        return "unknown"
    document = _claim(key)
    if document is None:
        logger.info("Document already ingested or being ingested: skipped", extra={"key": key})
        return "skipped"
    started = time.perf_counter()
    try:
        outcome = _ingest_claimed(document)
    except Exception:
        observability.count(observability.INGEST_FAILURES)
        raise
    if outcome == "ready":
        observability.count(observability.DOCUMENTS_INGESTED)
        observability.milliseconds(
            observability.INGEST_DURATION, (time.perf_counter() - started) * 1000
        )
    elif outcome == "failed":
        observability.count(observability.INGEST_FAILURES)
    return outcome


def _ingest_claimed(document: Document) -> Outcome:
    """Read, split, embed and store a claimed document."""
    from shared.documents.extract import ExtractionError

    try:
        pieces = _read_and_split(document)
        vectors = _embed(document.title, pieces)
    except ExtractionError as exc:
        with db.session_scope() as session:
            if repository.release(session, document.id, status="failed", error=str(exc)):
                _notify(session, document, "document_failed", error=str(exc))
        logger.info("Document failed to parse", extra={"document_id": str(document.id)})
        return "failed"
    except Exception:
        _set_status(document.id, "queued")  # let the retry claim it again
        raise
    return _store(document, pieces, vectors)


def _read_and_split(document: Document) -> list[str]:
    from shared.documents.chunking import split
    from shared.documents.extract import ExtractionError, check_content, extract_text

    try:
        data = storage.read(document.s3_key)
    except storage.Missing:
        raise ExtractionError("The uploaded file is missing.") from None
    check_content(data, declared_type=document.content_type, declared_size=document.size_bytes)
    return split(extract_text(data, document.content_type))


def _embed(title: str, pieces: list[str]) -> list[list[float]]:
    """One vector per chunk, of the title and the chunk together (a title is searchable)."""
    from shared.embeddings import document_text, get_embedder

    embedder = get_embedder()
    texts = [document_text(title, piece) for piece in pieces]
    vectors: list[list[float]] = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors.extend(embedder.embed(texts[start : start + EMBED_BATCH]))
    return vectors


def _store(document: Document, pieces: list[str], vectors: list[list[float]]) -> Outcome:
    from shared.vectors import VectorRecord, get_vector_store

    store = get_vector_store()
    store.delete_document(str(document.id))  # a retry may have split differently: start clean
    store.upsert(
        [
            VectorRecord(
                document_id=str(document.id),
                owner_id=str(document.owner_id),
                chunk_index=index,
                vector=vector,
            )
            for index, vector in enumerate(vectors)
        ]
    )
    with db.session_scope() as session:
        current = repository.get(session, document.id, for_update=True)
        if current is None:  # deleted while it was being ingested
            store.delete_document(str(document.id))
            return "deleted"
        repository.replace_chunks(session, current, pieces)
        current.status = "ready"
        current.chunk_count = len(pieces)
        current.error = None
        current.processing_started_at = None
        _notify(session, document, "document_ready")
    logger.info("Document ready", extra={"document_id": str(document.id), "chunks": len(pieces)})
    # The vectors are searchable already; move written ones into the approximate index now,
    # at least as many as this document wrote, so that the backlog does not grow.
    store.index_pending(limit=max(INDEX_AFTER_INGEST, len(pieces)))
    return "ready"


def _notify(session: Session, document: Document, kind: Kind, **data: str) -> None:
    """Queue the outcome's notification in the transaction that records the outcome (the
    outbox): a committed ``ready`` or ``failed`` always gets its notification."""
    from shared.notifications.messages import Notify, queue

    # The id is derived from the document and the outcome: a redelivered message that reaches
    # this point again queues the same notification, which is stored and emailed once.
    notification_id = uuid.uuid5(document.id, kind)
    queue(
        session,
        Notify(
            id=notification_id,
            user_id=document.owner_id,
            kind=kind,
            data={"title": document.title, **data},
        ),
    )
