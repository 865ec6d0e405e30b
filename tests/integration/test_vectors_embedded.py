"""The embedded vector store on real Postgres and on the runner's SQLite default, through both
of its scoring paths (numpy, and the pure-Python fallback the Lambda layer uses)."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.platform import db
from shared.platform.migrate import upgrade
from shared.platform.settings import reset_settings
from shared.vectors import VectorHit, VectorRecord
from shared.vectors.embedded import EmbeddedVectorStore

pytestmark = pytest.mark.integration

DIMS = 4


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path, monkeypatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'vectors.db'}" if request.param == "sqlite" else None
    if url is None:
        url = request.getfixturevalue("pg_url")
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    reset_settings()
    db.reset()
    yield url
    db.reset()
    reset_settings()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["numpy", "python"])
def store(request, database, clock) -> EmbeddedVectorStore:
    return EmbeddedVectorStore(
        dimensions=DIMS, use_numpy=request.param == "numpy", cache_ttl_seconds=10, clock=clock
    )


@pytest.fixture
def new_owner(database) -> Iterator[Callable[[], str]]:
    """Owners for one test; their vectors are deleted afterwards."""
    created: list[str] = []

    def make() -> str:
        created.append(str(uuid.uuid4()))
        return created[-1]

    yield make
    cleanup = EmbeddedVectorStore()
    for owner in created:
        cleanup.delete_owner(owner)


def new_document() -> str:
    return str(uuid.uuid4())


def rec(owner: str, document: str, index: int, vector: list[float]) -> VectorRecord:
    return VectorRecord(document_id=document, owner_id=owner, chunk_index=index, vector=vector)


def stored_rows(*, owner: str | None = None, document: str | None = None) -> int:
    from sqlalchemy import func, select

    from shared.vectors.models import ChunkVector

    statement = select(func.count()).select_from(ChunkVector)
    if owner is not None:
        statement = statement.where(ChunkVector.owner_id == uuid.UUID(owner))
    if document is not None:
        statement = statement.where(ChunkVector.document_id == uuid.UUID(document))
    with db.session_scope() as session:
        return int(session.execute(statement).scalar_one())


def cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def keys(hits: list[VectorHit]) -> list[tuple[str, int]]:
    return [(h.document_id, h.chunk_index) for h in hits]


def test_search_ranks_the_owners_chunks_by_cosine_similarity(store, new_owner):
    # Given an owner's chunks whose vectors are not unit length, and another owner's chunk
    # identical to the query
    alice, bob = new_owner(), new_owner()
    doc1, doc2, bobs = new_document(), new_document(), new_document()
    vectors = {
        (doc1, 0): [10.0, 0.0, 0.0, 0.0],
        (doc1, 1): [1.0, 1.0, 0.0, 0.0],
        (doc2, 0): [0.2, 0.0, 0.2, 0.2],
        (doc2, 1): [-3.0, 0.0, 0.0, 1.0],
    }
    store.upsert([rec(alice, d, i, v) for (d, i), v in vectors.items()])
    store.upsert([rec(bob, bobs, 0, [3.0, 1.0, 0.0, 0.0])])
    query = [3.0, 1.0, 0.0, 0.0]
    # When Alice searches
    hits = store.search(owner_id=alice, vector=query, top_k=10)
    # Then she gets only her chunks, best first, scored by exact cosine similarity
    expected = sorted(vectors, key=lambda k: -cos(vectors[k], query))
    assert keys(hits) == expected
    for h in hits:
        assert h.score == pytest.approx(
            cos(vectors[(h.document_id, h.chunk_index)], query), abs=1e-6
        )
    assert hits[-1].score < 0
    # And top_k cuts the list
    assert keys(store.search(owner_id=alice, vector=query, top_k=2)) == expected[:2]


def test_another_owners_vectors_are_never_returned_even_when_their_documents_are_named(
    store, new_owner
):
    alice, bob = new_owner(), new_owner()
    alices, bobs = new_document(), new_document()
    store.upsert([rec(alice, alices, 0, [0.0, 1.0, 0.0, 0.0])])
    store.upsert([rec(bob, bobs, i, [1.0, 0.0, 0.0, float(i)]) for i in range(3)])
    query = [1.0, 0.0, 0.0, 0.0]
    for _ in range(2):  # cold (from SQL), then warm (from the cache)
        assert store.search(owner_id=alice, vector=query, top_k=5, document_ids=[bobs]) == []
        mixed = store.search(owner_id=alice, vector=query, top_k=5, document_ids=[bobs, alices])
        assert keys(mixed) == [(alices, 0)]
        assert keys(store.search(owner_id=alice, vector=query, top_k=5)) == [(alices, 0)]
    # And an owner with no vectors, or one that is not even a UUID, finds nothing
    assert store.search(owner_id=new_owner(), vector=query, top_k=5) == []
    assert store.search(owner_id="not-a-uuid", vector=query, top_k=5) == []


def test_document_ids_limit_the_search_to_those_documents(store, new_owner):
    owner = new_owner()
    doc1, doc2, doc3 = new_document(), new_document(), new_document()
    documents = (doc1, doc2, doc3)
    store.upsert(
        [
            rec(owner, d, i, [1.0, float(n), 0.3 * i, 0.0])  # no two scores tie
            for n, d in enumerate(documents)
            for i in range(3)
        ]
    )
    query = [1.0, 0.0, 0.0, 0.0]
    cold = store.search(owner_id=owner, vector=query, top_k=10, document_ids=[doc2, doc3])
    store.search(owner_id=owner, vector=query, top_k=10)  # fills the cache
    warm = store.search(owner_id=owner, vector=query, top_k=10, document_ids=[doc3, doc2, doc2])
    assert {d for d, _ in keys(cold)} == {doc2, doc3}
    assert len(cold) == 6
    assert keys(warm) == keys(cold)
    assert [h.score for h in warm] == pytest.approx([h.score for h in cold], abs=1e-6)
    # And an empty list, or ids that are not UUIDs, match nothing
    assert store.search(owner_id=owner, vector=query, top_k=10, document_ids=[]) == []
    assert store.search(owner_id=owner, vector=query, top_k=10, document_ids=["x"]) == []


def test_writing_the_same_records_twice_leaves_one_copy(store, new_owner):
    # Given a document's chunks written once
    owner, document = new_owner(), new_document()
    records = [rec(owner, document, i, [1.0, float(i), 0.0, 0.0]) for i in range(5)]
    store.upsert(records)
    # When the same delivery is processed again (and a batch repeats a chunk)
    store.upsert(records + records[:1])
    # Then the table holds one row per chunk, and search returns each chunk once
    assert stored_rows(owner=owner) == 5
    hits = store.search(owner_id=owner, vector=[1.0, 0.0, 0.0, 0.0], top_k=50)
    assert sorted(keys(hits)) == [(document, i) for i in range(5)]


def session_factory_on_its_own_engine(url: str, engines: list[Any]) -> Callable[[], Any]:
    """A unit-of-work factory with its own engine: what another Lambda process would have."""
    from contextlib import contextmanager

    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    engine = create_engine(db.normalize_url(url), connect_args=connect_args)
    engines.append(engine)
    make = sessionmaker(bind=engine)

    @contextmanager
    def scope():
        with make() as session, session.begin():
            yield session

    return scope


def test_concurrent_deliveries_of_the_same_records_leave_one_copy(database, new_owner):
    # Given three workers, each with its own connection, handed the same message at once
    owner, document = new_owner(), new_document()
    records = [rec(owner, document, i, [1.0, float(i), 0.0, 0.0]) for i in range(2000)]
    engines: list[Any] = []
    stores = [
        EmbeddedVectorStore(
            dimensions=DIMS, session_factory=session_factory_on_its_own_engine(database, engines)
        )
        for _ in range(3)
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def deliver(store: EmbeddedVectorStore) -> None:
        try:
            start.wait()
            store.upsert(records)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for engine in engines:
        engine.dispose()
    # Then none of them failed, and each chunk is stored once
    assert errors == []
    assert stored_rows(owner=owner) == 2000


def test_an_upsert_replaces_the_vector_of_an_existing_chunk(store, new_owner):
    owner, document = new_owner(), new_document()
    store.upsert([rec(owner, document, 0, [1.0, 0.0, 0.0, 0.0])])
    query = [0.0, 0.0, 1.0, 0.0]
    assert store.search(owner_id=owner, vector=query, top_k=1)[0].score == pytest.approx(0.0)
    store.upsert([rec(owner, document, 0, [0.0, 0.0, 2.0, 0.0])])
    (best,) = store.search(owner_id=owner, vector=query, top_k=1)
    assert (best.document_id, best.chunk_index) == (document, 0)
    assert best.score == pytest.approx(1.0)
    assert stored_rows(owner=owner) == 1


def test_delete_document_removes_its_vectors_and_nothing_else(store, new_owner):
    alice, bob = new_owner(), new_owner()
    gone, kept, bobs = new_document(), new_document(), new_document()
    store.upsert(
        [rec(alice, d, i, [1.0, 0.0, 0.0, float(i)]) for d in (gone, kept) for i in range(3)]
    )
    store.upsert([rec(bob, bobs, 0, [1.0, 0.0, 0.0, 0.0])])
    query = [1.0, 0.0, 0.0, 0.0]
    assert len(store.search(owner_id=alice, vector=query, top_k=10)) == 6  # cached now
    store.delete_document(gone)
    assert stored_rows(document=gone) == 0
    assert stored_rows(document=kept) == 3
    assert stored_rows(owner=bob) == 1
    hits = store.search(owner_id=alice, vector=query, top_k=10)
    assert {d for d, _ in keys(hits)} == {kept}
    assert store.search(owner_id=alice, vector=query, top_k=10, document_ids=[gone]) == []
    store.delete_document(gone)  # again: nothing to do, no error
    store.delete_document("not-a-uuid")


def test_delete_owner_removes_all_of_that_owners_vectors(store, new_owner):
    alice, bob = new_owner(), new_owner()
    store.upsert([rec(alice, new_document(), i, [1.0, 0.0, 0.0, 0.0]) for i in range(4)])
    store.upsert([rec(bob, new_document(), 0, [1.0, 0.0, 0.0, 0.0])])
    query = [1.0, 0.0, 0.0, 0.0]
    assert len(store.search(owner_id=alice, vector=query, top_k=10)) == 4
    store.delete_owner(alice)
    assert stored_rows(owner=alice) == 0
    assert stored_rows(owner=bob) == 1
    assert store.search(owner_id=alice, vector=query, top_k=10) == []
    assert len(store.search(owner_id=bob, vector=query, top_k=10)) == 1


def test_a_search_after_a_write_in_this_process_sees_it_at_once(store, database, clock, new_owner):
    # Given a search that cached the owner's matrix
    owner, document = new_owner(), new_document()
    store.upsert([rec(owner, document, 0, [1.0, 0.0, 0.0, 0.0])])
    query = [0.0, 1.0, 0.0, 0.0]
    assert keys(store.search(owner_id=owner, vector=query, top_k=1)) == [(document, 0)]
    # When a better chunk is written, without any time passing
    store.upsert([rec(owner, document, 1, [0.0, 1.0, 0.0, 0.0])])
    # Then the next search sees it
    assert keys(store.search(owner_id=owner, vector=query, top_k=1)) == [(document, 1)]
    # And the same holds for a write through another store of this process (another function
    # of the local runner)
    other_store = EmbeddedVectorStore(dimensions=DIMS)
    other_store.upsert([rec(owner, document, 2, [0.0, 1.0, 0.1, 0.0])])
    assert len(store.search(owner_id=owner, vector=query, top_k=10)) == 3
    other_store.delete_document(document)
    assert store.search(owner_id=owner, vector=query, top_k=10) == []


def test_a_write_by_another_process_is_seen_within_the_cache_ttl(store, clock, new_owner):
    from sqlalchemy import insert

    from shared.vectors.models import ChunkVector

    # Given a search that cached the owner's matrix
    owner, document = new_owner(), new_document()
    store.upsert([rec(owner, document, 0, [1.0, 0.0, 0.0, 0.0])])
    query = [1.0, 0.0, 0.0, 0.0]
    assert len(store.search(owner_id=owner, vector=query, top_k=10)) == 1
    # When another process writes a row (here: straight to the table, bypassing this process's
    # stores, which is what another process looks like from here)
    with db.session_scope() as session:
        session.execute(
            insert(ChunkVector),
            [
                {
                    "chunk_id": f"{document}:1",
                    "document_id": uuid.UUID(document),
                    "owner_id": uuid.UUID(owner),
                    "chunk_index": 1,
                    "vector": b"\x00\x00\x80\x3f" + b"\x00" * 12,  # [1, 0, 0, 0] as float32
                }
            ],
        )
    # Then the cached matrix may serve for up to the TTL (the documented staleness bound) ...
    clock.now += 9.9
    assert len(store.search(owner_id=owner, vector=query, top_k=10)) == 1
    # ... and not after it
    clock.now += 0.2
    hits = store.search(owner_id=owner, vector=query, top_k=10)
    assert sorted(keys(hits)) == [(document, 0), (document, 1)]
    assert all(h.score == pytest.approx(1.0) for h in hits)


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        ([0.0, 0.0, 0.0, 0.0], "zero"),
        ([1.0, 0.0], "4 dimensions"),
        ([1.0, math.inf, 0, 0], "finite"),
    ],
)
def test_invalid_query_vectors_are_refused(store, new_owner, vector, message):
    with pytest.raises(ValueError, match=message):
        store.search(owner_id=new_owner(), vector=vector, top_k=3)


def test_invalid_records_are_refused_and_nothing_is_written(store, new_owner):
    owner = new_owner()
    good = rec(owner, new_document(), 0, [1.0, 0.0, 0.0, 0.0])
    for bad, message in [
        (rec(owner, "not-a-uuid", 0, [1.0, 0.0, 0.0, 0.0]), "document_id"),
        (rec(owner, new_document(), -1, [1.0, 0.0, 0.0, 0.0]), "negative"),
        (rec(owner, new_document(), 0, [1.0, 0.0, 0.0]), "4 dimensions"),
        (rec(owner, new_document(), 0, [1e39, 0.0, 0.0, 0.0]), "float32"),
    ]:
        with pytest.raises(ValueError, match=message):
            store.upsert([good, bad])
    assert stored_rows(owner=owner) == 0


def test_the_default_store_is_the_embedded_one_on_the_configured_database(database, new_owner):
    from shared import vectors

    vectors.reset()
    try:
        store = vectors.get_vector_store()
        assert isinstance(store, EmbeddedVectorStore)
        assert vectors.get_vector_store() is store
        owner, document = new_owner(), new_document()
        store.upsert([rec(owner, document, 0, [1.0] * 256)])
        assert keys(store.search(owner_id=owner, vector=[2.0] * 256, top_k=1)) == [(document, 0)]
    finally:
        vectors.reset()
