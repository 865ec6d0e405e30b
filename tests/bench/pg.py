"""What the vector benchmarks share: a private embedded PostgreSQL (or ``DATABASE_URL``), and a
bulk load of synthetic chunks for one owner."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

DIM = 256
#: Server settings for the benchmarks' own server: the index (137 MB at 100,000 chunks) fits in
#: the buffers, and building it gets the memory that keeps it fast (206 s with the default 64MB).
SERVER_SETTINGS = {"shared_buffers": "512MB", "maintenance_work_mem": "512MB"}


@contextmanager
def database() -> Iterator[str]:
    """``DATABASE_URL`` when set, else a fresh embedded server in a temporary folder, migrated;
    the URL is also put in ``DATABASE_URL`` for ``shared.platform.db``."""
    from shared.platform import db
    from shared.platform.migrate import upgrade
    from shared.platform.settings import reset_settings

    given = os.environ.get("DATABASE_URL")
    server = None
    folder = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
    try:
        if given:
            url = given
        else:
            from local.postgres import EmbeddedPostgres

            server = EmbeddedPostgres(folder / "pg", settings=SERVER_SETTINGS)
            server.start()
            url = server.create_database("bench")
            os.environ["DATABASE_URL"] = url
        upgrade(url)
        reset_settings()
        db.reset()
        yield url
    finally:
        db.reset()
        if server is not None:
            server.stop()
            os.environ.pop("DATABASE_URL", None)
        shutil.rmtree(folder, ignore_errors=True)


def clustered(n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors around 2,000 centroids: neighbours exist, as with real embeddings."""
    rng = np.random.default_rng(0)
    centroids = rng.normal(size=(2000, DIM)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    v = centroids[rng.integers(0, 2000, n)] + rng.normal(0, 0.06, (n, DIM)).astype(np.float32)
    result: np.ndarray = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    return result


def bulk_load(
    owners: list[tuple[uuid.UUID, np.ndarray]], *, per_document: int = 50
) -> dict[str, Any]:
    """Load each owner's vectors with the HNSW index dropped, then build it again (the fast way
    to fill a table: 52-79 s at 100,000 rows). Returns the timings and each owner's documents."""
    from sqlalchemy import text

    from shared.platform import db
    from shared.vectors.models import HNSW_EF_CONSTRUCTION, HNSW_INDEX, HNSW_M
    from shared.vectors.pgvector import PgVectorStore

    store = PgVectorStore()
    with db.engine().begin() as connection:
        connection.execute(text(f"DROP INDEX IF EXISTS {HNSW_INDEX}"))
    from shared.vectors import VectorRecord

    started = time.perf_counter()
    batch = 5000
    documents: dict[uuid.UUID, list[uuid.UUID]] = {}
    total = 0
    for owner, vectors in owners:
        docs = documents[owner] = [uuid.uuid4() for _ in range(0, len(vectors), per_document)]
        total += len(vectors)
        for start in range(0, len(vectors), batch):
            store.upsert(
                [
                    VectorRecord(str(docs[i // per_document]), str(owner), i % per_document, v)
                    for i, v in enumerate(vectors[start : start + batch].tolist(), start)
                ]
            )
    loaded = time.perf_counter()
    with db.engine().begin() as connection:
        connection.execute(text("UPDATE chunk_vectors SET indexed = true WHERE NOT indexed"))
        connection.execute(text("SET maintenance_work_mem = '512MB'"))
        connection.execute(
            text(
                f"CREATE INDEX {HNSW_INDEX} ON chunk_vectors USING hnsw"
                " (embedding vector_cosine_ops)"
                f" WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE indexed"
            )
        )
        connection.execute(text("ANALYZE chunk_vectors"))
    built = time.perf_counter()
    return {
        "load_s": loaded - started,
        "rows_per_s": total / (loaded - started),
        "index_build_s": built - loaded,
        "documents": documents,
    }
