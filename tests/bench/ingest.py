"""Ingest throughput on PostgreSQL: ``python -m tests.bench.ingest`` (``make bench-vectors``).

One megabyte of text through the ingest worker's whole pipeline, in process, as the worker runs
it: the content check, extraction, chunking (1,000 characters, 200 of overlap), embedding with the
default embedder (``EMBEDDER``, static unless set) of the title and each chunk, and indexing
into the pgvector store (HNSW maintained as rows arrive) plus the chunk rows, on a private
embedded PostgreSQL (or ``DATABASE_URL``). ``--preload 100000`` first fills the table with that
many chunks of the same owner (bulk, then the index built), so the inserts meet a graph of that
size. Reports chunks per second for each step and for the whole, median of ``--runs``;
``--writers 2`` splits the upsert over two connections at once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid

WORDS = (
    "invoice",
    "payment",
    "budget",
    "travel",
    "hardware",
    "contract",
    "meeting",
    "release",
    "customer",
    "support",
    "quarter",
    "revenue",
    "forecast",
    "hiring",
    "policy",
    "security",
    "incident",
    "review",
    "roadmap",
    "design",
    "data",
    "migration",
    "backup",
    "latency",
    "throughput",
    "database",
    "cache",
    "queue",
    "worker",
    "search",
    "vector",
)


def megabyte_of_text(seed: int = 7) -> str:
    import random

    rng = random.Random(seed)
    sentences = []
    size = 0
    while size < 1024 * 1024:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize()
        sentences.append(sentence + ".")
        size += len(sentence) + 2
        if rng.random() < 0.1:
            sentences.append("\n\n")
    return " ".join(sentences)[: 1024 * 1024]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--preload", type=int, default=0)
    parser.add_argument("--writers", type=int, default=1)
    args = parser.parse_args()
    import os

    from tests.bench.pg import database

    os.environ["DATABASE_POOL_SIZE"] = str(args.writers + 1)  # one connection per writer
    with database():
        return run(args)


def run(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from shared.documents.chunking import split
    from shared.documents.extract import check_content, extract_text
    from shared.documents.models import Chunk, Document
    from shared.embeddings import document_text, get_embedder
    from shared.platform import db
    from shared.vectors import VectorRecord, get_vector_store
    from tests.bench.pg import bulk_load, clustered

    owner = uuid.uuid4()
    if args.preload:
        load = bulk_load([(owner, clustered(args.preload, 5))])
        print(f"preloaded {args.preload:,} chunks; HNSW built in {load['index_build_s']:.0f} s")
    data = megabyte_of_text().encode()
    embedder, store = get_embedder(), get_vector_store()
    timings: dict[str, list[float]] = {k: [] for k in ("extract", "split", "embed", "index")}
    chunk_count = 0
    pool = ThreadPoolExecutor(max_workers=args.writers)
    for _ in range(args.runs):
        document = uuid.uuid4()
        started = time.perf_counter()
        check_content(data, declared_type="text/plain", declared_size=len(data))
        text = extract_text(data, "text/plain")
        extracted = time.perf_counter()
        pieces = split(text)
        chunked = time.perf_counter()
        vectors = embedder.embed([document_text("Bench document", piece) for piece in pieces])
        embedded = time.perf_counter()
        records = [
            VectorRecord(str(document), str(owner), index, vector)
            for index, vector in enumerate(vectors)
        ]
        share = -(-len(records) // args.writers)
        list(
            pool.map(store.upsert, [records[i : i + share] for i in range(0, len(records), share)])
        )
        with db.session_scope() as session:
            session.add(
                Document(
                    id=document,
                    owner_id=owner,
                    title="bench",
                    filename="bench.txt",
                    content_type="text/plain",
                    size_bytes=len(data),
                    s3_key=f"bench/{document}",
                    status="ready",
                )
            )
            session.flush()
            session.add_all(
                Chunk(document_id=document, owner_id=owner, chunk_index=i, text=t)
                for i, t in enumerate(pieces)
            )
        indexed = time.perf_counter()
        chunk_count = len(pieces)
        timings["extract"].append(extracted - started)
        timings["split"].append(chunked - extracted)
        timings["embed"].append(embedded - chunked)
        timings["index"].append(indexed - embedded)
    print(
        f"1 MiB of text → {chunk_count} chunks; median of {args.runs} runs;"
        f" {args.writers} writer(s); {args.preload:,} chunks already indexed"
    )
    print("| step | seconds | chunks/s |")
    print("|---|---:|---:|")
    total = 0.0
    for step, values in timings.items():
        median = statistics.median(values)
        total += median
        print(f"| {step} | {median:.3f} | {chunk_count / median:,.0f} |")
    print(f"| **whole pipeline** | {total:.3f} | {chunk_count / total:,.0f} |")
    pending = chunk_count * args.runs
    started = time.perf_counter()
    moved = store.index_pending(limit=pending)
    seconds = time.perf_counter() - started
    print(
        f"then index_pending: {moved:,} written vectors moved into the HNSW graph in"
        f" {seconds:.1f} s ({moved / seconds:,.0f} rows/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
