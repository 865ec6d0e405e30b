"""The vector store: one interface, two adapters.

``PgVectorStore`` (``shared.vectors.pgvector``) keeps the vectors in PostgreSQL with an HNSW
index: the default locally, and a choice in AWS on the RDS database. ``OpenSearchVectorStore``
(``shared.vectors.opensearch``) talks to an OpenSearch Serverless collection (the provisioned
default in AWS) or a managed domain. ``VECTOR_STORE`` picks one; :func:`get_vector_store` builds
it once per execution environment. Neither adapter is imported until then.

Scores are cosine similarities in [-1, 1], higher is better, whatever the adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, runtime_checkable

from shared.platform.settings import VectorSettings, get_settings

__all__ = [
    "VectorHit",
    "VectorRecord",
    "VectorSettings",
    "VectorStore",
    "VectorStoreError",
    "get_vector_store",
    "reset",
]


@dataclass(frozen=True)
class VectorRecord:
    """One chunk's embedding, as the ingest worker writes it."""

    document_id: str
    owner_id: str
    chunk_index: int
    vector: Sequence[float]

    @property
    def chunk_id(self) -> str:
        """The record's identity in every adapter: ``"<document_id>:<chunk_index>"``."""
        return f"{self.document_id}:{self.chunk_index}"


@dataclass(frozen=True)
class VectorHit:
    """One search result: which chunk, and its cosine similarity to the query."""

    document_id: str
    chunk_index: int
    score: float

    @property
    def chunk_id(self) -> str:
        return f"{self.document_id}:{self.chunk_index}"


class VectorStoreError(RuntimeError):
    """The store refused or failed a request (after the retries an adapter makes)."""


@runtime_checkable
class VectorStore(Protocol):
    """What the data service and the ingest worker need from a vector store."""

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Write ``records``; idempotent by chunk id (writing them twice leaves one copy)."""
        ...

    def delete_document(self, document_id: str) -> None:
        """Remove every vector of one document (a no-op when there is none)."""
        ...

    def index_pending(self, limit: int = 2000) -> int:
        """Finish indexing up to ``limit`` written vectors that are searchable but not in the
        approximate index yet; return how many (pgvector's writes skip the HNSW graph; the
        OpenSearch store indexes as it writes and returns 0)."""
        ...

    def delete_owner(self, owner_id: str) -> None:
        """Remove every vector of one owner (the purge after an account is deleted)."""
        ...

    def search(
        self,
        *,
        owner_id: str,
        vector: Sequence[float],
        top_k: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """The ``top_k`` chunks most similar to ``vector``, best first, among ``owner_id``'s
        vectors only (and only those of ``document_ids`` when given; an empty list matches
        nothing)."""
        ...


@lru_cache(maxsize=1)
def get_vector_store() -> VectorStore:
    """The vector store of this execution environment, built on first use from
    :class:`VectorSettings` (the pgvector store uses ``shared.platform.db``'s database; the
    OpenSearch store reads ``AWS_REGION`` and the boto3 credentials)."""
    settings = get_settings(VectorSettings)
    if settings.vector_store == "opensearch":
        from shared.platform.settings import Aws
        from shared.vectors.opensearch import OpenSearchVectorStore

        return OpenSearchVectorStore.from_settings(settings, region=get_settings(Aws).region)
    from shared.vectors.pgvector import PgVectorStore

    return PgVectorStore(dimensions=settings.embedding_dimensions)


def reset() -> None:
    """Forget the store (tests and the local runner change the environment)."""
    get_vector_store.cache_clear()
