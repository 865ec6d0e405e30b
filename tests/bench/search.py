"""pgvector search at 100,000 chunks of one owner: ``python -m tests.bench.search``
(``make bench-vectors``; docs/benchmarks.md).

A private embedded PostgreSQL (or ``DATABASE_URL``): owner A's ``--chunks`` clustered 256-d unit
vectors (50 a document) beside owner B's 5,000, loaded in bulk, then the HNSW index built. Through
``PgVectorStore`` (``shared.platform.db``'s engine), top 10:

- *warm*: p50 / p95 of ``--queries`` searches after a warm-up, for A (HNSW, iterative scan) and B
  (exact: below ``EXACT_BELOW``), with recall@10 against numpy's exact top 10;
- *3 documents*: A restricted to three of its documents (exact, on the document index);
- *first search after a write*: 20 times, upsert 20 chunks of A (committed), then search;
- *with a backlog*: A with 10,000 written vectors not moved into the graph yet;
- *after a restart*: the server restarted, a new engine, the first search (buffers cold).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid

import numpy as np


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    from shared.platform import db
    from shared.vectors import VectorRecord
    from shared.vectors.pgvector import EXACT_BELOW, PgVectorStore
    from tests.bench.pg import bulk_load, clustered, database

    owner_a, owner_b = uuid.uuid4(), uuid.uuid4()
    with database():
        vectors_a, vectors_b = clustered(args.chunks, 1), clustered(5000, 2)
        load = bulk_load([(owner_a, vectors_a), (owner_b, vectors_b)])
        print(
            f"loaded {args.chunks:,} + 5,000 chunks: {load['rows_per_s']:,.0f} rows/s without the"
            f" index; HNSW index built in {load['index_build_s']:.1f} s"
        )
        store = PgVectorStore()
        queries = clustered(args.queries + 20, 3)
        exact_a = np.argsort(-(queries @ vectors_a.T), axis=1)[:, :10]
        exact_b = np.argsort(-(queries @ vectors_b.T), axis=1)[:, :10]
        rows = []
        for label, owner, exact, docs in (
            (f"A ({args.chunks:,} chunks, HNSW)", owner_a, exact_a, load["documents"][owner_a]),
            ("B (5,000 chunks, exact)", owner_b, exact_b, load["documents"][owner_b]),
        ):
            for q in queries[:20]:  # warm-up
                store.search(owner_id=str(owner), vector=q.tolist(), top_k=10)
            latencies, recalls, counts = [], [], []
            for i, q in enumerate(queries[20:], 20):
                t = time.perf_counter()
                hits = store.search(owner_id=str(owner), vector=q.tolist(), top_k=10)
                latencies.append(1000 * (time.perf_counter() - t))
                found = {(uuid.UUID(h.document_id), h.chunk_index) for h in hits}
                truth = {(docs[j // 50], j % 50) for j in exact[i]}
                recalls.append(len(found & truth) / 10)
                counts.append(len(hits))
            rows.append(
                (
                    label,
                    percentile(latencies, 50),
                    percentile(latencies, 95),
                    statistics.mean(recalls),
                    min(counts),
                )
            )
        print(f"exact below {EXACT_BELOW:,} vectors of an owner")
        print("| owner | warm p50, ms | warm p95, ms | recall@10 | fewest hits |")
        print("|---|---:|---:|---:|---:|")
        for label, p50, p95, recall, fewest in rows:
            print(f"| {label} | {p50:.1f} | {p95:.1f} | {recall:.3f} | {fewest} |")
        three = [str(d) for d in load["documents"][owner_a][:3]]
        latencies = []
        for q in queries[20:120]:
            t = time.perf_counter()
            store.search(owner_id=str(owner_a), vector=q.tolist(), top_k=10, document_ids=three)
            latencies.append(1000 * (time.perf_counter() - t))
        print(
            f"A in 3 documents: p50 {percentile(latencies, 50):.1f} ms,"
            f" p95 {percentile(latencies, 95):.1f} ms"
        )
        after_write = []
        fresh = clustered(20 * 20, 4)
        for n in range(20):
            document = str(uuid.uuid4())
            store.upsert(
                [
                    VectorRecord(document, str(owner_a), i, v)
                    for i, v in enumerate(fresh[20 * n : 20 * n + 20].tolist())
                ]
            )
            t = time.perf_counter()
            hits = store.search(owner_id=str(owner_a), vector=fresh[20 * n].tolist(), top_k=10)
            after_write.append(1000 * (time.perf_counter() - t))
            assert hits[0].document_id == document, "the new chunk is not found first"
        print(
            f"first search after a write of 20 chunks: p50 {percentile(after_write, 50):.1f} ms,"
            f" p95 {percentile(after_write, 95):.1f} ms, max {max(after_write):.1f} ms"
            " (the new chunk first every time)"
        )
        backlog = clustered(10_000, 6)
        for start in range(0, 10_000, 2000):
            document = str(uuid.uuid4())
            store.upsert(
                [
                    VectorRecord(document, str(owner_a), i, v)
                    for i, v in enumerate(backlog[start : start + 2000].tolist())
                ]
            )
        latencies = []
        for q in queries[20:120]:
            t = time.perf_counter()
            store.search(owner_id=str(owner_a), vector=q.tolist(), top_k=10)
            latencies.append(1000 * (time.perf_counter() - t))
        print(
            f"A with 10,000 written vectors not yet in the graph: p50"
            f" {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms"
        )
        db.reset()
        t = time.perf_counter()
        store.search(owner_id=str(owner_a), vector=queries[0].tolist(), top_k=10)
        print(f"new engine + connection + first search: {1000 * (time.perf_counter() - t):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
