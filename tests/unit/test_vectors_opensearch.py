"""The OpenSearch adapter, without an OpenSearch cluster.

Most tests inject a fake transport that records each request the adapter sends (method, path,
query parameters, body) and answers from a script or like a minimal OpenSearch, so the exact
requests, retries and error handling are asserted. One test lets the real transport (botocore's
SigV4 signer over urllib3) talk to a tiny HTTP server on 127.0.0.1 and checks that every request
carries a SigV4 signature that verifies, for the right service and region. The behaviour against
a k-NN engine is the contract suite's (tests/integration/test_vector_store_contract.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import ValidationError

from shared.vectors import VectorHit, VectorRecord, VectorSettings, VectorStoreError
from shared.vectors.opensearch import (
    OpenSearchVectorStore,
    SignedTransport,
    TransportError,
    cosine_from_score,
    index_body,
    response_or_error,
)

OWNER = "0b3c2f64-1111-4a4a-9c9c-000000000001"
OTHER = "0b3c2f64-2222-4a4a-9c9c-000000000002"
DOC_A = "d0c00000-0000-4000-8000-00000000000a"
DOC_B = "d0c00000-0000-4000-8000-00000000000b"
DIMS = 4
CONNECTION_ERROR = -1  # a scripted "status" that makes the fake connection fail to connect


# -- a fake cluster behind a fake connection ------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]
    body: Any  # parsed JSON, a list of parsed NDJSON lines, or None


@dataclass
class FakeCluster:
    """Records requests; answers scripted responses first, then like a minimal OpenSearch."""

    requests: list[Request] = field(default_factory=list)
    scripted: list[tuple[str, str, int, Any]] = field(default_factory=list)
    indices: set[str] = field(default_factory=set)
    search_hits: list[dict[str, Any]] = field(default_factory=list)

    def script(self, method: str, path_suffix: str, status: int, payload: Any) -> None:
        self.scripted.append((method, path_suffix, status, payload))

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        for i, (m, suffix, status, payload) in enumerate(self.scripted):
            if m == method and path.endswith(suffix):
                del self.scripted[i]
                return status, payload
        index = path.strip("/").split("/")[0]
        if method == "HEAD":
            return (200 if index in self.indices else 404), None
        if method == "PUT" and "/" not in path.strip("/"):
            self.indices.add(index)
            return 200, {"acknowledged": True, "index": index}
        if path.endswith("/_bulk"):
            items = [
                {"index": {"_index": index, "status": 201, "result": "created"}}
                for line in body
                if "index" in line
            ]
            return 200, {"took": 1, "errors": False, "items": items}
        if path.endswith("/_delete_by_query"):
            return 200, {"deleted": 0, "failures": []}
        if path.endswith("/_search"):
            return 200, {"hits": {"hits": self.search_hits}}
        return 404, {"error": {"type": "no_handler"}, "status": 404}

    def of(self, method: str, suffix: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]


def fake_transport(cluster: FakeCluster) -> Any:
    def send(method: str, path: str, *, params: Any, body: bytes | None, content_type: str):
        text = body.decode() if body else ""
        parsed: Any = None
        if text:
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
            parsed = lines if path.endswith("/_bulk") else lines[0]
        cluster.requests.append(Request(method, path, dict(params or {}), parsed))
        status, payload = cluster.answer(method, path, parsed)
        if status == CONNECTION_ERROR:
            raise TransportError(None, None, "connection refused")
        return response_or_error(status, payload)

    return send


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_store(
    cluster: FakeCluster, sleeps: list[float], **overrides: Any
) -> OpenSearchVectorStore:
    from botocore.credentials import Credentials

    options: dict[str, Any] = {
        "endpoint": "https://abc123.us-east-1.aoss.amazonaws.com",
        "index": "stratus-chunks",
        "service": "aoss",
        "region": "us-east-1",
        "dimensions": DIMS,
        "credentials": Credentials("AKIDTEST", "secret", "token"),
        "transport": fake_transport(cluster),
        "sleep": sleeps.append,
        "jitter": lambda: 1.0,
    }
    options.update(overrides)
    return OpenSearchVectorStore(**options)


@pytest.fixture
def store(cluster: FakeCluster, sleeps: list[float]) -> OpenSearchVectorStore:
    return make_store(cluster, sleeps)


def record(document_id: str, index: int, vector: list[float], owner: str = OWNER) -> VectorRecord:
    return VectorRecord(document_id=document_id, owner_id=owner, chunk_index=index, vector=vector)


# -- the index ------------------------------------------------------------------------------


def test_the_index_is_created_with_the_knn_mapping_on_first_use_and_checked_once(store, cluster):
    # Given an empty cluster
    # When the store is used twice
    store.delete_document(DOC_A)
    store.delete_owner(OWNER)
    # Then the index was looked up once, and created once with the k-NN mapping
    assert [(r.method, r.path) for r in cluster.requests[:2]] == [
        ("HEAD", "/stratus-chunks"),
        ("PUT", "/stratus-chunks"),
    ]
    assert len(cluster.of("HEAD")) == 1
    assert len(cluster.of("PUT")) == 1
    created = cluster.of("PUT")[0].body
    assert created == index_body(DIMS)
    assert created["settings"] == {"index": {"knn": True}}
    properties = created["mappings"]["properties"]
    assert properties["vector"] == {
        "type": "knn_vector",
        "dimension": DIMS,
        "method": {
            "name": "hnsw",
            "engine": "faiss",
            "space_type": "innerproduct",
            "parameters": {"ef_construction": 128, "m": 16},
        },
    }
    for keyword in ("chunk_id", "owner_id", "document_id"):
        assert properties[keyword] == {"type": "keyword"}
    assert properties["chunk_index"] == {"type": "integer"}


def test_an_existing_index_is_not_created_again(store, cluster):
    cluster.indices.add("stratus-chunks")
    store.delete_document(DOC_A)
    assert cluster.of("PUT") == []


def test_losing_the_creation_race_to_another_process_is_fine(store, cluster):
    # Given another process creates the index between our check and our creation
    cluster.script(
        "PUT",
        "/stratus-chunks",
        400,
        {"error": {"type": "resource_already_exists_exception"}, "status": 400},
    )
    # When the store is used, Then it goes on
    store.delete_document(DOC_A)
    assert len(cluster.of("POST", "/_delete_by_query")) == 1


# -- writes ---------------------------------------------------------------------------------


def test_upsert_on_serverless_replaces_by_chunk_id_then_indexes_without_custom_ids(store, cluster):
    # Given records, one chunk id twice (the last one wins) and vectors that are not unit length
    records = [
        record(DOC_A, 0, [3.0, 0.0, 4.0, 0.0]),
        record(DOC_A, 1, [0.0, 2.0, 0.0, 0.0]),
        record(DOC_A, 0, [0.0, 0.0, 0.0, 5.0]),
    ]
    # When they are upserted
    store.upsert(records)
    # Then earlier copies of those chunk ids are deleted first
    deletes = cluster.of("POST", "/_delete_by_query")
    assert len(deletes) == 1
    assert deletes[0].path == "/stratus-chunks/_delete_by_query"
    assert deletes[0].body == {"query": {"terms": {"chunk_id": [f"{DOC_A}:0", f"{DOC_A}:1"]}}}
    assert deletes[0].params == {}  # Serverless takes neither refresh nor conflicts
    # And the bulk body indexes each chunk once, with no _id, the vector unit-normalized
    bulk = cluster.of("POST", "/_bulk")
    assert len(bulk) == 1
    assert bulk[0].params == {}
    assert bulk[0].body == [
        {"index": {"_index": "stratus-chunks"}},
        {
            "chunk_id": f"{DOC_A}:0",
            "document_id": DOC_A,
            "owner_id": OWNER,
            "chunk_index": 0,
            "vector": [0.0, 0.0, 0.0, 1.0],
        },
        {"index": {"_index": "stratus-chunks"}},
        {
            "chunk_id": f"{DOC_A}:1",
            "document_id": DOC_A,
            "owner_id": OWNER,
            "chunk_index": 1,
            "vector": [0.0, 1.0, 0.0, 0.0],
        },
    ]
    # And the delete came before the index
    order = [r.path for r in cluster.requests if r.method == "POST"]
    assert order == ["/stratus-chunks/_delete_by_query", "/stratus-chunks/_bulk"]


def test_upsert_on_a_managed_domain_uses_the_chunk_id_as_the_document_id(cluster, sleeps):
    store = make_store(cluster, sleeps, service="es")
    store.upsert([record(DOC_A, 7, [1.0, 0.0, 0.0, 0.0])])
    assert cluster.of("POST", "/_delete_by_query") == []
    (bulk,) = cluster.of("POST", "/_bulk")
    assert bulk.body[0] == {"index": {"_index": "stratus-chunks", "_id": f"{DOC_A}:7"}}
    assert bulk.body[1]["chunk_id"] == f"{DOC_A}:7"
    assert bulk.params == {"refresh": "wait_for"}


def test_upsert_is_sent_in_batches(cluster, sleeps):
    store = make_store(cluster, sleeps, bulk_batch_size=2)
    store.upsert([record(DOC_A, i, [1.0, 0.0, 0.0, float(i)]) for i in range(5)])
    assert [len(r.body) // 2 for r in cluster.of("POST", "/_bulk")] == [2, 2, 1]
    assert len(cluster.of("POST", "/_delete_by_query")) == 3


def test_nothing_to_upsert_sends_nothing(store, cluster):
    store.upsert([])
    assert cluster.requests == []


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        ([1.0, 0.0], "4 dimensions"),
        ([0.0, 0.0, 0.0, 0.0], "zero"),
        ([1.0, float("nan"), 0.0, 0.0], "finite"),
    ],
)
def test_invalid_vectors_are_refused_before_any_request(store, cluster, vector, message):
    with pytest.raises(ValueError, match=message):
        store.upsert([record(DOC_A, 0, vector)])
    assert cluster.requests == []


def test_a_failed_bulk_item_raises_with_its_reason(store, cluster):
    # Given a bulk response that is 200 but with one item refused
    cluster.script(
        "POST",
        "/_bulk",
        200,
        {
            "took": 1,
            "errors": True,
            "items": [
                {"index": {"status": 201, "result": "created"}},
                {
                    "index": {
                        "status": 400,
                        "error": {
                            "type": "mapper_parsing_exception",
                            "reason": "failed to parse field [vector]",
                        },
                    }
                },
            ],
        },
    )
    # When records are upserted, Then the failure is raised with the chunk and the reason
    with pytest.raises(VectorStoreError) as raised:
        store.upsert([record(DOC_A, 0, [1, 0, 0, 0]), record(DOC_A, 1, [0, 1, 0, 0])])
    assert f"{DOC_A}:1: 400 mapper_parsing_exception: failed to parse field [vector]" in str(
        raised.value
    )
    assert "1 of 2 items failed" in str(raised.value)
    assert len(cluster.of("POST", "/_bulk")) == 1  # not sent again


def test_throttled_bulk_items_are_sent_again_alone(store, cluster, sleeps):
    cluster.script(
        "POST",
        "/_bulk",
        200,
        {
            "errors": True,
            "items": [
                {"index": {"status": 201}},
                {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
            ],
        },
    )
    store.upsert([record(DOC_A, 0, [1, 0, 0, 0]), record(DOC_A, 1, [0, 1, 0, 0])])
    first, second = cluster.of("POST", "/_bulk")
    assert len(first.body) == 4
    assert [line.get("chunk_id") for line in second.body] == [None, f"{DOC_A}:1"]
    assert sleeps == [0.2]


def test_delete_document_and_owner_are_deletes_by_query(store, cluster):
    store.delete_document(DOC_A)
    store.delete_owner(OWNER)
    deletes = cluster.of("POST", "/_delete_by_query")
    assert [d.body for d in deletes] == [
        {"query": {"term": {"document_id": DOC_A}}},
        {"query": {"term": {"owner_id": OWNER}}},
    ]
    assert all(d.path == "/stratus-chunks/_delete_by_query" for d in deletes)


def test_on_a_managed_domain_deletes_refresh_and_proceed_on_conflicts(cluster, sleeps):
    store = make_store(cluster, sleeps, service="es")
    store.delete_owner(OWNER)
    (delete,) = cluster.of("POST", "/_delete_by_query")
    assert delete.params == {"refresh": "true", "conflicts": "proceed"}


def test_a_delete_by_query_with_failures_raises(store, cluster):
    cluster.indices.add("stratus-chunks")
    cluster.script(
        "POST", "/_delete_by_query", 200, {"deleted": 3, "failures": [{"cause": "shard"}]}
    )
    with pytest.raises(VectorStoreError, match="1 failures"):
        store.delete_document(DOC_A)


# -- search ---------------------------------------------------------------------------------


def hit(document_id: str, chunk_index: int, score: float, owner: str = OWNER) -> dict[str, Any]:
    return {
        "_index": "stratus-chunks",
        "_id": "server-generated",
        "_score": score,
        "_source": {"document_id": document_id, "owner_id": owner, "chunk_index": chunk_index},
    }


def test_search_filters_by_owner_and_documents_inside_the_knn_clause(store, cluster):
    # Given the cluster's answer for the query
    cluster.search_hits = [hit(DOC_A, 2, 1.8), hit(DOC_B, 0, 1.25)]
    # When the owner searches two documents
    hits = store.search(owner_id=OWNER, vector=[2, 0, 0, 0], top_k=5, document_ids=[DOC_A, DOC_B])
    # Then one k-NN query was sent with the filter inside the knn clause and no vector returned
    (search,) = cluster.of("POST", "/_search")
    assert search.path == "/stratus-chunks/_search"
    assert search.body == {
        "size": 5,
        "_source": ["document_id", "owner_id", "chunk_index"],
        "query": {
            "knn": {
                "vector": {
                    "vector": [1.0, 0.0, 0.0, 0.0],
                    "k": 5,
                    "filter": {
                        "bool": {
                            "filter": [
                                {"term": {"owner_id": OWNER}},
                                {"terms": {"document_id": [DOC_A, DOC_B]}},
                            ]
                        }
                    },
                }
            }
        },
    }
    # And the scores are cosine similarities, best first
    assert [(h.document_id, h.chunk_index) for h in hits] == [(DOC_A, 2), (DOC_B, 0)]
    assert [h.score for h in hits] == pytest.approx([0.8, 0.25])


def test_search_without_documents_filters_by_owner_only(store, cluster):
    store.search(owner_id=OWNER, vector=[0, 1, 0, 0], top_k=3)
    (search,) = cluster.of("POST", "/_search")
    assert search.body["query"]["knn"]["vector"]["filter"] == {
        "bool": {"filter": [{"term": {"owner_id": OWNER}}]}
    }


def test_search_drops_duplicate_chunks_and_other_owners_hits(store, cluster):
    # Given a Serverless redelivery left two copies, and (never expected) another owner's hit
    cluster.search_hits = [hit(DOC_A, 0, 1.9), hit(DOC_A, 0, 1.9), hit(DOC_B, 1, 1.5, OTHER)]
    hits = store.search(owner_id=OWNER, vector=[1, 0, 0, 0], top_k=3)
    assert [(h.document_id, h.chunk_index) for h in hits] == [(DOC_A, 0)]
    assert hits[0].score == pytest.approx(0.9)


def test_an_empty_document_list_matches_nothing_without_a_request(store, cluster):
    assert store.search(owner_id=OWNER, vector=[1, 0, 0, 0], top_k=3, document_ids=[]) == []
    assert store.search(owner_id=OWNER, vector=[1, 0, 0, 0], top_k=0) == []
    assert cluster.requests == []


@pytest.mark.parametrize(
    ("score", "cosine"),
    [(2.0, 1.0), (1.5, 0.5), (1.0, 0.0), (0.5, -1.0), (2 / 3, -0.5), (0.0, -1.0)],
)
def test_faiss_inner_product_scores_map_back_to_cosine(score, cosine):
    assert cosine_from_score(score) == pytest.approx(cosine)


# -- retries --------------------------------------------------------------------------------


def test_a_throttled_request_is_retried_with_backoff_then_succeeds(store, cluster, sleeps):
    cluster.indices.add("stratus-chunks")
    for _ in range(2):
        cluster.script("POST", "/_search", 429, {"error": {"type": "too_many_requests"}})
    cluster.search_hits = [hit(DOC_A, 0, 2.0)]
    hits = store.search(owner_id=OWNER, vector=[1, 0, 0, 0], top_k=1)
    assert hits == [VectorHit(DOC_A, 0, 1.0)]
    assert len(cluster.of("POST", "/_search")) == 3
    assert sleeps == [0.2, 0.4]  # exponential, here with the jitter at its ceiling


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried(store, cluster, sleeps, status):
    cluster.indices.add("stratus-chunks")
    cluster.script("POST", "/_search", status, {"error": "unavailable"})
    store.search(owner_id=OWNER, vector=[1, 0, 0, 0], top_k=1)
    assert len(cluster.of("POST", "/_search")) == 2


def test_connection_errors_are_retried(store, cluster, sleeps):
    cluster.indices.add("stratus-chunks")
    cluster.script("POST", "/_search", CONNECTION_ERROR, None)
    store.search(owner_id=OWNER, vector=[1, 0, 0, 0], top_k=1)
    assert len(cluster.of("POST", "/_search")) == 2
    assert len(sleeps) == 1


def test_retries_are_bounded(store, cluster, sleeps):
    cluster.indices.add("stratus-chunks")
    for _ in range(10):
        cluster.script("POST", "/_search", 503, {"error": "unavailable"})
    with pytest.raises(VectorStoreError, match="search failed"):
        store.search(owner_id=OWNER, vector=[1, 0, 0, 0], top_k=1)
    assert len(cluster.of("POST", "/_search")) == 4  # max_attempts
    assert sleeps == [0.2, 0.4, 0.8]


def test_the_backoff_is_capped_and_jittered(cluster, sleeps):
    store = make_store(cluster, sleeps, max_attempts=6, jitter=lambda: 0.5)
    cluster.indices.add("stratus-chunks")
    for _ in range(5):
        cluster.script("POST", "/_search", 429, {"error": "throttled"})
    store.search(owner_id=OWNER, vector=[1, 0, 0, 0], top_k=1)
    assert sleeps == [0.1, 0.2, 0.4, 0.8, 1.5]  # half of min(3.0, 0.2 * 2**n)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_client_errors_are_not_retried(store, cluster, sleeps, status):
    cluster.indices.add("stratus-chunks")
    cluster.script("POST", "/_search", status, {"error": {"type": "bad"}, "status": status})
    with pytest.raises(VectorStoreError) as raised:
        store.search(owner_id=OWNER, vector=[1, 0, 0, 0], top_k=1)
    cause: Any = raised.value.__cause__
    assert cause.status_code == status
    assert len(cluster.of("POST", "/_search")) == 1
    assert sleeps == []


# -- the client, its auth, and the settings -------------------------------------------------


def test_the_transport_is_created_lazily_with_sigv4_for_the_service(sleeps):
    from botocore.credentials import Credentials

    credentials = Credentials("AKIDTEST", "secret", "token")
    store = OpenSearchVectorStore(
        endpoint="https://abc123.us-east-1.aoss.amazonaws.com",
        index="stratus-chunks",
        service="aoss",
        region="eu-west-1",
        dimensions=DIMS,
        credentials=credentials,
    )
    assert store._client is None  # nothing built yet
    transport = store.client
    assert isinstance(transport, SignedTransport)
    assert (transport._service, transport._region) == ("aoss", "eu-west-1")
    assert transport._endpoint == "https://abc123.us-east-1.aoss.amazonaws.com"
    assert transport._credentials is credentials


def test_the_signer_uses_the_process_credentials_from_the_environment(monkeypatch):
    from shared.platform import aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    aws.reset()
    try:
        store = OpenSearchVectorStore(
            endpoint="https://search.example.com",
            index="i",
            service="es",
            region="us-east-1",
            dimensions=DIMS,
        )
        transport = store.client
        assert isinstance(transport, SignedTransport)
        assert transport._service == "es"
        assert transport._credentials.get_frozen_credentials().access_key == "AKIDFROMENV"
    finally:
        aws.reset()


def test_settings_default_to_pgvector_locally_and_serverless_for_opensearch():
    settings = VectorSettings()
    assert settings.vector_store == "pgvector"
    assert settings.opensearch_service == "aoss"
    assert settings.opensearch_index == "stratus-chunks"
    assert settings.embedding_dimensions == 256


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://search.example.com",
        "ftp://search.example.com",
        "https://search.example.com/some/path",
        "search.example.com",
    ],
)
def test_the_endpoint_must_be_a_bare_https_url(endpoint):
    with pytest.raises(ValidationError):
        VectorSettings(OPENSEARCH_ENDPOINT=endpoint)


def test_opensearch_needs_an_endpoint():
    with pytest.raises(ValidationError, match="OPENSEARCH_ENDPOINT"):
        VectorSettings(VECTOR_STORE="opensearch")


def test_get_vector_store_builds_the_configured_adapter_once(monkeypatch):
    from shared import vectors
    from shared.platform.settings import reset_settings

    monkeypatch.setenv("VECTOR_STORE", "opensearch")
    monkeypatch.setenv("OPENSEARCH_ENDPOINT", "https://abc.eu-west-1.aoss.amazonaws.com/")
    monkeypatch.setenv("OPENSEARCH_SERVICE", "aoss")
    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "8")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    reset_settings()
    vectors.reset()
    try:
        store = vectors.get_vector_store()
        assert isinstance(store, OpenSearchVectorStore)
        assert (store.endpoint, store.region, store.service, store.dimensions) == (
            "https://abc.eu-west-1.aoss.amazonaws.com",
            "eu-west-1",
            "aoss",
            8,
        )
        assert vectors.get_vector_store() is store
        assert isinstance(store, vectors.VectorStore)
        assert store._client is None  # no client until the first request
    finally:
        vectors.reset()
        reset_settings()


# -- signed for real, over HTTP ---------------------------------------------------------------


@pytest.fixture
def stand_in(request) -> Iterator[tuple[str, list[Any]]]:
    """The stand-in OpenSearch of tests/support/opensearch.py (it verifies signatures too)."""
    from botocore.credentials import Credentials

    from tests.support.opensearch import OpenSearchStandIn

    credentials = Credentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"
    )
    server = OpenSearchStandIn(
        service=request.param, region="eu-central-1", credentials=credentials
    )
    with server.running():
        yield server.url, server.requests


def verify_sigv4(request: Any, base_url: str, credentials: Any, region: str, service: str):
    """Recompute the request's SigV4 signature with botocore; return the credential scope."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    authorization = request.headers["authorization"]
    algorithm, rest = authorization.split(" ", 1)
    assert algorithm == "AWS4-HMAC-SHA256"
    fields = dict(part.strip().split("=", 1) for part in rest.split(","))
    signed = fields["SignedHeaders"].split(";")
    assert {"host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"} <= set(signed)
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(request.body).hexdigest()
    query = urlencode(sorted(request.params.items()))
    url = base_url + request.path + (f"?{query}" if query else "")
    headers = {name: request.headers[name] for name in signed if name != "host"}
    aws_request = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
    aws_request.context["timestamp"] = request.headers["x-amz-date"]
    auth = SigV4Auth(credentials, service, region)
    canonical = auth.canonical_request(aws_request)
    expected = auth.signature(auth.string_to_sign(aws_request, canonical), aws_request)
    assert fields["Signature"] == expected, canonical
    return fields["Credential"]


@pytest.mark.parametrize(
    ("stand_in", "service"), [("aoss", "aoss"), ("es", "es")], indirect=["stand_in"]
)
def test_requests_are_signed_with_sigv4_over_real_http(stand_in, monkeypatch, service):
    from botocore.credentials import Credentials

    from shared.platform import aws

    # Given credentials in the environment, as Lambda provides them, and a stand-in server
    base_url, recorded = stand_in
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    aws.reset()
    try:
        store = OpenSearchVectorStore(
            endpoint=base_url,
            index="stratus-chunks",
            service=service,
            region="eu-central-1",
            dimensions=DIMS,
        )
        # When the adapter creates its index, writes and searches through its own transport
        # (botocore's SigV4 signer over urllib3)
        store.upsert([record(DOC_A, 0, [1, 2, 3, 4])])
        hits = store.search(owner_id=OWNER, vector=[1, 0, 0, 0], top_k=1)
    finally:
        aws.reset()
    # Then the answers went through
    assert [(h.document_id, h.chunk_index) for h in hits] == [(DOC_A, 0)]
    assert hits[0].score == pytest.approx(1 / math.sqrt(30))
    bulk = "/stratus-chunks/_bulk"
    replace = ["/stratus-chunks/_delete_by_query"] if service == "aoss" else []
    expected_paths = [
        "/stratus-chunks",
        "/stratus-chunks",
        *replace,
        bulk,
        "/stratus-chunks/_search",
    ]
    assert [r.path for r in recorded] == expected_paths
    assert recorded[-2].params == ({"refresh": "wait_for"} if service == "es" else {})
    # And every request carries a valid SigV4 signature for that service and region
    credentials = Credentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"
    )
    for request in recorded:
        scope = verify_sigv4(request, base_url, credentials, "eu-central-1", service)
        assert scope.startswith("AKIDEXAMPLE/")
        assert scope.endswith(f"/eu-central-1/{service}/aws4_request")
        assert request.headers["x-amz-security-token"] == "session-token"
