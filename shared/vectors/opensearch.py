"""The OpenSearch vector store: an OpenSearch Serverless vector collection (``aoss``), or a
managed OpenSearch domain (``es``), reached over HTTPS with SigV4-signed requests.

Decisions (docs/vectors.md has the reasons and the sources):

- Mapping: ``knn_vector`` with HNSW on the Faiss engine, ``space_type`` ``innerproduct``,
  ``ef_construction`` 128, ``m`` 16. Vectors are unit-normalized here before they are indexed
  and before they are searched, so the inner product *is* the cosine similarity, whatever the
  embedder did. (Faiss accepts ``cosinesimil`` only from OpenSearch 2.19; a Serverless
  collection does not let us choose its version, and efficient filtering on Faiss HNSW with
  ``innerproduct`` works on every version that has efficient filtering.)
- Identity: a Serverless *vector search* collection rejects a custom ``_id`` in index and bulk
  requests ("Document ID is not supported in create/index operation request"). So the chunk
  id is stored as a ``keyword`` field everywhere; on ``es`` it is also the ``_id`` (a write is
  idempotent by itself), on ``aoss`` an upsert first deletes by ``chunk_id`` and then indexes
  with server-generated ids. Serverless makes writes searchable after a refresh interval, so a
  redelivery racing the first write can leave two copies for a while: search drops duplicate
  chunk ids, and the next upsert or delete of that chunk removes every copy.
- Search: one ``knn`` query with the owner (and document) filter *inside* the ``knn`` clause
  (efficient filtering: the filter is applied during the graph search, so ``k`` results come
  back when the owner has ``k`` vectors), ``size = top_k``, ``_source`` without the vector.
- Retries: 429, 502, 503, 504 and connection errors (not TLS errors) are retried with capped
  exponential backoff and full jitter, ``max_attempts`` in all; any other error is raised at
  once as :class:`~shared.vectors.VectorStoreError`.
- Client: the five REST calls the adapter makes, signed with botocore's SigV4 signer and sent
  with urllib3 (both ship with the Lambda runtime), instead of opensearch-py, whose 3.x pulls
  grpcio and protobuf (18 MB) into the layer for a gRPC transport nothing here uses.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

from shared.vectors import VectorHit, VectorRecord, VectorStoreError

if TYPE_CHECKING:
    from shared.vectors import VectorSettings

T = TypeVar("T")

#: Statuses worth another attempt: throttling and the gateway's transient failures.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})

VECTOR_FIELD = "vector"
SOURCE_FIELDS = ["document_id", "owner_id", "chunk_index"]


class TransportError(Exception):
    """OpenSearch answered with an error status (``status_code``), or (``status_code`` None)
    could not be reached; ``tls`` when the TLS handshake or certificate failed."""

    def __init__(
        self, status_code: int | None, error: str | None, message: str, *, tls: bool = False
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.tls = tls


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # parsed JSON, or None for an empty body


class Transport(Protocol):
    """Sends one request (``path`` below the endpoint, ``params`` as the query string)."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        body: bytes | None,
        content_type: str,
    ) -> Response: ...


class SignedTransport:
    """HTTPS with SigV4 (botocore's signer) over a urllib3 pool, certificates verified.

    ``X-Amz-Content-SHA256`` is signed too: OpenSearch Serverless requires it."""

    def __init__(
        self, *, endpoint: str, region: str, service: str, credentials: Any, timeout: float
    ) -> None:
        import urllib3

        self._endpoint = endpoint.rstrip("/")
        self._region = region
        self._service = service
        self._credentials = credentials
        self._pool = urllib3.PoolManager(
            retries=False, timeout=urllib3.Timeout(total=timeout), maxsize=4
        )

    def __call__(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        body: bytes | None,
        content_type: str,
    ) -> Response:
        import urllib3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        query = f"?{urlencode(sorted(params.items()))}" if params else ""
        url = f"{self._endpoint}{path}{query}"
        payload = body or b""
        request = AWSRequest(
            method=method,
            url=url,
            data=payload,
            headers={
                "Content-Type": content_type,
                "X-Amz-Content-SHA256": hashlib.sha256(payload).hexdigest(),
            },
        )
        SigV4Auth(self._credentials, self._service, self._region).add_auth(request)
        try:
            answer = self._pool.request(
                method, url, body=payload or None, headers=dict(request.headers.items())
            )
        except urllib3.exceptions.SSLError as exc:
            raise TransportError(None, None, f"TLS failed: {exc}", tls=True) from exc
        except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out
            raise TransportError(None, None, f"connection failed: {exc}") from exc
        return response_or_error(answer.status, json.loads(answer.data) if answer.data else None)


def response_or_error(status: int, parsed: Any) -> Response:
    """The response, or :class:`TransportError` with OpenSearch's error type for a status of
    300 or more."""
    if status >= 300:
        error = parsed.get("error") if isinstance(parsed, dict) else None
        kind = error.get("type") if isinstance(error, dict) else error
        raise TransportError(status, str(kind) if kind else None, f"{status} {parsed}")
    return Response(status, parsed)


def index_body(dimensions: int) -> dict[str, Any]:
    """The index settings and mapping (a pure function, so tests and docs can show it)."""
    return {
        "settings": {"index": {"knn": True}},
        "mappings": {
            "properties": {
                VECTOR_FIELD: {
                    "type": "knn_vector",
                    "dimension": dimensions,
                    "method": {
                        "name": "hnsw",
                        "engine": "faiss",
                        "space_type": "innerproduct",
                        "parameters": {"ef_construction": 128, "m": 16},
                    },
                },
                "chunk_id": {"type": "keyword"},
                "owner_id": {"type": "keyword"},
                "document_id": {"type": "keyword"},
                "chunk_index": {"type": "integer"},
            }
        },
    }


def cosine_from_score(score: float) -> float:
    """Undo the k-NN plugin's score for Faiss ``innerproduct`` on unit vectors.

    The plugin reports ``d = -(x . y)`` as ``score = 1 / (1 + d)`` when ``d >= 0`` and as
    ``score = 1 - d`` when ``d < 0``; with unit vectors ``x . y`` is the cosine.
    """
    if score >= 1.0:
        cosine = score - 1.0
    elif score > 0.0:
        cosine = 1.0 - 1.0 / score
    else:
        cosine = -1.0
    return max(-1.0, min(1.0, cosine))


def _unit(vector: Sequence[float], dimensions: int, what: str) -> list[float]:
    try:
        values = [float(x) for x in vector]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a sequence of numbers") from None
    if len(values) != dimensions:
        raise ValueError(f"{what} must have {dimensions} dimensions, not {len(values)}")
    if not all(math.isfinite(x) for x in values):
        raise ValueError(f"{what} must hold finite numbers")
    norm = math.sqrt(math.fsum(x * x for x in values))
    if norm == 0:
        raise ValueError(f"{what} is zero: it has no direction to compare")
    return [x / norm for x in values]


class OpenSearchVectorStore:
    """A vector store in OpenSearch; the client is created on first use.

    ``endpoint``: ``https://<collection-id>.<region>.aoss.amazonaws.com`` or a domain's
    endpoint. ``service``: ``aoss`` (Serverless) or ``es`` (a managed domain), which is also the
    SigV4 signing name. ``credentials``: botocore credentials (default: those of the process's
    boto3 session). ``transport``: how requests are sent (default: :class:`SignedTransport`;
    tests inject one).
    """

    def __init__(
        self,
        *,
        endpoint: str,
        index: str,
        service: Literal["aoss", "es"],
        region: str,
        dimensions: int,
        credentials: Any | None = None,
        transport: Transport | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_base: float = 0.2,
        backoff_cap: float = 3.0,
        bulk_batch_size: int = 500,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,  # backoff jitter, not a secret
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"not an endpoint URL: {endpoint!r}")
        self.endpoint = endpoint
        self.index = index
        self.service = service
        self.region = region
        self.dimensions = dimensions
        self._use_ssl = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._use_ssl else 80)
        self._credentials = credentials
        self._transport = transport
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._bulk_batch_size = bulk_batch_size
        self._sleep = sleep
        self._jitter = jitter
        self._client: Any = None
        self._index_ready = False
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: VectorSettings, *, region: str) -> OpenSearchVectorStore:
        """The store that ``VECTOR_STORE=opensearch`` describes."""
        if not settings.opensearch_endpoint:
            raise ValueError("OPENSEARCH_ENDPOINT is not set")
        return cls(
            endpoint=settings.opensearch_endpoint,
            index=settings.opensearch_index,
            service=settings.opensearch_service,
            region=region,
            dimensions=settings.embedding_dimensions,
        )

    # -- the client -------------------------------------------------------------------------

    @property
    def client(self) -> Transport:
        """The transport, created on first use (never at import)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._transport or self._build_client()
        transport: Transport = self._client
        return transport

    def _build_client(self) -> Transport:
        credentials = self._credentials
        if credentials is None:
            from shared.platform.aws import session

            credentials = session().get_credentials()
        if credentials is None:
            raise VectorStoreError("no AWS credentials to sign OpenSearch requests with")
        return SignedTransport(
            endpoint=self.endpoint,
            region=self.region,
            service=self.service,
            credentials=credentials,
            timeout=self._timeout,
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        ndjson: str | None = None,
    ) -> Response:
        data: bytes | None = None
        content_type = "application/json"
        if ndjson is not None:
            data, content_type = ndjson.encode(), "application/x-ndjson"
        elif body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
        return self.client(method, path, params=params or {}, body=data, content_type=content_type)

    def _retrying(self, operation: str, call: Callable[[], T]) -> T:
        attempt = 1
        while True:
            try:
                return call()
            except TransportError as exc:
                transient = (
                    exc.status_code is None and not exc.tls
                ) or exc.status_code in RETRYABLE_STATUSES
                if not transient or attempt >= self._max_attempts:
                    raise VectorStoreError(f"OpenSearch {operation} failed: {exc}") from exc
            self._backoff(attempt)
            attempt += 1

    def _backoff(self, attempt: int) -> None:
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        self._sleep(self._jitter() * ceiling)

    def _ensure_index(self) -> None:
        """Create the index when it is missing: checked once per store (per process)."""
        if self._index_ready:
            return
        self.client  # noqa: B018 - built before the lock, which building it takes too
        with self._lock:
            if self._index_ready:
                return
            exists = self._retrying("index check", self._index_exists)
            if not exists:
                self._retrying("index creation", self._create_index)
            self._index_ready = True

    def _index_exists(self) -> bool:
        try:
            self._call("HEAD", f"/{self.index}")
        except TransportError as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    def _create_index(self) -> None:
        try:
            self._call("PUT", f"/{self.index}", body=index_body(self.dimensions))
        except TransportError as exc:
            if exc.error != "resource_already_exists_exception":  # another process won the race
                raise

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Index ``records``, replacing earlier copies of the same chunk ids."""
        documents: dict[str, dict[str, Any]] = {}
        for record in records:
            documents[record.chunk_id] = {
                "chunk_id": record.chunk_id,
                "document_id": record.document_id,
                "owner_id": record.owner_id,
                "chunk_index": record.chunk_index,
                VECTOR_FIELD: _unit(record.vector, self.dimensions, "a vector"),
            }
        if not documents:
            return
        self._ensure_index()
        pending = list(documents.values())
        for start in range(0, len(pending), self._bulk_batch_size):
            batch = pending[start : start + self._bulk_batch_size]
            if self.service == "aoss":  # no custom _id here: replace by chunk_id instead
                self._delete_by_query({"terms": {"chunk_id": [d["chunk_id"] for d in batch]}})
            self._bulk_index(batch)

    def _bulk_body(self, batch: Sequence[dict[str, Any]]) -> str:
        lines: list[str] = []
        for document in batch:
            action: dict[str, Any] = {"_index": self.index}
            if self.service == "es":
                action["_id"] = document["chunk_id"]
            lines.append(json.dumps({"index": action}, separators=(",", ":")))
            lines.append(json.dumps(document, separators=(",", ":")))
        return "\n".join(lines) + "\n"

    def _bulk_index(self, batch: Sequence[dict[str, Any]]) -> None:
        """One bulk request; items throttled with 429 are sent again, any other failed item
        raises (a bulk response is 200 even when items fail)."""
        params: dict[str, str] = {"refresh": "wait_for"} if self.service == "es" else {}
        pending = list(batch)
        attempt = 1
        while True:
            response = (
                self._retrying(
                    "bulk index",
                    partial(
                        self._call,
                        "POST",
                        f"/{self.index}/_bulk",
                        params=params,
                        ndjson=self._bulk_body(pending),
                    ),
                ).body
                or {}
            )
            if not response.get("errors"):
                return
            failed: list[tuple[dict[str, Any], dict[str, Any]]] = []
            for document, item in zip(pending, response.get("items", []), strict=False):
                result: dict[str, Any] = next(iter(item.values()), {})
                if int(result.get("status", 500)) >= 300:
                    failed.append((document, result))
            if not failed:  # "errors" without a failed item: nothing to send again
                return
            throttled = all(int(result.get("status", 0)) == 429 for _, result in failed)
            if not throttled or attempt >= self._max_attempts:
                details = "; ".join(
                    f"{document['chunk_id']}: {result.get('status')} "
                    f"{(result.get('error') or {}).get('type')}: "
                    f"{(result.get('error') or {}).get('reason')}"
                    for document, result in failed[:3]
                )
                raise VectorStoreError(
                    f"OpenSearch bulk index: {len(failed)} of {len(pending)} items failed: "
                    f"{details}"
                )
            pending = [document for document, _ in failed]
            self._backoff(attempt)
            attempt += 1

    def _delete_by_query(self, query: dict[str, Any]) -> None:
        # Serverless takes neither refresh nor conflicts; a domain refreshes so that a search
        # right after a delete no longer sees the vectors.
        params: dict[str, str] = (
            {"refresh": "true", "conflicts": "proceed"} if self.service == "es" else {}
        )
        response = (
            self._retrying(
                "delete by query",
                partial(
                    self._call,
                    "POST",
                    f"/{self.index}/_delete_by_query",
                    params=params,
                    body={"query": query},
                ),
            ).body
            or {}
        )
        failures = response.get("failures") or []
        if failures:
            raise VectorStoreError(f"OpenSearch delete by query: {len(failures)} failures")

    def index_pending(self, limit: int = 2000) -> int:
        """Nothing to do: OpenSearch builds its graphs as it indexes (and merges segments)."""
        return 0

    def delete_document(self, document_id: str) -> None:
        """Remove every vector of ``document_id``."""
        self._ensure_index()
        self._delete_by_query({"term": {"document_id": document_id}})

    def delete_owner(self, owner_id: str) -> None:
        """Remove every vector of ``owner_id``."""
        self._ensure_index()
        self._delete_by_query({"term": {"owner_id": owner_id}})

    # -- search -----------------------------------------------------------------------------

    def search_body(
        self,
        *,
        owner_id: str,
        vector: Sequence[float],
        top_k: int,
        document_ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """The k-NN query: the filter sits inside the ``knn`` clause (efficient filtering)."""
        filters: list[dict[str, Any]] = [{"term": {"owner_id": owner_id}}]
        if document_ids is not None:
            filters.append({"terms": {"document_id": list(dict.fromkeys(document_ids))}})
        return {
            "size": top_k,
            "_source": SOURCE_FIELDS,
            "query": {
                "knn": {
                    VECTOR_FIELD: {
                        "vector": _unit(vector, self.dimensions, "the query vector"),
                        "k": top_k,
                        "filter": {"bool": {"filter": filters}},
                    }
                }
            },
        }

    def search(
        self,
        *,
        owner_id: str,
        vector: Sequence[float],
        top_k: int,
        document_ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """The ``top_k`` nearest chunks of ``owner_id`` by cosine similarity, best first."""
        if top_k <= 0 or (document_ids is not None and len(document_ids) == 0):
            return []
        body = self.search_body(
            owner_id=owner_id, vector=vector, top_k=top_k, document_ids=document_ids
        )
        self._ensure_index()
        response = (
            self._retrying(
                "search", partial(self._call, "POST", f"/{self.index}/_search", body=body)
            ).body
            or {}
        )
        hits: list[VectorHit] = []
        seen: set[tuple[str, int]] = set()
        for hit in response.get("hits", {}).get("hits", []):
            source = hit.get("_source") or {}
            if source.get("owner_id") != owner_id:  # the filter is the guard; this is a second
                continue
            key = (str(source["document_id"]), int(source["chunk_index"]))
            if key in seen:  # a Serverless redelivery may leave two copies for a while
                continue
            seen.add(key)
            hits.append(VectorHit(key[0], key[1], cosine_from_score(float(hit["_score"]))))
        hits.sort(key=lambda h: -h.score)
        return hits


__all__ = [
    "OpenSearchVectorStore",
    "Response",
    "SignedTransport",
    "Transport",
    "TransportError",
    "cosine_from_score",
    "index_body",
    "response_or_error",
]
