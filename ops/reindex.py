"""Rebuild the vector index from the chunks in Postgres, with no search downtime.

The chunks table holds every ready document's text, as it was embedded; the vectors are derived
data. With the pgvector store the rebuild is *beside* the live table: a new table is filled with
the embeddings of every chunk, its indexes built (the HNSW graph built once, over full data, is
faster than row by row), and then, in one short transaction that holds off writers (readers
wait only for the renames), what was written meanwhile is carried over and the two tables swap
names. Searches keep being served from the old table until the swap, and from the new one after.

With the OpenSearch store every chunk is written again into the live index (idempotent by chunk
id: an upsert replaces), which the store creates when it is missing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from shared.platform import db

TABLE = "chunk_vectors"
REBUILD = "chunk_vectors_rebuild"
OLD = "chunk_vectors_replaced"
#: Chunks embedded and written per batch.
BATCH = 256

READY_CHUNKS = (
    "SELECT c.document_id, c.owner_id, c.chunk_index, c.text, d.title FROM chunks c"
    " JOIN documents d ON d.id = c.document_id WHERE d.status = 'ready'"
    " AND (c.document_id, c.chunk_index) > (:after_document, :after_index)"
    " ORDER BY c.document_id, c.chunk_index LIMIT :n"
)


@dataclass(frozen=True)
class Reindexed:
    engine: str
    chunks: int
    carried_over: int  # vectors written during the rebuild, kept at the swap
    seconds: float


def _ready_chunks() -> Iterator[list[Any]]:
    after: tuple[uuid.UUID, int] = (uuid.UUID(int=0), -1)
    while True:
        with db.session_scope() as session:
            rows = session.execute(
                text(READY_CHUNKS),
                {"after_document": after[0], "after_index": after[1], "n": BATCH},
            ).all()
        if not rows:
            return
        yield list(rows)
        after = (rows[-1].document_id, rows[-1].chunk_index)


def _embeddings(rows: list[Any]) -> list[list[float]]:
    from shared.embeddings import document_text, get_embedder

    return get_embedder().embed([document_text(r.title, r.text) for r in rows])


def reindex() -> Reindexed:
    """Rebuild the vectors of every ready document's chunks (see the module docstring)."""
    from shared.platform.settings import VectorSettings, get_settings

    started = time.perf_counter()
    if get_settings(VectorSettings).vector_store == "opensearch":
        chunks = _reupsert()
        return Reindexed("opensearch", chunks, 0, time.perf_counter() - started)
    chunks = _fill_beside()
    carried = _swap()
    return Reindexed("pgvector", chunks, carried, time.perf_counter() - started)


def _reupsert() -> int:
    from shared.vectors import VectorRecord, get_vector_store

    store = get_vector_store()
    written = 0
    for rows in _ready_chunks():
        vectors = _embeddings(rows)
        store.upsert(
            [
                VectorRecord(str(r.document_id), str(r.owner_id), r.chunk_index, vector)
                for r, vector in zip(rows, vectors, strict=True)
            ]
        )
        written += len(rows)
    return written


def _index_definitions(session: Any) -> list[tuple[str, str]]:
    rows = session.execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t"), {"t": TABLE}
    ).all()
    return [(r.indexname, r.indexdef) for r in rows]


def _fill_beside() -> int:
    with db.session_scope() as session:
        session.execute(text(f"DROP TABLE IF EXISTS {REBUILD}"))
        session.execute(
            text(f"CREATE TABLE {REBUILD} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        )
    written = 0
    for rows in _ready_chunks():
        vectors = _embeddings(rows)
        with db.session_scope() as session:
            connection = session.connection()
            values = [
                (
                    f"{r.document_id}:{r.chunk_index}",
                    str(r.document_id),
                    str(r.owner_id),
                    r.chunk_index,
                    "[" + ",".join(map(repr, vector)) + "]",
                )
                for r, vector in zip(rows, vectors, strict=True)
            ]
            connection.exec_driver_sql(
                f"INSERT INTO {REBUILD} (chunk_id, document_id, owner_id, chunk_index, embedding,"
                " indexed) VALUES "
                + ",".join(["(%s, %s::uuid, %s::uuid, %s, %s::vector, true)"] * len(values)),
                tuple(v for row in values for v in row),
            )
        written += len(rows)
    # The live table's indexes, built on the full table (its primary key among them).
    with db.session_scope() as session:
        primary = session.execute(
            text(
                "SELECT conname FROM pg_constraint WHERE contype = 'p'"
                f" AND conrelid = '{TABLE}'::regclass"
            )
        ).scalar()
        for name, definition in _index_definitions(session):
            beside = definition.replace(f"INDEX {name} ON", f"INDEX {name}_rebuild ON", 1).replace(
                f" public.{TABLE} ", f" public.{REBUILD} ", 1
            )
            session.execute(text(beside))
            if name == primary:
                session.execute(
                    text(
                        f"ALTER TABLE {REBUILD} ADD CONSTRAINT {name}_rebuild"
                        f" PRIMARY KEY USING INDEX {name}_rebuild"
                    )
                )
    return written


def _swap() -> int:
    """Carry over what was written meanwhile, then swap the tables (one transaction)."""
    with db.session_scope() as session:
        # Writers wait from here to the commit; readers until the renames.
        session.execute(text(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE"))
        carried = db.affected(
            session.execute(
                text(
                    f"INSERT INTO {REBUILD} SELECT * FROM {TABLE} live WHERE NOT EXISTS"
                    f" (SELECT 1 FROM {REBUILD} r WHERE r.document_id = live.document_id)"
                    " AND EXISTS (SELECT 1 FROM documents d WHERE d.id = live.document_id)"
                )
            )
        )
        # Documents deleted during the rebuild.
        session.execute(
            text(
                f"DELETE FROM {REBUILD} r WHERE NOT EXISTS"
                " (SELECT 1 FROM documents d WHERE d.id = r.document_id)"
            )
        )
        names = [name for name, _ in _index_definitions(session)]
        session.execute(text(f"DROP TABLE IF EXISTS {OLD}"))
        session.execute(text(f"ALTER TABLE {TABLE} RENAME TO {OLD}"))
        for name in names:
            session.execute(text(f"ALTER INDEX {name} RENAME TO {name}_replaced"))
        session.execute(text(f"ALTER TABLE {REBUILD} RENAME TO {TABLE}"))
        for name in names:
            session.execute(text(f"ALTER INDEX {name}_rebuild RENAME TO {name}"))
        session.execute(text(f"DROP TABLE {OLD}"))
    return carried
