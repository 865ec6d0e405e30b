"""The pgvector store's table: one row per chunk, its embedding in a ``vector(256)`` column with
an HNSW index for cosine distance (``shared.vectors.pgvector``; migration 0006).

The table exists only where the server has the ``vector`` extension (every RDS for PostgreSQL,
the embedded PostgreSQL 18 of ``make local`` and the tests); migration 0006 leaves it out, with a
warning, on a server without it.
"""

from __future__ import annotations

import uuid
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import Boolean, Index, Integer, String, Uuid, false, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.platform.orm import Base

#: The column's dimensions: the embedders' default (``EMBEDDING_DIMENSIONS``); another value
#: needs a migration, and ``VectorSettings`` refuses it with ``VECTOR_STORE=pgvector``.
DIMENSIONS = 256
TABLE = "chunk_vectors"
#: HNSW build parameters (docs/vectors.md has the measurements behind them).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 32
HNSW_INDEX = "ix_chunk_vectors_embedding_hnsw"
PENDING_INDEX = "ix_chunk_vectors_pending"


class ChunkVector(Base):
    """A chunk's embedding, keyed by ``"<document_id>:<chunk_index>"``."""

    __tablename__ = TABLE
    __table_args__: Any = (
        # The graph holds the rows moved into it (PgVectorStore.index_pending); writes skip it.
        Index(
            HNSW_INDEX,
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
            postgresql_ops={"embedding": "vector_cosine_ops"},
            postgresql_where=text("indexed"),
        ),
        Index(PENDING_INDEX, "owner_id", postgresql_where=text("NOT indexed")),
    )

    chunk_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    chunk_index: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[list[float]] = mapped_column(Vector(DIMENSIONS))
    #: In the HNSW graph yet (false from a write until ``index_pending`` moves it).
    indexed: Mapped[bool] = mapped_column(Boolean, server_default=false())
