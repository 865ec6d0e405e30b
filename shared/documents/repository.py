"""The Data service's data access: the ``documents`` and ``chunks`` tables.

Status changes are conditional UPDATEs: the ingest worker and the API may act on one document at
once, and a change applies only from the state its caller saw.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.orm import Session

from shared.documents.models import Chunk, Document
from shared.platform import db, pagination


def get(session: Session, document_id: uuid.UUID, *, for_update: bool = False) -> Document | None:
    return session.get(Document, document_id, with_for_update=for_update)


def by_key(session: Session, key: str) -> Document | None:
    """The document whose file is the object ``key``."""
    return session.scalar(select(Document).where(Document.s3_key == key))


def add(session: Session, document: Document) -> Document:
    session.add(document)
    session.flush()
    return document


def remove(session: Session, document: Document) -> None:
    """Delete the row (its chunks cascade)."""
    session.delete(document)
    session.flush()


def mark_uploaded(session: Session, document_id: uuid.UUID) -> bool:
    """``pending_upload`` → ``queued`` (its file has landed); False if it had moved on."""
    result = session.execute(
        update(Document)
        .where(Document.id == document_id, Document.status == "pending_upload")
        .values(status="queued")
    )
    return db.affected(result) == 1


def claim(
    session: Session,
    document_id: uuid.UUID,
    *,
    now: datetime,
    stale_before: datetime,
    etag: str | None = None,
    mine: datetime | None = None,
) -> bool:
    """Take the document for ingestion; False when someone else holds it or nothing is new.

    Claimable: ``pending_upload``/``queued``; ``processing`` with a claim older than
    ``stale_before`` (its worker died); ``ready``/``failed`` when the object now has another
    ETag than the one ingested (a second upload to the key: its bytes are ingested again); the
    caller's own claim, taken at ``mine``. Each claim counts an attempt; a new upload starts
    counting again."""
    fresh_upload = and_(
        Document.status.in_(("ready", "failed")),
        or_(Document.ingested_etag.is_(None), Document.ingested_etag != etag),
    )
    claimable = [
        Document.status.in_(("pending_upload", "queued")),
        and_(Document.status == "processing", Document.processing_started_at < stale_before),
    ]
    if etag:
        claimable.append(fresh_upload)
    if mine is not None:
        claimable.append(
            and_(Document.status == "processing", Document.processing_started_at == mine)
        )
    result = session.execute(
        update(Document)
        .where(Document.id == document_id, or_(*claimable))
        .values(
            status="processing",
            processing_started_at=now,
            error=None,
            ingest_attempts=case(
                (Document.status.in_(("ready", "failed")), 1),
                else_=Document.ingest_attempts + 1,
            ),
        )
    )
    return db.affected(result) == 1


def stuck(session: Session, *, unchanged_since: datetime, limit: int) -> list[Document]:
    """Documents ``queued`` or ``processing`` that have not changed since ``unchanged_since``
    (their message was lost, or their worker died and its message ran out), locked for the
    caller and skipped by anyone else doing the same."""
    return list(
        session.scalars(
            select(Document)
            .where(
                Document.status.in_(("queued", "processing")),
                Document.updated_at < unchanged_since,
            )
            .order_by(Document.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def release(
    session: Session, document_id: uuid.UUID, *, status: str, error: str | None = None
) -> bool:
    """End a ``processing`` claim with ``status`` (``queued`` to retry, or ``failed``); False
    when the document is no longer ``processing`` (deleted meanwhile)."""
    released = session.execute(
        update(Document)
        .where(Document.id == document_id, Document.status == "processing")
        .values(status=status, error=error, processing_started_at=None)
    )
    return db.affected(released) == 1


def set_ingested(session: Session, document_id: uuid.UUID, *, etag: str) -> None:
    """Record the ETag of the object the document's outcome came from."""
    session.execute(update(Document).where(Document.id == document_id).values(ingested_etag=etag))


def replace_chunks(session: Session, document: Document, texts: Sequence[str]) -> None:
    """Make ``texts`` the document's chunks, in order, replacing any it had."""
    session.execute(delete(Chunk).where(Chunk.document_id == document.id))
    session.add_all(
        Chunk(document_id=document.id, owner_id=document.owner_id, chunk_index=i, text=text)
        for i, text in enumerate(texts)
    )


def page(
    session: Session,
    *,
    owner_id: uuid.UUID,
    status: str | None,
    scope: str,
    limit: int,
    after: str | None,
) -> tuple[list[Document], str | None]:
    """One page of an owner's documents (of one status, if given), newest first."""
    query = select(Document).where(Document.owner_id == owner_id)
    if status is not None:
        query = query.where(Document.status == status)
    items: list[Any]
    items, cursor = pagination.page(
        session, query, model=Document, scope=scope, limit=limit, after=after
    )
    return items, cursor


def ready_documents(
    session: Session, *, owner_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Document]:
    """The owner's ``ready`` documents among ``ids``, by id."""
    rows = session.scalars(
        select(Document).where(
            Document.id.in_(list(ids)),
            Document.owner_id == owner_id,
            Document.status == "ready",
        )
    )
    return {d.id: d for d in rows}


def chunk_texts(
    session: Session, document_ids: Iterable[uuid.UUID]
) -> dict[tuple[uuid.UUID, int], str]:
    """The text of every chunk of the documents, by ``(document id, chunk index)``."""
    rows = session.scalars(select(Chunk).where(Chunk.document_id.in_(list(document_ids))))
    return {(c.document_id, c.chunk_index): c.text for c in rows}


def abandoned(session: Session, *, created_before: datetime) -> list[Document]:
    """Documents still waiting for their upload that were created before ``created_before``."""
    return list(
        session.scalars(
            select(Document).where(
                Document.status == "pending_upload", Document.created_at < created_before
            )
        )
    )


def delete_owner(session: Session, owner_id: uuid.UUID) -> int:
    """Delete every document of an owner, with their chunks (the purge); returns how many."""
    session.execute(delete(Chunk).where(Chunk.owner_id == owner_id))
    return db.affected(session.execute(delete(Document).where(Document.owner_id == owner_id)))
