"""The embedded vector store's table (the local runner and tests; OpenSearch in AWS)."""

from __future__ import annotations

import uuid

from sqlalchemy import Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from shared.platform.orm import Base


class ChunkVector(Base):
    """The embedded vector store's rows (the local runner and tests; OpenSearch in AWS)."""

    __tablename__ = "chunk_vectors"

    chunk_id: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<document>:<index>"
    document_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    chunk_index: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian
