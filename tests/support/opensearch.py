"""A stand-in for OpenSearch's k-NN REST API, on 127.0.0.1, for the vector-store contract suite.

There is no OpenSearch server on these machines (no Docker, no OpenSearch package, no download),
and moto has no OpenSearch data plane. This server implements, over real HTTP, what the adapter
(``shared.vectors.opensearch``) relies on, with OpenSearch's semantics as documented:

- every request must carry a valid SigV4 signature for the configured service and region
  (recomputed with botocore), else 403, as AWS answers;
- ``HEAD``/``PUT /<index>``: the index and its mapping (``knn_vector`` with ``dimension``, HNSW
  on Faiss, a known ``space_type``); creating an existing index is a 400
  ``resource_already_exists_exception``;
- ``POST /<index>/_bulk`` (NDJSON ``index`` actions): per-item results in a 200 response; a vector
  of the wrong dimension is an item error (``mapper_parsing_exception``); on ``aoss`` a custom
  ``_id`` is refused per item ("Document ID is not supported in create/index operation request",
  as Serverless vector collections answer), on ``es`` ``_id`` replaces the document;
- refresh: a write becomes searchable (and deletable by query) ``refresh_seconds`` after it, or
  at once with ``?refresh=wait_for``/``true`` on ``es``; ``aoss`` refuses the ``refresh`` and
  ``conflicts`` parameters;
- ``POST /<index>/_delete_by_query`` with ``term``/``terms`` on keyword fields;
- ``POST /<index>/_search`` with a ``knn`` query whose ``filter`` (``bool.filter`` of ``term`` /
  ``terms``) is applied *during* the search (efficient filtering: ``k`` hits whenever ``k``
  documents pass the filter), scores as the k-NN plugin reports Faiss ``innerproduct``
  (``d = -x.y``; ``1 / (1 + d)`` if ``d >= 0``, else ``1 - d``), ``size`` hits, ``_source``
  restricted to the requested fields.

The search is exact (a brute-force scan): the stand-in says nothing about the recall of
OpenSearch's HNSW graphs. docs/vectors.md lists what is not exercised.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SPACE_TYPES = {"innerproduct", "l2", "cosinesimil"}


@dataclass
class Doc:
    source: dict[str, Any]
    visible_at: float


@dataclass
class Index:
    dimension: int
    field: str
    docs: dict[str, Doc] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes


class OpenSearchStandIn:
    """The server; ``url`` once started. ``service``: ``aoss`` or ``es``."""

    def __init__(
        self,
        *,
        service: str,
        region: str,
        credentials: Any,
        refresh_seconds: float = 0.0,
    ) -> None:
        self.service = service
        self.region = region
        self.credentials = credentials
        self.refresh_seconds = refresh_seconds
        self.indices: dict[str, Index] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[OpenSearchStandIn]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = stand_in.handle(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                raw = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(raw)

            do_HEAD = do_GET = do_PUT = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)

    # ---- the API -------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(target)
        params = dict(parse_qsl(parts.query))
        with self._lock:
            self.requests.append(Recorded(method, parts.path, params, headers, body))
        if not self._signed(method, target, headers, body):
            return 403, {"message": "The request signature we calculated does not match"}
        if self.service == "aoss" and {"refresh", "conflicts"} & set(params):
            return 400, _error("illegal_argument_exception", "unsupported parameter on aoss")
        segments = [s for s in parts.path.split("/") if s]
        with self._lock:
            if len(segments) == 1 and method in ("HEAD", "PUT"):
                return self._index_api(method, segments[0], body)
            if len(segments) == 2 and method == "POST":
                index = self.indices.get(segments[0])
                if index is None:
                    return 404, _error(
                        "index_not_found_exception", f"no such index [{segments[0]}]"
                    )
                operation = {
                    "_bulk": self._bulk,
                    "_delete_by_query": self._delete_by_query,
                    "_search": self._search,
                }.get(segments[1])
                if operation is not None:
                    return operation(index, params, body)
        return 400, _error("illegal_argument_exception", f"no handler for {method} {parts.path}")

    def _index_api(self, method: str, name: str, body: bytes) -> tuple[int, Any]:
        if method == "HEAD":
            return (200 if name in self.indices else 404), None
        if name in self.indices:
            return 400, _error("resource_already_exists_exception", f"index [{name}] exists")
        mapping = json.loads(body or b"{}")
        if not mapping.get("settings", {}).get("index", {}).get("knn"):
            return 400, _error("illegal_argument_exception", "index.knn must be true")
        vectors = [
            (name_, spec)
            for name_, spec in mapping.get("mappings", {}).get("properties", {}).items()
            if spec.get("type") == "knn_vector"
        ]
        if len(vectors) != 1:
            return 400, _error("mapper_parsing_exception", "expected one knn_vector field")
        field_name, spec = vectors[0]
        method_ = spec.get("method", {})
        if (
            method_.get("name") != "hnsw"
            or method_.get("engine") != "faiss"
            or method_.get("space_type") not in SPACE_TYPES
            or not isinstance(spec.get("dimension"), int)
        ):
            return 400, _error("mapper_parsing_exception", f"unsupported knn method {method_}")
        self.indices[name] = Index(dimension=spec["dimension"], field=field_name)
        return 200, {"acknowledged": True, "index": name}

    def _visible_at(self, params: dict[str, str]) -> float:
        immediate = self.service == "es" and params.get("refresh") in ("wait_for", "true", "")
        return time.monotonic() + (0.0 if immediate else self.refresh_seconds)

    def _bulk(self, index: Index, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        visible_at = self._visible_at(params)
        items: list[dict[str, Any]] = []
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            meta = action.get("index")
            if meta is None:
                items.append({"unknown": {"status": 400}})
                continue
            result: dict[str, Any]
            vector = source.get(index.field)
            if self.service == "aoss" and "_id" in meta:
                result = {
                    "status": 400,
                    "error": _error(
                        "illegal_argument_exception",
                        "Document ID is not supported in create/index operation request",
                    )["error"],
                }
            elif not isinstance(vector, list) or len(vector) != index.dimension:
                result = {
                    "status": 400,
                    "error": _error(
                        "mapper_parsing_exception",
                        f"Vector dimension mismatch. Expected: {index.dimension}",
                    )["error"],
                }
            else:
                doc_id = str(meta.get("_id") or f"auto-{next(self._ids)}")
                created = doc_id not in index.docs
                index.docs[doc_id] = Doc(source, visible_at)
                result = {
                    "_id": doc_id,
                    "status": 201 if created else 200,
                    "result": "created" if created else "updated",
                }
            items.append({"index": result})
        errors = any(item[next(iter(item))]["status"] >= 300 for item in items)
        return 200, {"took": 1, "errors": errors, "items": items}

    def _delete_by_query(
        self, index: Index, params: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        query = json.loads(body)["query"]
        now = time.monotonic()
        doomed = [
            doc_id
            for doc_id, doc in index.docs.items()
            if doc.visible_at <= now and _matches(query, doc.source)
        ]
        for doc_id in doomed:
            del index.docs[doc_id]
        return 200, {"deleted": len(doomed), "failures": []}

    def _search(self, index: Index, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        request = json.loads(body)
        knn = request.get("query", {}).get("knn", {}).get(index.field)
        if knn is None:
            return 400, _error("parsing_exception", "expected a knn query on the vector field")
        vector, k = knn.get("vector"), int(knn.get("k", 0))
        if not isinstance(vector, list) or len(vector) != index.dimension or k < 1:
            return 400, _error("illegal_argument_exception", "bad knn vector or k")
        query_filter = knn.get("filter")
        now = time.monotonic()
        scored = []
        for doc_id, doc in index.docs.items():
            if doc.visible_at > now:
                continue
            if query_filter is not None and not _matches(query_filter, doc.source):
                continue
            distance = -sum(a * b for a, b in zip(vector, doc.source[index.field], strict=True))
            score = 1.0 / (1.0 + distance) if distance >= 0 else 1.0 - distance
            scored.append((score, doc_id, doc))
        scored.sort(key=lambda item: -item[0])
        wanted = request.get("_source")
        hits = [
            {
                "_index": "i",
                "_id": doc_id,
                "_score": score,
                "_source": {
                    key: value
                    for key, value in doc.source.items()
                    if wanted is None or key in wanted
                },
            }
            for score, doc_id, doc in scored[:k][: int(request.get("size", 10))]
        ]
        return 200, {"hits": {"total": {"value": len(hits)}, "hits": hits}}

    # ---- SigV4 -----------------------------------------------------------------------------

    def _signed(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bool:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        authorization = headers.get("authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return False
        fields = dict(
            part.strip().split("=", 1) for part in authorization.split(" ", 1)[1].split(",")
        )
        scope = fields.get("Credential", "").split("/")
        if scope[2:4] != [self.region, self.service]:
            return False
        if headers.get("x-amz-content-sha256") != hashlib.sha256(body).hexdigest():
            return False
        signed = fields.get("SignedHeaders", "").split(";")
        request = AWSRequest(
            method=method,
            url=f"{self.url}{target}",
            data=body,
            headers={name: headers[name] for name in signed if name != "host" and name in headers},
        )
        request.context["timestamp"] = headers.get("x-amz-date", "")
        auth = SigV4Auth(self.credentials, self.service, self.region)
        expected = auth.signature(
            auth.string_to_sign(request, auth.canonical_request(request)), request
        )
        return fields.get("Signature") == expected


def _error(kind: str, reason: str) -> dict[str, Any]:
    return {"error": {"type": kind, "reason": reason}, "status": 400}


def _matches(query: dict[str, Any], source: dict[str, Any]) -> bool:
    """``term``, ``terms`` and ``bool.filter`` of them, on exact (keyword) values."""
    if "bool" in query:
        clauses = query["bool"].get("filter", [])
        return all(_matches(clause, source) for clause in clauses)
    if "term" in query:
        ((name, value),) = query["term"].items()
        return bool(source.get(name) == value)
    if "terms" in query:
        ((name, values),) = query["terms"].items()
        return source.get(name) in values
    raise ValueError(f"unsupported query {query}")
