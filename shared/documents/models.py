"""The Data service's tables: documents and the chunks of their text."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from shared.platform.orm import Base, utcnow


class Document(Base):
    """A user's document: its file in S3 (``s3_key``), its ingest status, its chunks."""

    __tablename__ = "documents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # No foreign key: deleting a user removes the row at once, and the purge job then finds
    # the user's documents, objects and vectors by owner.
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    title: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    s3_key: Mapped[str] = mapped_column(String(1024), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending_upload", index=True)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(1000), default=None)
    processing_started_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Claims by the ingest worker so far (its last attempt fails the document).
    ingest_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The ETag of the object the chunks were made from: a new upload (another ETag) to the
    #: same key is ingested again, a duplicate notification of the same one is not.
    ingested_etag: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_documents_owner_created", "owner_id", "created_at", "id"),)


class Chunk(Base):
    """One overlapping piece of a document's text, as it was embedded."""

    __tablename__ = "chunks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("documents.id", ondelete="CASCADE")
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    chunk_index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("document_id", "chunk_index"),)
