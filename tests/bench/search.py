"""Search latency of the embedded vector store: ``python -m tests.bench.search`` (a benchmark, not
a timed test).

One owner gets 10,000 and then 100,000 random unit vectors (256-d, 50 chunks a document), next
to another owner's 5,000, in a SQLite file in a temporary folder and, when ``DATABASE_URL`` is
set, in that database too (its rows are deleted afterwards). For each size it reports the
upsert rate, the first search after a write (which loads the owner's matrix), and p50/p95 of
``--queries`` warm searches (after one warm-up): over all the owner's chunks, restricted to
three documents, restricted to three documents with nothing cached (the SQL ``IN`` path), and
with the pure-Python fallback (fewer queries). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from shared.vectors.embedded import EmbeddedVectorStore

from shared.platform import db
from shared.platform.migrate import upgrade
from shared.platform.settings import reset_settings
from shared.vectors import VectorRecord

CHUNKS_PER_DOCUMENT = 50
UPSERT_BATCH = 500  # records per upsert call, as the ingest worker would write a large file


@dataclass
class Row:
    database: str
    chunks: int
    insert_rate: float
    cold_ms: float
    warm: tuple[float, float]
    filtered: tuple[float, float]
    filtered_uncached: tuple[float, float]
    pure_python: tuple[float, float]


def unit_vectors(rng: np.random.Generator, count: int, dims: int) -> np.ndarray:
    vectors = rng.standard_normal((count, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def p50_p95(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def timed_ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


class Owner:
    """One owner's documents, written in chunks of ``CHUNKS_PER_DOCUMENT``."""

    def __init__(self) -> None:
        self.id = str(uuid.uuid4())
        self.documents: list[str] = []
        self.count = 0

    def records(self, vectors: np.ndarray) -> list[VectorRecord]:
        records = []
        for vector in vectors.tolist():
            index = self.count % CHUNKS_PER_DOCUMENT
            if index == 0:
                self.documents.append(str(uuid.uuid4()))
            records.append(VectorRecord(self.documents[-1], self.id, index, vector))
            self.count += 1
        return records


def upsert_all(store: EmbeddedVectorStore, records: list[VectorRecord]) -> float:
    started = time.perf_counter()
    for start in range(0, len(records), UPSERT_BATCH):
        store.upsert(records[start : start + UPSERT_BATCH])
    return len(records) / (time.perf_counter() - started)


def bench_database(name: str, url: str, args: argparse.Namespace) -> list[Row]:
    upgrade(url)
    os.environ["DATABASE_URL"] = url
    reset_settings()
    db.reset()
    rng = np.random.default_rng(20261126)
    store = EmbeddedVectorStore(dimensions=args.dims)
    fallback = EmbeddedVectorStore(dimensions=args.dims, use_numpy=False)
    owner, other = Owner(), Owner()
    rows: list[Row] = []
    try:
        upsert_all(store, other.records(unit_vectors(rng, args.other, args.dims)))
        for size in args.sizes:
            print(f"  {name}: writing {size - owner.count:,} vectors ...", file=sys.stderr)
            rate = upsert_all(
                store, owner.records(unit_vectors(rng, size - owner.count, args.dims))
            )
            queries = unit_vectors(rng, args.queries + 1, args.dims).tolist()

            def search(query: list[float], documents: list[str] | None = None) -> object:
                return store.search(
                    owner_id=owner.id, vector=query, top_k=args.top_k, document_ids=documents
                )

            cold = []
            for query in queries[:3]:
                store.clear_cache()
                cold.append(timed_ms(partial(search, query)))
            search(queries[0])  # warm-up
            warm = [timed_ms(partial(search, query)) for query in queries[1:]]

            def three_documents() -> list[str]:
                picks = rng.choice(len(owner.documents), size=3, replace=False)
                return [owner.documents[int(i)] for i in picks]

            filtered = [timed_ms(partial(search, q, three_documents())) for q in queries[1:]]
            uncached = []
            for query in queries[1 : 1 + args.uncached_queries]:
                documents = three_documents()
                store.clear_cache()
                uncached.append(timed_ms(partial(search, query, documents)))

            print(f"  {name}: {size:,} chunks, pure Python ...", file=sys.stderr)
            fallback.clear_cache()
            fallback.search(owner_id=owner.id, vector=queries[0], top_k=args.top_k)  # loads
            slow = [
                timed_ms(partial(fallback.search, owner_id=owner.id, vector=q, top_k=args.top_k))
                for q in queries[1 : 1 + args.python_queries]
            ]
            rows.append(
                Row(
                    name,
                    size,
                    rate,
                    statistics.median(cold),
                    p50_p95(warm),
                    p50_p95(filtered),
                    p50_p95(uncached),
                    p50_p95(slow),
                )
            )
    finally:
        store.delete_owner(owner.id)
        store.delete_owner(other.id)
        db.reset()
        reset_settings()
    return rows


def table(rows: list[Row], args: argparse.Namespace) -> str:
    def pair(values: tuple[float, float]) -> str:
        return f"{values[0]:,.1f} / {values[1]:,.1f}"

    lines = [
        "| database | owner's chunks | upsert, rows/s | first search after a write, ms "
        "| warm p50 / p95, ms | 3 documents, p50 / p95, ms "
        "| 3 documents, uncached, p50 / p95, ms | pure Python, p50 / p95, ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.database} | {row.chunks:,} | {row.insert_rate:,.0f} | {row.cold_ms:,.0f} "
            f"| {pair(row.warm)} | {pair(row.filtered)} | {pair(row.filtered_uncached)} "
            f"| {pair(row.pure_python)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--other", type=int, default=5_000, help="the other owner's vectors")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--uncached-queries", type=int, default=20)
    parser.add_argument("--python-queries", type=int, default=5)
    parser.add_argument("--top-k", type=int, default=10)
    args = parser.parse_args(argv)

    targets = []
    with tempfile.TemporaryDirectory() as folder:
        targets.append(("SQLite", f"sqlite:///{folder}/bench.db"))
        if os.environ.get("DATABASE_URL", "").startswith("postgres"):
            targets.append(("Postgres", os.environ["DATABASE_URL"]))
        rows = [row for name, url in targets for row in bench_database(name, url, args)]
    command = "python -m tests.bench.search " + " ".join(argv if argv is not None else sys.argv[1:])
    print(
        f"`{command.strip()}` ({platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} cores; top_k {args.top_k}, {args.dims}-d, {args.queries} queries "
        f"warm, {args.uncached_queries} uncached, {args.python_queries} pure Python)\n"
    )
    print(table(rows, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
