"""The pgvector store: chunk embeddings in PostgreSQL (RDS in AWS, the embedded PostgreSQL 18
locally), searched by cosine distance through an HNSW index.

Table ``chunk_vectors`` (``shared.vectors.models``): ``chunk_id`` (the key), ``document_id``,
``owner_id``, ``chunk_index``, ``embedding vector(256)``; btree indexes on the owner and the
document, and ``hnsw (embedding vector_cosine_ops)``.

Search keeps the store's contract, **k hits whenever the owner has at least k vectors**, which a
plain HNSW query does not: PostgreSQL applies ``WHERE owner_id = ...`` *after* the index scan, so
an owner with a small share of a big table gets as few as 1 of 10 (docs/vectors.md). So:

1. With ``document_ids``, or when the owner has fewer than ``exact_below`` vectors (counted up to
   that bound, on the owner index), the search is **exact**: the owner's (or the documents')
   rows through their btree index, sorted by distance (the graph index is partial, ``WHERE
   indexed``, so a query that does not say ``indexed`` cannot use it).
2. Otherwise the HNSW index with pgvector's **iterative scan** (``relaxed_order``: the scan goes on
   until ``top_k`` rows pass the owner filter, or ``hnsw.max_scan_tuples``), re-sorted by exact
   distance; an owner this large is a large share of what the scan meets.
3. If that still returns fewer than ``top_k`` rows (an owner of 10,000 vectors in a table of
   millions can exhaust ``max_scan_tuples``), the exact search runs instead.

**Writes skip the graph.** Maintaining the HNSW graph as rows arrive caps inserts at a few
hundred rows a second (docs/benchmarks.md), so a write stores the row with ``indexed = false``
and the graph index is *partial* (``WHERE indexed``): the insert costs a plain row, and the new
vectors are searchable at once. A search that uses the graph also searches the owner's pending
rows exactly (a partial btree index holds them) and merges the two. :meth:`index_pending` moves
pending rows into the graph (``indexed = true``, in chunk-id batches, ``SKIP LOCKED`` so that
several callers share the work); the ingest worker calls it after each document, the
maintenance job every hour.

Every call is its own unit of work (``shared.platform.db.session_scope`` by default), as with the
OpenSearch adapter: writes are committed, and so visible to the next search, when it returns.
Scores are cosine similarities (``1 - cosine distance``), in [-1, 1].
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from shared.vectors import VectorHit, VectorRecord, VectorStoreError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SessionFactory = Callable[[], AbstractContextManager["Session"]]

#: Below this many vectors an owner is searched exactly (2.5-7 ms at 5,000: docs/vectors.md).
EXACT_BELOW = 10_000
EXACT = (
    "SELECT document_id, chunk_index, embedding <=> :q AS distance FROM chunk_vectors"
    " WHERE owner_id = :owner ORDER BY distance, chunk_id LIMIT :k"
)
EXACT_IN_DOCUMENTS = (
    "SELECT document_id, chunk_index, embedding <=> :q AS distance FROM chunk_vectors"
    " WHERE owner_id = :owner AND document_id = ANY(:documents)"
    " ORDER BY distance, chunk_id LIMIT :k"
)
ROW = "(%s, %s::uuid, %s::uuid, %s, %s::vector, false)"
UPSERT = (
    "INSERT INTO chunk_vectors (chunk_id, document_id, owner_id, chunk_index, embedding, indexed)"
    " VALUES {rows} ON CONFLICT (chunk_id) DO UPDATE SET document_id = excluded.document_id,"
    " owner_id = excluded.owner_id, chunk_index = excluded.chunk_index,"
    " embedding = excluded.embedding, indexed = false"
)
#: The graph's nearest indexed rows of the owner, and the owner's pending rows searched exactly
#: (their partial btree index), in one statement; merged and cut to top_k by the caller.
APPROXIMATE = (
    "WITH nearest AS MATERIALIZED ("
    " SELECT document_id, chunk_index, chunk_id, embedding <=> :q AS distance"
    " FROM chunk_vectors WHERE owner_id = :owner AND indexed ORDER BY embedding <=> :q LIMIT :k)"
    " SELECT document_id, chunk_index, distance, chunk_id FROM nearest"
    " UNION ALL (SELECT document_id, chunk_index, embedding <=> :q AS distance, chunk_id"
    " FROM chunk_vectors WHERE owner_id = :owner AND NOT indexed"
    " ORDER BY distance, chunk_id LIMIT :k)"
)
INDEX_PENDING = (
    "UPDATE chunk_vectors SET indexed = true WHERE chunk_id IN (SELECT chunk_id FROM"
    " chunk_vectors WHERE NOT indexed ORDER BY chunk_id LIMIT :n FOR UPDATE SKIP LOCKED)"
)
FLOAT32_MAX = 3.4028234663852886e38
#: Rows per INSERT statement of an upsert.
BATCH = 500


def _as_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"{what} must be a UUID") from None


def _maybe_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class PgVectorStore:
    """The ``VECTOR_STORE=pgvector`` adapter (see the module docstring)."""

    def __init__(
        self,
        *,
        dimensions: int = 256,
        session_factory: SessionFactory | None = None,
        exact_below: int = EXACT_BELOW,
        ef_search: int = 40,
    ) -> None:
        from shared.vectors.models import DIMENSIONS

        if dimensions != DIMENSIONS:
            raise ValueError(
                f"the pgvector table holds vectors of {DIMENSIONS} dimensions, not {dimensions}"
            )
        if session_factory is None:
            from shared.platform.db import session_scope

            session_factory = session_scope
        self.dimensions = dimensions
        self._session_factory = session_factory
        self._exact_below = exact_below
        self._ef_search = ef_search
        self._checked = False

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Insert or replace ``records`` by chunk id, in one transaction (the last record wins
        when a chunk id appears twice). ``INSERT ... ON CONFLICT DO UPDATE``: two deliveries of
        one message writing at the same time still leave one row per chunk."""
        rows: dict[str, tuple[Any, ...]] = {}
        for record in records:
            if isinstance(record.chunk_index, bool) or not isinstance(record.chunk_index, int):
                raise ValueError("chunk_index must be an integer")
            if record.chunk_index < 0:
                raise ValueError("chunk_index must not be negative")
            document_id = _as_uuid(record.document_id, "document_id")
            chunk_id = f"{document_id}:{record.chunk_index}"
            vector = self._vector(record.vector, "a vector")
            rows[chunk_id] = (
                chunk_id,
                str(document_id),
                str(_as_uuid(record.owner_id, "owner_id")),
                record.chunk_index,
                # pgvector's text form; repr is the shortest exact form of each float
                "[" + ",".join(map(repr, vector)) + "]",
            )
        if not rows:
            return
        # In chunk id order: concurrent writers of overlapping chunks then lock rows in one
        # order and cannot deadlock.
        values = [rows[chunk_id] for chunk_id in sorted(rows)]
        with self._session() as session:
            connection = session.connection()
            for start in range(0, len(values), BATCH):
                batch = values[start : start + BATCH]
                # One multi-row statement on the driver: SQLAlchemy's compilation of 500 rows
                # of bound vectors cost more than the insert itself (1,000 rows/s against
                # 10,000+ without the HNSW index).
                connection.exec_driver_sql(
                    UPSERT.format(rows=",".join([ROW] * len(batch))),
                    tuple(value for row in batch for value in row),
                )

    def index_pending(self, limit: int = 2000) -> int:
        """Move up to ``limit`` pending rows into the HNSW graph, 500 per transaction; return how
        many moved (0 when none is left)."""
        from sqlalchemy import text

        moved = 0
        while moved < limit:
            with self._session() as session:
                result = session.execute(text(INDEX_PENDING), {"n": min(BATCH, limit - moved)})
                count = int(getattr(result, "rowcount", 0) or 0)
            moved += count
            if count == 0:
                break
        return moved

    def delete_document(self, document_id: str) -> None:
        """Remove every vector of ``document_id`` (an id that is no UUID matches nothing)."""
        self._delete("document_id", document_id)

    def delete_owner(self, owner_id: str) -> None:
        """Remove every vector of ``owner_id``."""
        self._delete("owner_id", owner_id)

    def _delete(self, column: str, value: str) -> None:
        from sqlalchemy import delete

        from shared.vectors.models import ChunkVector

        parsed = _maybe_uuid(value)
        if parsed is None:
            return
        with self._session() as session:
            session.execute(delete(ChunkVector).where(getattr(ChunkVector, column) == parsed))

    # -- search -----------------------------------------------------------------------------

    def search(
        self,
        *,
        owner_id: str,
        vector: Sequence[float],
        top_k: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """The ``top_k`` chunks of ``owner_id`` (of ``document_ids`` when given) most similar to
        ``vector``, best first."""
        query = self._vector(vector, "the query vector")
        owner = _maybe_uuid(owner_id)
        if top_k <= 0 or owner is None:
            return []
        documents: list[uuid.UUID] | None = None
        if document_ids is not None:
            documents = sorted({d for d in map(_maybe_uuid, document_ids) if d is not None})
            if not documents:
                return []
        with self._session() as session:
            if documents is None and self._owner_size(session, owner) >= self._exact_below:
                rows = self._approximate(session, owner, query, top_k)
                if len(rows) < top_k:  # the scan gave up before top_k rows passed the filter
                    rows = self._exact(session, owner, None, query, top_k)
            else:
                rows = self._exact(session, owner, documents, query, top_k)
        return [
            VectorHit(str(document_id), int(index), max(-1.0, min(1.0, 1.0 - float(distance))))
            for document_id, index, distance in rows
        ]

    def _owner_size(self, session: Session, owner: uuid.UUID) -> int:
        """How many vectors ``owner`` has, counted up to ``exact_below`` only."""
        from sqlalchemy import text

        statement = text(
            "SELECT count(*) FROM (SELECT 1 FROM chunk_vectors WHERE owner_id = :owner"
            " LIMIT :bound) AS owned"
        )
        params = {"owner": owner, "bound": self._exact_below}
        return int(session.execute(statement, params).one()[0])

    def _exact(
        self,
        session: Session,
        owner: uuid.UUID,
        documents: list[uuid.UUID] | None,
        query: list[float],
        top_k: int,
    ) -> list[Any]:
        from sqlalchemy import bindparam, text

        from shared.vectors.models import ChunkVector

        # The graph index is partial (WHERE indexed): a query that does not say "indexed"
        # cannot use it, so this one reads the owner's (or the documents') rows through their
        # btree index and sorts them: exact.
        params: dict[str, Any] = {"owner": owner, "q": query, "k": top_k}
        if documents is not None:
            params["documents"] = documents
        sql = EXACT_IN_DOCUMENTS if documents is not None else EXACT
        vector_type = ChunkVector.__table__.c.embedding.type
        statement = text(sql).bindparams(bindparam("q", type_=vector_type))
        return list(session.execute(statement, params))

    def _approximate(
        self, session: Session, owner: uuid.UUID, query: list[float], top_k: int
    ) -> list[Any]:
        from sqlalchemy import bindparam, text

        from shared.vectors.models import ChunkVector

        # Transaction-local settings, in one round trip: the iterative scan goes on until top_k
        # rows pass the owner filter; sorting is penalised so that the planner keeps the graph
        # plan for an owner that is most of the table (the owner index and a sort of all its
        # rows is exact, and 60-180 ms at 100,000).
        session.execute(
            text(
                "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),"
                " set_config('hnsw.ef_search', :ef, true), set_config('enable_sort', 'off', true)"
            ),
            {"ef": str(max(self._ef_search, top_k))},
        )
        vector_type = ChunkVector.__table__.c.embedding.type
        statement = text(APPROXIMATE).bindparams(bindparam("q", type_=vector_type))
        rows = list(session.execute(statement, {"owner": owner, "q": query, "k": top_k}))
        rows.sort(key=lambda row: (row[2], row[3]))
        return [row[:3] for row in rows[:top_k]]

    # -- parts ------------------------------------------------------------------------------

    def _session(self) -> AbstractContextManager[Session]:
        if not self._checked:
            self._check_table()
        return self._session_factory()

    def _check_table(self) -> None:
        """Fail clearly, once, when the database has no pgvector table (migration 0006 leaves
        it out on a server without the ``vector`` extension)."""
        from sqlalchemy import text

        with self._session_factory() as session:
            found = session.execute(
                text(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                    " WHERE attrelid = to_regclass('chunk_vectors') AND attname = 'embedding'"
                )
            ).scalar()
        if found is None:
            raise VectorStoreError(
                "VECTOR_STORE=pgvector: the database has no chunk_vectors table with an"
                " embedding column; its server lacked the vector extension when migration 0006"
                " ran (docs/vectors.md: install pgvector, then migrate down to 0005 and up again)"
            )
        if found != f"vector({self.dimensions})":
            raise VectorStoreError(
                f"chunk_vectors.embedding is {found}, not vector({self.dimensions})"
            )
        self._checked = True

    def _vector(self, vector: Sequence[float] | Iterable[float], what: str) -> list[float]:
        try:
            values = [float(x) for x in vector]
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a sequence of numbers") from None
        if len(values) != self.dimensions:
            raise ValueError(f"{what} must have {self.dimensions} dimensions, not {len(values)}")
        if not all(math.isfinite(x) and abs(x) <= FLOAT32_MAX for x in values):
            raise ValueError(f"{what} must hold finite numbers in the float32 range")
        if not any(values):
            raise ValueError(f"{what} is zero: it has no direction to compare")
        return values


__all__ = ["EXACT_BELOW", "PgVectorStore", "SessionFactory"]
