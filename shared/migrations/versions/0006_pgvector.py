"""The pgvector store replaces the embedded exact store: ``chunk_vectors`` becomes a
``vector(256)`` column with an HNSW index for cosine distance, partial (``WHERE indexed``): a
write skips the graph, and ``PgVectorStore.index_pending`` moves rows into it later.

The ``vector`` extension is created here (on RDS the master user, which runs the deploy job,
may; locally the embedded PostgreSQL 18 ships it). On a server that does not have the extension
at all (Debian's PostgreSQL 15, say) the old table is still dropped and the new one is left out
with a warning, so that the other tables can be used; the pgvector store then refuses to start
with a message that says so (docs/vectors.md: install pgvector, then migrate down to 0005 and up
again). Old vectors of 256 floats are carried over; vectors are derived data, and a document
re-ingested gets new ones anyway. A downgrade leaves the old table empty.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01
"""

import logging
import struct
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = 256
COPY_BATCH = 1000


def _has_pgvector() -> bool:
    found = op.get_bind().execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    )
    return found.scalar() is not None


def _old_rows() -> list[tuple[str, object, object, int, bytes]]:
    rows = op.get_bind().execute(
        sa.text("SELECT chunk_id, document_id, owner_id, chunk_index, vector FROM chunk_vectors")
    )
    return [tuple(row) for row in rows]


def upgrade() -> None:
    old = _old_rows()
    op.drop_table("chunk_vectors")
    if not _has_pgvector():
        logging.getLogger("alembic").warning(
            "this PostgreSQL server has no pgvector: chunk_vectors is not created, and"
            " VECTOR_STORE=pgvector cannot be used on it"
        )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    table = op.create_table(
        "chunk_vectors",
        sa.Column("chunk_id", sa.String(length=80), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("embedding", Vector(DIMENSIONS), nullable=False),
        sa.Column("indexed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("chunk_id", name=op.f("pk_chunk_vectors")),
    )
    op.create_index(op.f("ix_chunk_vectors_document_id"), "chunk_vectors", ["document_id"])
    op.create_index(op.f("ix_chunk_vectors_owner_id"), "chunk_vectors", ["owner_id"])
    op.create_index(
        "ix_chunk_vectors_pending",
        "chunk_vectors",
        ["owner_id"],
        postgresql_where=sa.text("NOT indexed"),
    )
    carried = [
        {
            "chunk_id": chunk_id,
            "document_id": document_id,
            "owner_id": owner_id,
            "chunk_index": chunk_index,
            "embedding": list(struct.unpack(f"<{DIMENSIONS}f", bytes(blob))),
            "indexed": True,
        }
        for chunk_id, document_id, owner_id, chunk_index, blob in old
        if len(blob) == 4 * DIMENSIONS and any(blob)
    ]
    for start in range(0, len(carried), COPY_BATCH):
        op.bulk_insert(table, carried[start : start + COPY_BATCH])
    # After the copy: building the graph once is faster than growing it row by row.
    op.create_index(
        "ix_chunk_vectors_embedding_hnsw",
        "chunk_vectors",
        ["embedding"],
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 32},
        postgresql_ops={"embedding": "vector_cosine_ops"},
        postgresql_where=sa.text("indexed"),
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS chunk_vectors")
    op.create_table(
        "chunk_vectors",
        sa.Column("chunk_id", sa.String(length=80), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("chunk_id", name=op.f("pk_chunk_vectors")),
    )
    op.create_index(op.f("ix_chunk_vectors_document_id"), "chunk_vectors", ["document_id"])
    op.create_index(op.f("ix_chunk_vectors_owner_id"), "chunk_vectors", ["owner_id"])
