"""The embedded vector store: exact cosine search over the ``chunk_vectors`` table.

It serves the local runner and the tests, on SQLite or Postgres (no pgvector needed).

Transactions: every call is its own unit of work, opened through ``session_factory``
(``shared.platform.db.session_scope`` by default) and committed before the call returns, exactly as
the OpenSearch adapter writes to a store outside the caller's transaction. A caller that deletes a
document therefore removes its vectors in a separate step (and may repeat it: every method is
idempotent).

Search: the owner filter, and the ``document_ids`` filter when the owner's vectors are not
cached, are applied in SQL; the scores are exact cosine similarities (stored vectors are
normalized when loaded, so the embedders' own normalization is not relied upon). With numpy
(the dev environment, the local runner) one owner's vectors are held as a float32 matrix and a
search is a matrix-vector product; without it (the Lambda layer) the same is done in pure
Python, over a hundred times slower.

Cache staleness bound: a cached matrix is used only while (a) no write for that owner has been
made through any ``EmbeddedVectorStore`` of this process since it was loaded (a process-wide
generation counter per owner, bumped after each commit), and (b) it is younger than
``cache_ttl_seconds`` (10 s by default). Writes made by this process are therefore seen by the
very next search; writes made by another process (another Lambda execution environment, a
script) are seen at most ``cache_ttl_seconds`` later. The local runner runs every function in
one process, so there it is always exact.
"""

from __future__ import annotations

import heapq
import math
import struct
import sys
import threading
import time
import uuid
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from operator import mul
from typing import TYPE_CHECKING, Any, cast

from shared.vectors import VectorHit, VectorRecord, VectorStoreError

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.orm import Session

SessionFactory = Callable[[], AbstractContextManager["Session"]]


@lru_cache(maxsize=1)
def _numpy() -> Any | None:
    """numpy when importable (dev and the local runner), else None (the Lambda layer)."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is in the dev environment
        return None
    return numpy


# Process-wide generation per owner, bumped after every committed write for that owner, so
# that every store instance of this process drops its cached matrix for that owner.
_generations: dict[str, int] = {}
_generations_lock = threading.Lock()


def _generation(owner_id: str) -> int:
    with _generations_lock:
        return _generations.get(owner_id, 0)


def _bump(owner_ids: Iterable[str]) -> None:
    with _generations_lock:
        for owner_id in owner_ids:
            _generations[owner_id] = _generations.get(owner_id, 0) + 1


@dataclass
class _Matrix:
    """One owner's vectors (or a subset of them), ready to score."""

    doc_ids: list[str]  # code -> document id
    code_of: dict[str, int]  # document id -> code
    codes: Any  # per row: the code of its document (numpy int32 array or list[int])
    chunk_indexes: Any  # per row (numpy int64 array or list[int])
    rows: Any  # unit-length rows: numpy (n, d) float32, or list[array('f')]
    dimensions: int
    nbytes: int

    @property
    def size(self) -> int:
        return len(self.codes)


@dataclass
class _Entry:
    matrix: _Matrix
    generation: int
    loaded_at: float


def _as_uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"{field} is not a UUID: {value!r}") from None


def _maybe_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _table() -> Table:
    from shared.vectors.models import ChunkVector

    return cast("Table", ChunkVector.__table__)  # declared as a FromClause


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class EmbeddedVectorStore:
    """Exact cosine search over ``chunk_vectors``, with a per-owner matrix cache.

    ``dimensions``: when set, every vector written or searched must have that length.
    ``session_factory``: a context manager factory yielding a session that commits on exit.
    ``cache_ttl_seconds``: the staleness bound for writes made by other processes (0: no cache).
    ``cache_max_bytes``: the cache's budget; least recently used owners are dropped first.
    ``use_numpy``: None (use it when importable), or force one path (tests, the benchmark).
    """

    def __init__(
        self,
        *,
        dimensions: int | None = None,
        session_factory: SessionFactory | None = None,
        cache_ttl_seconds: float = 10.0,
        cache_max_bytes: int = 256 * 1024 * 1024,
        use_numpy: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        batch_size: int = 1000,
    ) -> None:
        if session_factory is None:
            from shared.platform.db import session_scope

            session_factory = session_scope
        if use_numpy and _numpy() is None:
            raise RuntimeError("use_numpy=True but numpy is not installed")
        self._dimensions = dimensions
        self._session_factory = session_factory
        self._ttl = cache_ttl_seconds
        self._max_bytes = cache_max_bytes
        self._use_numpy = use_numpy is not False
        self._clock = clock
        self._batch_size = batch_size
        self._cache: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._cache_bytes = 0
        self._cache_lock = threading.Lock()

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Insert or replace ``records`` by chunk id, in one transaction (the last record wins
        when one chunk id appears twice)."""
        from sqlalchemy import select

        from shared.vectors.models import ChunkVector

        rows: dict[str, dict[str, Any]] = {}
        for record in records:
            if isinstance(record.chunk_index, bool) or not isinstance(record.chunk_index, int):
                raise ValueError("chunk_index must be an integer")
            if record.chunk_index < 0:
                raise ValueError("chunk_index must not be negative")
            document_id = _as_uuid(record.document_id, "document_id")
            owner_id = _as_uuid(record.owner_id, "owner_id")
            chunk_id = f"{document_id}:{record.chunk_index}"
            rows[chunk_id] = {
                "chunk_id": chunk_id,
                "document_id": document_id,
                "owner_id": owner_id,
                "chunk_index": record.chunk_index,
                "vector": self._encode(record.vector),
            }
        if not rows:
            return
        owners = {str(row["owner_id"]) for row in rows.values()}
        with self._session_factory() as session:
            upsert = self._upsert_statement(session)
            for batch in _batches(list(rows.values()), self._batch_size):
                chunk_ids = [row["chunk_id"] for row in batch]
                # A chunk that changes owner must drop the previous owner's cached matrix too.
                previous = session.execute(
                    select(ChunkVector.owner_id)
                    .where(ChunkVector.chunk_id.in_(chunk_ids))
                    .distinct()
                ).scalars()
                owners.update(str(owner) for owner in previous)
                if upsert is None:  # another database: delete, then insert, in this transaction
                    self._delete_then_insert(session, chunk_ids, batch)
                else:
                    session.execute(upsert, list(batch))
        _bump(owners)

    @staticmethod
    def _upsert_statement(session: Session) -> Any:
        """``INSERT ... ON CONFLICT (chunk_id) DO UPDATE`` on SQLite and Postgres: idempotent
        even when two deliveries of one message write at the same time. None elsewhere."""

        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(_table())
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(_table())
        else:
            return None
        return statement.on_conflict_do_update(
            index_elements=["chunk_id"],
            set_={
                name: statement.excluded[name]
                for name in ("document_id", "owner_id", "chunk_index", "vector")
            },
        )

    @staticmethod
    def _delete_then_insert(
        session: Session, chunk_ids: list[str], batch: Sequence[dict[str, Any]]
    ) -> None:
        from sqlalchemy import delete, insert

        table = _table()
        session.execute(delete(table).where(table.c.chunk_id.in_(chunk_ids)))
        session.execute(insert(table), list(batch))

    def delete_document(self, document_id: str) -> None:
        """Remove every vector of ``document_id``."""
        from sqlalchemy import delete, select

        from shared.vectors.models import ChunkVector

        document = _maybe_uuid(document_id)
        if document is None:
            return
        with self._session_factory() as session:
            owners = (
                session.execute(
                    select(ChunkVector.owner_id)
                    .where(ChunkVector.document_id == document)
                    .distinct()
                )
                .scalars()
                .all()
            )
            table = _table()
            session.execute(delete(table).where(table.c.document_id == document))
        _bump(str(owner) for owner in owners)

    def delete_owner(self, owner_id: str) -> None:
        """Remove every vector of ``owner_id``."""
        from sqlalchemy import delete

        owner = _maybe_uuid(owner_id)
        if owner is None:
            return
        with self._session_factory() as session:
            table = _table()
            session.execute(delete(table).where(table.c.owner_id == owner))
        _bump([str(owner)])

    # -- search -----------------------------------------------------------------------------

    def search(
        self,
        *,
        owner_id: str,
        vector: Sequence[float],
        top_k: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """The ``top_k`` chunks of ``owner_id`` (and of ``document_ids``, when given) with the
        highest cosine similarity to ``vector``, best first."""
        if top_k <= 0:
            return []
        owner = _maybe_uuid(owner_id)
        if owner is None:
            return []
        wanted: set[str] | None = None
        if document_ids is not None:
            wanted = {str(parsed) for d in document_ids if (parsed := _maybe_uuid(d)) is not None}
            if not wanted:
                return []
        query = self._unit(self._values(vector), "the query vector")
        owner_key = str(owner)
        with self._session_factory() as session:
            key = (str(session.get_bind().engine.url), owner_key)
            matrix = self._cached(key, owner_key)
            if matrix is None:
                generation, started = _generation(owner_key), self._clock()
                if wanted is None:
                    matrix = self._load(session, owner, None)
                    self._remember(key, matrix, generation, started)
                else:  # a few documents: load just those, in SQL, and keep nothing
                    matrix = self._load(session, owner, wanted)
        return self._top_k(matrix, query, top_k, wanted)

    def clear_cache(self) -> None:
        """Drop every cached matrix (the benchmark measures cold searches with it)."""
        with self._cache_lock:
            self._cache.clear()
            self._cache_bytes = 0

    def _load(self, session: Session, owner: uuid.UUID, wanted: set[str] | None) -> _Matrix:
        from sqlalchemy import literal_column, select

        from shared.vectors.models import ChunkVector

        owner_column: Any = ChunkVector.owner_id
        if wanted is not None and session.get_bind().dialect.name == "sqlite":
            # Lacking ANALYZE statistics, SQLite would walk the owner index and read every row
            # of the owner (44 ms at 100,000 chunks); the no-op unary + keeps it on the
            # document index. Postgres picks the document index by itself.
            owner_column = literal_column(
                "+chunk_vectors.owner_id", type_=ChunkVector.owner_id.type
            )
        statement = select(
            ChunkVector.document_id, ChunkVector.chunk_index, ChunkVector.vector
        ).where(owner_column == owner)
        if wanted is not None:
            statement = statement.where(
                ChunkVector.document_id.in_([uuid.UUID(d) for d in sorted(wanted)])
            )
        by_uuid: dict[uuid.UUID, int] = {}
        codes: list[int] = []
        chunk_indexes: list[int] = []
        blobs: list[bytes] = []
        for document_id, chunk_index, blob in session.execute(statement):
            code = by_uuid.get(document_id)
            if code is None:
                code = by_uuid[document_id] = len(by_uuid)
            codes.append(code)
            chunk_indexes.append(chunk_index)
            blobs.append(bytes(blob))
        doc_ids = [str(document_id) for document_id in by_uuid]
        code_of = {document_id: code for code, document_id in enumerate(doc_ids)}
        sizes = {len(blob) for blob in blobs}
        if len(sizes) > 1 or any(size % 4 for size in sizes):
            raise VectorStoreError(f"owner {owner} has vectors of several lengths: {sorted(sizes)}")
        dimensions = sizes.pop() // 4 if sizes else 0
        np = _numpy() if self._use_numpy else None
        if np is not None:
            rows = np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32)
            rows = rows.reshape(len(blobs), dimensions)
            norms = np.linalg.norm(rows, axis=1)
            nonzero = norms > 0
            rows[nonzero] /= norms[nonzero, None]
            codes_array = np.asarray(codes, dtype=np.int32)
            indexes_array = np.asarray(chunk_indexes, dtype=np.int64)
            nbytes = int(rows.nbytes + codes_array.nbytes + indexes_array.nbytes)
            return _Matrix(doc_ids, code_of, codes_array, indexes_array, rows, dimensions, nbytes)
        unit_rows = [self._unit_row(blob) for blob in blobs]
        nbytes = len(blobs) * (dimensions * 4 + 120)
        return _Matrix(doc_ids, code_of, codes, chunk_indexes, unit_rows, dimensions, nbytes)

    @staticmethod
    def _unit_row(blob: bytes) -> array[float]:
        row = array("f", blob)
        if sys.byteorder == "big":  # pragma: no cover - the vectors are stored little-endian
            row.byteswap()
        norm = math.sqrt(sum(map(mul, row, row)))
        return array("f", [x / norm for x in row]) if norm > 0 else row

    def _top_k(
        self, matrix: _Matrix, query: list[float], top_k: int, wanted: set[str] | None
    ) -> list[VectorHit]:
        if matrix.size == 0:
            return []
        if len(query) != matrix.dimensions:
            raise ValueError(
                f"the query vector has {len(query)} dimensions, the stored ones {matrix.dimensions}"
            )
        wanted_codes: list[int] | None = None
        if wanted is not None:
            wanted_codes = [matrix.code_of[d] for d in wanted if d in matrix.code_of]
            if not wanted_codes:
                return []
        np = _numpy() if self._use_numpy and not isinstance(matrix.rows, list) else None
        best: list[tuple[float, int]]  # (score, row)
        if np is not None:
            q = np.asarray(query, dtype=np.float32)
            if wanted_codes is None:
                positions = None
                scores = matrix.rows @ q
            else:
                positions = np.flatnonzero(np.isin(matrix.codes, wanted_codes))
                scores = matrix.rows[positions] @ q
            k = min(top_k, scores.shape[0])
            top = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(k)
            top = top[np.lexsort((top, -scores[top]))]  # best first; ties by row
            rows = top if positions is None else positions[top]
            best = list(zip(scores[top].tolist(), rows.tolist(), strict=True))
        else:
            if wanted_codes is None:
                candidates: Iterable[int] = range(matrix.size)
            else:
                keep = set(wanted_codes)
                candidates = [i for i, code in enumerate(matrix.codes) if code in keep]
            scored = ((sum(map(mul, query, matrix.rows[i])), -i) for i in candidates)
            best = [(score, -negated) for score, negated in heapq.nlargest(top_k, scored)]
        return [
            VectorHit(
                document_id=matrix.doc_ids[int(matrix.codes[row])],
                chunk_index=int(matrix.chunk_indexes[row]),
                score=max(-1.0, min(1.0, float(score))),
            )
            for score, row in best
        ]

    # -- the cache --------------------------------------------------------------------------

    def _cached(self, key: tuple[str, str], owner_id: str) -> _Matrix | None:
        with self._cache_lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            fresh = self._clock() - entry.loaded_at < self._ttl
            if entry.generation != _generation(owner_id) or not fresh:
                self._forget(key)
                return None
            self._cache.move_to_end(key)
            return entry.matrix

    def _remember(
        self, key: tuple[str, str], matrix: _Matrix, generation: int, loaded_at: float
    ) -> None:
        if self._ttl <= 0 or matrix.nbytes > self._max_bytes:
            return
        with self._cache_lock:
            self._forget(key)
            self._cache[key] = _Entry(matrix, generation, loaded_at)
            self._cache_bytes += matrix.nbytes
            while self._cache_bytes > self._max_bytes:
                self._forget(next(iter(self._cache)))

    def _forget(self, key: tuple[str, str]) -> None:
        entry = self._cache.pop(key, None)
        if entry is not None:
            self._cache_bytes -= entry.matrix.nbytes

    # -- vectors ----------------------------------------------------------------------------

    def _values(self, vector: Sequence[float]) -> list[float]:
        try:
            values = [float(x) for x in vector]
        except (TypeError, ValueError):
            raise ValueError("a vector must be a sequence of numbers") from None
        if not values:
            raise ValueError("a vector must not be empty")
        if self._dimensions is not None and len(values) != self._dimensions:
            raise ValueError(f"a vector must have {self._dimensions} dimensions, not {len(values)}")
        if not all(math.isfinite(x) for x in values):
            raise ValueError("a vector must hold finite numbers")
        return values

    @staticmethod
    def _unit(values: list[float], what: str) -> list[float]:
        norm = math.sqrt(math.fsum(x * x for x in values))
        if norm == 0:
            raise ValueError(f"{what} is zero: it has no direction to compare")
        return [x / norm for x in values]

    def _encode(self, vector: Sequence[float]) -> bytes:
        """float32, little-endian: the column's documented layout."""
        values = self._values(vector)
        try:
            return struct.pack(f"<{len(values)}f", *values)
        except OverflowError:
            raise ValueError("a vector component is out of the float32 range") from None


__all__ = ["EmbeddedVectorStore", "SessionFactory"]
