"""One contract for every vector store, run against each adapter:

- ``pgvector``: the real thing, PostgreSQL with pgvector (the embedded PostgreSQL 18; skipped,
  saying why, on a server without the extension);
- ``opensearch-aoss`` / ``opensearch-es``: the OpenSearch adapter over real, SigV4-signed HTTP to
  the stand-in of ``tests/support/opensearch.py`` (Serverless and managed-domain semantics),
  since no OpenSearch server runs here.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.vectors import VectorHit, VectorRecord, VectorStore

pytestmark = pytest.mark.integration

DIMS = 256
BACKENDS = ["pgvector", "opensearch-aoss", "opensearch-es"]


def vec(*components: float) -> list[float]:
    """A 256-d vector with these leading components, the rest zero."""
    return [*components, *([0.0] * (DIMS - len(components)))]


def unit(values: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in values))
    return [x / norm for x in values]


@pytest.fixture(scope="module")
def pgvector_database(pg_url) -> str:
    from shared.platform.migrate import upgrade
    from tests.support.services import has_pgvector

    if not has_pgvector(pg_url):
        pytest.skip(
            "this PostgreSQL server has no pgvector extension (TEST_PG_ADMIN_URL names one without"
            " it, e.g. Debian's PostgreSQL 15): the pgvector store cannot run on it"
        )
    upgrade(pg_url)
    return pg_url


@pytest.fixture
def make_store(request) -> Iterator[Callable[..., VectorStore]]:
    """Stores of the backend under test (``make_store(**options)``)."""
    backend = request.param
    if backend == "pgvector":
        url = request.getfixturevalue("pgvector_database")
        from sqlalchemy import create_engine
        from sqlalchemy.orm import sessionmaker

        from shared.vectors.pgvector import PgVectorStore

        engine = create_engine(url, pool_size=5)
        maker = sessionmaker(engine)

        def pgvector_store(**options: Any) -> VectorStore:
            return PgVectorStore(session_factory=maker.begin, **options)

        yield pgvector_store
        engine.dispose()
        return
    from botocore.credentials import Credentials

    from shared.vectors.opensearch import OpenSearchVectorStore
    from tests.support.opensearch import OpenSearchStandIn

    service = backend.split("-", 1)[1]
    credentials = Credentials("AKIDCONTRACT", "contract-secret", "contract-token")
    with OpenSearchStandIn(
        service=service, region="eu-west-1", credentials=credentials
    ).running() as stand_in:

        def opensearch_store(**_: Any) -> VectorStore:
            return OpenSearchVectorStore(
                endpoint=stand_in.url,
                index="contract-chunks",
                service=service,  # type: ignore[arg-type]
                region="eu-west-1",
                dimensions=DIMS,
                credentials=credentials,
            )

        yield opensearch_store


@pytest.fixture
def store(make_store) -> VectorStore:
    return make_store()


@pytest.fixture
def owners(store) -> Iterator[Callable[[], str]]:
    """New owners for one test; their vectors are deleted afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(str(uuid.uuid4()))
        return made[-1]

    yield make
    for owner in made:
        store.delete_owner(owner)


def doc() -> str:
    return str(uuid.uuid4())


def rec(owner: str, document: str, index: int, vector: list[float]) -> VectorRecord:
    return VectorRecord(document_id=document, owner_id=owner, chunk_index=index, vector=vector)


def everything(store: VectorStore, owner: str, **kwargs: Any) -> list[VectorHit]:
    return store.search(owner_id=owner, vector=vec(1, 1, 1, 1), top_k=100, **kwargs)


contract = pytest.mark.parametrize("make_store", BACKENDS, indirect=True)


@contract
def test_an_upserted_vector_is_found_with_its_cosine_score(store, owners):
    # Given one chunk stored
    owner, document = owners(), doc()
    store.upsert([rec(owner, document, 0, vec(1, 0, 0))])
    # When its owner searches with the same direction, and with an orthogonal one
    same = store.search(owner_id=owner, vector=vec(3, 0, 0), top_k=5)
    across = store.search(owner_id=owner, vector=vec(0, 1, 0), top_k=5)
    # Then it comes back, scored 1 and 0
    assert [(h.document_id, h.chunk_index) for h in same] == [(document, 0)]
    assert same[0].score == pytest.approx(1.0, abs=1e-6)
    assert across[0].score == pytest.approx(0.0, abs=1e-6)


@contract
def test_scores_are_cosine_similarities_whatever_the_vectors_lengths(store, owners):
    owner, document = owners(), doc()
    store.upsert([rec(owner, document, 0, vec(10, 0)), rec(owner, document, 1, vec(-0.5, 0.5))])
    hits = store.search(owner_id=owner, vector=vec(1, 1), top_k=2)
    assert [h.chunk_index for h in hits] == [0, 1]
    assert hits[0].score == pytest.approx(math.sqrt(0.5), abs=1e-5)
    assert hits[1].score == pytest.approx(0.0, abs=1e-5)


@contract
def test_results_come_best_first_and_top_k_bounds_them(store, owners):
    # Given five chunks at known angles from the query
    owner, document = owners(), doc()
    angles = [0.9, 0.1, 0.5, 0.3, 0.7]  # radians from the query's direction
    store.upsert(
        [rec(owner, document, i, vec(math.cos(a), math.sin(a))) for i, a in enumerate(angles)]
    )
    # When the owner asks for the best three
    hits = store.search(owner_id=owner, vector=vec(1, 0), top_k=3)
    # Then they are the three closest, best first, with their cosines
    assert [h.chunk_index for h in hits] == [1, 3, 2]
    assert [h.score for h in hits] == pytest.approx([math.cos(0.1), math.cos(0.3), math.cos(0.5)])
    assert store.search(owner_id=owner, vector=vec(1, 0), top_k=0) == []


@contract
def test_upserting_the_same_chunks_twice_leaves_one_copy(store, owners):
    owner, document = owners(), doc()
    records = [rec(owner, document, i, vec(1, i)) for i in range(3)]
    store.upsert(records)
    store.upsert(records)
    hits = everything(store, owner)
    assert sorted(h.chunk_index for h in hits) == [0, 1, 2]


@contract
def test_concurrent_deliveries_of_one_write_leave_one_copy(store, owners):
    # Given three workers writing the same chunks at the same time (a redelivered message)
    owner, document = owners(), doc()
    records = [rec(owner, document, i, vec(1, i)) for i in range(20)]
    failures: list[BaseException] = []

    def write() -> None:
        try:
            store.upsert(records)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=write) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each chunk is stored once, and no writer failed
    assert failures == []
    assert sorted(h.chunk_index for h in everything(store, owner)) == list(range(20))


@contract
def test_an_upsert_replaces_a_chunks_vector(store, owners):
    owner, document = owners(), doc()
    store.upsert([rec(owner, document, 0, vec(1, 0))])
    store.upsert([rec(owner, document, 0, vec(0, 1))])
    hits = store.search(owner_id=owner, vector=vec(0, 1), top_k=5)
    assert [(h.chunk_index, round(h.score, 5)) for h in hits] == [(0, 1.0)]


@contract
def test_delete_document_removes_that_document_only(store, owners):
    owner, gone, kept = owners(), doc(), doc()
    store.upsert([rec(owner, gone, i, vec(1, i)) for i in range(3)])
    store.upsert([rec(owner, kept, 0, vec(1, 5))])
    store.delete_document(gone)
    assert [h.document_id for h in everything(store, owner)] == [kept]
    store.delete_document(gone)  # again: nothing left to delete, no error
    store.delete_document("not-a-uuid")


@contract
def test_delete_owner_removes_that_owner_only(store, owners):
    gone, kept = owners(), owners()
    store.upsert([rec(gone, doc(), 0, vec(1, 0)), rec(gone, doc(), 0, vec(1, 1))])
    store.upsert([rec(kept, doc(), 0, vec(1, 0))])
    store.delete_owner(gone)
    assert everything(store, gone) == []
    assert len(everything(store, kept)) == 1


@contract
def test_an_owner_never_sees_another_owners_vectors(store, owners):
    # Given two owners with vectors in the same direction
    mine, theirs = owners(), owners()
    my_doc, their_doc = doc(), doc()
    store.upsert([rec(mine, my_doc, 0, vec(1, 0))])
    store.upsert([rec(theirs, their_doc, i, vec(1, 0)) for i in range(5)])
    # When one searches, even naming the other's document
    plain = everything(store, mine)
    named = everything(store, mine, document_ids=[their_doc, my_doc])
    only_theirs = everything(store, mine, document_ids=[their_doc])
    # Then only its own vectors come back
    assert {h.document_id for h in plain} == {my_doc}
    assert {h.document_id for h in named} == {my_doc}
    assert only_theirs == []
    assert everything(store, "not-a-uuid") == []


@contract
def test_a_document_filter_keeps_only_those_documents(store, owners):
    owner, first, second, third = owners(), doc(), doc(), doc()
    for d, x in ((first, 1.0), (second, 0.5), (third, 0.1)):
        store.upsert([rec(owner, d, i, vec(x, 1, i)) for i in range(2)])
    hits = store.search(owner_id=owner, vector=vec(0.1, 1), top_k=10, document_ids=[first, third])
    assert {h.document_id for h in hits} == {first, third}
    assert len(hits) == 4
    assert hits[0].document_id == third  # the closest of those two, first
    assert store.search(owner_id=owner, vector=vec(1), top_k=10, document_ids=[]) == []
    assert store.search(owner_id=owner, vector=vec(1), top_k=10, document_ids=[doc()]) == []


@contract
@pytest.mark.parametrize(
    ("vector", "message"),
    [(vec(0), "zero"), ([1.0] * 3, "dimensions"), (vec(math.nan), "finite")],
)
def test_invalid_vectors_are_refused(store, owners, vector, message):
    with pytest.raises(ValueError, match=message):
        store.upsert([rec(owners(), doc(), 0, vector)])
    with pytest.raises(ValueError, match=message):
        store.search(owner_id=owners(), vector=vector, top_k=1)


@contract
def test_an_owner_with_k_vectors_gets_k_hits_beside_a_much_larger_owner(make_store, owners):
    import random

    # Given an owner of 1,200 vectors and one of 15, searched through the approximate index
    # (pgvector: above 100 vectors, so the small owner is searched exactly only at the end)
    store = make_store(exact_below=100)
    big, small, middle = owners(), owners(), owners()
    rng = random.Random(12)

    def random_vector() -> list[float]:
        return vec(*(rng.gauss(0, 1) for _ in range(16)))

    for start in range(0, 1200, 400):
        document = doc()
        store.upsert([rec(big, document, i, random_vector()) for i in range(start, start + 400)])
    store.upsert([rec(small, doc(), i, random_vector()) for i in range(15)])
    store.upsert([rec(middle, doc(), i, random_vector()) for i in range(150)])
    while store.index_pending(limit=10_000):  # all of them in the approximate index
        pass
    # When each searches for its 10 nearest
    query = random_vector()
    results = {
        name: store.search(owner_id=owner, vector=query, top_k=10)
        for name, owner in (("big", big), ("small", small), ("middle", middle))
    }
    # Then each gets 10 hits of its own, best first
    for hits in results.values():
        assert len(hits) == 10
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@contract
def test_written_vectors_are_searchable_before_and_after_they_are_indexed(make_store, owners):
    # Given an owner large enough for the approximate path, part of whose vectors are indexed
    store = make_store(exact_below=50)
    owner, document = owners(), doc()
    store.upsert([rec(owner, document, i, vec(1, i / 100)) for i in range(100)])
    while store.index_pending(limit=10_000):
        pass
    # When more are written, and searched before anything indexes them
    fresh = doc()
    store.upsert([rec(owner, fresh, i, vec(-1, i / 100)) for i in range(20)])
    before = store.search(owner_id=owner, vector=vec(-1), top_k=5)
    # Then they are found at once, best first; and the same after indexing them
    assert [h.document_id for h in before] == [fresh] * 5
    assert [h.chunk_index for h in before] == [0, 1, 2, 3, 4]
    moved = store.index_pending(limit=10_000)
    assert moved in (0, 20)  # OpenSearch indexes as it writes: nothing pending
    assert store.index_pending() == 0
    after = store.search(owner_id=owner, vector=vec(-1), top_k=5)
    # (through the approximate index now: the nearest of twenty near-identical vectors, best
    # first, though HNSW may rank two of them the other way round)
    assert [h.document_id for h in after] == [fresh] * 5
    assert [h.score for h in after] == sorted((h.score for h in after), reverse=True)
    assert len({h.chunk_index for h in after} & {h.chunk_index for h in before}) >= 3
