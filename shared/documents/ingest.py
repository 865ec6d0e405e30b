"""The ingest worker's logic: an S3 ``ObjectCreated`` record in, a ``ready`` (or ``failed``)
document with its chunks and vectors out.

Exactly one effect per upload, however often or concurrently the message arrives: a delivery
first *claims* the document (``queued``/``pending_upload`` → ``processing`` in one conditional
UPDATE). A claim older than ``STALE_AFTER`` (the worker died half-way) is taken over; a delivery
that finds a fresh claim fails its record, so that SQS delivers it again after the visibility
timeout (never acknowledged while the work may still be lost). The timings come from
:data:`TIMING` (``shared.platform.redelivery``): the worker's declaration takes its timeout,
visibility timeout and ``maxReceiveCount`` from it, so a redelivered message always finds a
dead worker's claim stale.

Vectors are upserted by chunk id and chunks replaced in one transaction, so a retry after a
crash leaves one set of each. A file that cannot be parsed ends ``failed`` with a readable error
(no retry: it would fail the same way); any other error puts the document back to ``queued`` and
fails the record, so SQS retries it, except on the last attempt (``TIMING.max_attempts``
claims), which ends it ``failed`` with the ``document_failed`` notification. A document left
``queued``/``processing`` anyway (its message lost) is queued again, or failed once its attempts
are spent, by the maintenance job (:func:`requeue_stuck`).

An upload is known by its ETag (``ingested_etag``): a second upload to a ``ready`` or ``failed``
document's key (a replayed presigned POST, within its expiry) is ingested again, so the index
always follows the stored file; a duplicate notification of the same object is skipped. The
size recorded is the object's real size (the declared one is a maximum).
"""

from __future__ import annotations

import json
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from shared.documents import repository, storage
from shared.documents.models import Document
from shared.notifications.messages import Kind
from shared.platform import db, observability
from shared.platform.observability import logger, request_id_var
from shared.platform.redelivery import Redelivery

#: The ingest worker's timing: its function timeout and receive count, and all that follows
#: (its queue's visibility timeout, the claim's staleness, when a document is stuck).
TIMING = Redelivery(function_timeout_seconds=120, max_receive_count=5)
STALE_AFTER = TIMING.claim_stale_after
#: The queue the maintenance job sends stuck documents to again.
QUEUE = "ingest"
SPENT = "Ingestion did not complete after {attempts} attempts; upload the file again."
EMBED_BATCH = 64
#: Written vectors moved into the store's approximate index after each document, at least.
INDEX_AFTER_INGEST = 2000

Outcome = Literal["ready", "failed", "skipped", "unknown", "deleted"]


class S3ObjectRef(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key: str
    size: int | None = None
    etag: str | None = Field(default=None, alias="eTag")


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


#: The claims this thread of work took (document id → claimed at): a record run again after
#: its connection died (``shared.platform.worker``) takes its own claim back, when releasing it
#: failed too.
_MINE: ContextVar[dict[uuid.UUID, datetime] | None] = ContextVar("ingest_claims", default=None)


class ClaimHeld(Exception):
    """Another delivery holds a fresh claim on the document: this record is retried later."""


def ingest_notification(notification: S3Notification) -> list[Outcome]:
    """Ingest every created object the notification names."""
    return [
        ingest_object(unquote_plus(record.s3.object.key), etag=record.s3.object.etag)
        for record in notification.records
        if record.event_name.startswith("ObjectCreated")
    ]


def _claim(key: str, etag: str | None) -> Document | None:
    """The claimed document; None when there is nothing to do (already ingested from this
    object). Raises :class:`ClaimHeld` when a live worker holds it."""
    with db.session_scope() as session:
        document = repository.by_key(session, key)
        if document is None:
            return None
        now = _now()
        mine = _MINE.get()
        if mine is None:
            mine = {}
            _MINE.set(mine)
        if repository.claim(
            session,
            document.id,
            now=now,
            stale_before=now - STALE_AFTER,
            etag=etag,
            mine=mine.get(document.id),
        ):
            session.refresh(document)
            mine[document.id] = now
            return document
        if document.status == "processing":
            raise ClaimHeld(f"document {document.id} is being ingested by another delivery")
        return None


def ingest_object(key: str, *, etag: str | None = None) -> Outcome:
    """Ingest the object at ``key`` (of ETag ``etag``, when the notification says) into its
    document."""
    with db.session_scope() as session:
        exists = repository.by_key(session, key) is not None
    if not exists:
        logger.warning("No document for this object: ignored", extra={"key": key})
        return "unknown"
    document = _claim(key, etag)
    if document is None:
        logger.info("Document already ingested from this object: skipped", extra={"key": key})
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

    stored: storage.Stored | None = None
    try:
        stored = _read(document)
        pieces = _split(document, stored.data)
        vectors = _embed(document.title, pieces)
    except ExtractionError as exc:
        _fail(document, str(exc), etag=stored.etag if stored else None)
        logger.info("Document failed to parse", extra={"document_id": str(document.id)})
        return "failed"
    except Exception as exc:
        if document.ingest_attempts >= TIMING.max_attempts:
            # The last receive of the message: end it here rather than leave it to the DLQ
            _fail(document, SPENT.format(attempts=document.ingest_attempts))
            observability.log_failure(
                "Document failed on its last attempt", exc, document_id=str(document.id)
            )
            return "failed"
        _set_status(document.id, "queued")  # let the retry claim it again
        raise
    outcome = _store(document, pieces, vectors, stored)
    _forget_claim(document.id)
    return outcome


def _forget_claim(document_id: uuid.UUID) -> None:
    mine = _MINE.get()
    if mine is not None:
        mine.pop(document_id, None)


def _set_status(document_id: uuid.UUID, status: str, error: str | None = None) -> None:
    with db.session_scope() as session:
        repository.release(session, document_id, status=status, error=error)


def _fail(document: Document, error: str, *, etag: str | None = None) -> None:
    _forget_claim(document.id)
    with db.session_scope() as session:
        if repository.release(session, document.id, status="failed", error=error):
            if etag is not None:
                repository.set_ingested(session, document.id, etag=etag)
            _notify(session, document, "document_failed", error=error)
            _emit(session, document, "failed")


def _read(document: Document) -> storage.Stored:
    from shared.documents.extract import ExtractionError

    try:
        return storage.read(document.s3_key)
    except storage.Missing:
        raise ExtractionError("The uploaded file is missing.") from None


def _split(document: Document, data: bytes) -> list[str]:
    from shared.documents.chunking import split
    from shared.documents.extract import check_content, extract_text

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


def _store(
    document: Document, pieces: list[str], vectors: list[list[float]], stored: storage.Stored
) -> Outcome:
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
        current.size_bytes = len(stored.data)  # the declared size is a maximum
        current.ingested_etag = stored.etag
        current.error = None
        current.processing_started_at = None
        _notify(session, document, "document_ready")
        _emit(session, document, "ready")
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


# ---- stuck documents (the maintenance job) -----------------------------------------------------


def requeue_stuck(session: Session, *, now: datetime, limit: int = 500) -> dict[str, int]:
    """Documents left ``queued``/``processing`` for longer than a full redelivery cycle
    (``TIMING.stuck_after``: their message was lost, or ran out while its workers died): each
    goes back to the ingest queue (through the outbox, as ``queued``), or, once its attempts
    are spent, ends ``failed`` with its ``document_failed`` notification."""
    from shared.platform import outbox

    requeued = failed = 0
    for document in repository.stuck(
        session, unchanged_since=now - TIMING.stuck_after, limit=limit
    ):
        if document.ingest_attempts >= TIMING.max_attempts:
            error = SPENT.format(attempts=document.ingest_attempts)
            document.status, document.error = "failed", error
            document.processing_started_at = None
            _notify(session, document, "document_failed", error=error)
            _emit(session, document, "failed")
            failed += 1
        else:
            document.status, document.processing_started_at = "queued", None
            document.updated_at = now  # a full cycle again before the next look
            outbox.add(
                session,
                outbox.QueueMessage(
                    queue=QUEUE,
                    body=_notification_of(document.s3_key),
                    request_id=request_id_var.get(),
                ),
            )
            requeued += 1
    session.flush()
    if requeued or failed:
        logger.warning("Stuck documents handled", extra={"requeued": requeued, "failed": failed})
    return {"requeued_documents": requeued, "failed_documents": failed}


def _notification_of(key: str) -> str:
    """The body S3 would have sent for ``key`` (no ETag: it never re-ingests a ready one)."""
    body = {
        "Records": [
            {
                "eventName": "ObjectCreated:Requeued",
                "s3": {"bucket": {"name": storage.bucket_name()}, "object": {"key": key}},
            }
        ]
    }
    S3Notification.model_validate(body)
    return json.dumps(body)


def _emit(session: Session, document: Document, status: Literal["ready", "failed"]) -> None:
    """The outcome's webhook event, in the same transaction (ids and status only)."""
    from shared.webhooks.events import emit

    emit(
        session,
        "document.ready" if status == "ready" else "document.failed",
        owner_id=document.owner_id,
        data={
            "document_id": str(document.id),
            "owner_id": str(document.owner_id),
            "status": status,
        },
    )
