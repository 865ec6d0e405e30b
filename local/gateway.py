"""API Gateway on loopback: HTTP requests become REST API (v1) proxy events for the real handlers.

As in AWS: the route is matched against the declared routes (an unknown one gets the gateway's
404 response), the Lambda authorizer runs first on a route that needs auth (its policy decides,
its context lands in ``requestContext.authorizer``), the route's handler is invoked with a
Lambda context, and the proxy response is written back. Bodies of the binary media types are
base64-encoded, as API Gateway does.

With a frontend origin (``FRONTEND_ORIGIN``, as the CDK app's ``frontend_origin``), an OPTIONS
preflight on a declared path is answered by the gateway itself (the CDK app's mock integration:
204, no authorizer, no function), and the gateway's own responses carry
``Access-Control-Allow-Origin``; the functions add their CORS headers themselves
(``shared.platform.http``).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock, Thread
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from functions.gateway import BINARY_MEDIA_TYPES, GATEWAY_RESPONSES
from functions.registry import Entry, Registry
from local.invoke import Invoker, invoke
from local.lambda_context import ACCOUNT_ID, REGION
from shared.platform.errors import PROBLEM_CONTENT_TYPE, Problem
from shared.platform.http import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE_SECONDS
from shared.platform.observability import REQUEST_ID_HEADER
from shared.platform.settings import Cors

API_ID = "localapi"
STAGE = "local"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_LAMBDA_PAYLOAD = 6 * 1024 * 1024  # synchronous Lambda invoke limit, request and response


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    gateway_response: bool = False  # one of API Gateway's own responses (GATEWAY_RESPONSES)


def gateway_reply(kind: str, request_id: str) -> Reply:
    """The response API Gateway itself gives (``functions.gateway.GATEWAY_RESPONSES``)."""
    spec = GATEWAY_RESPONSES.get(kind)
    if spec is None:  # the authorizer failures: API Gateway falls back to DEFAULT_5XX
        spec = GATEWAY_RESPONSES["DEFAULT_5XX"]
    headers = [*spec.all_headers.items(), (REQUEST_ID_HEADER, request_id)]
    return Reply(
        spec.status, headers, json.dumps(spec.body(request_id)).encode(), gateway_response=True
    )


def preflight_reply(origin: str, methods: list[str], request_id: str) -> Reply:
    """The CORS preflight answer of the CDK app's mock integration (``CorsOptions``)."""
    headers = [
        ("Access-Control-Allow-Headers", ",".join(CORS_ALLOW_HEADERS)),
        ("Access-Control-Allow-Origin", origin),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Methods", ",".join(["OPTIONS", *methods])),
        ("Access-Control-Max-Age", str(CORS_MAX_AGE_SECONDS)),
        ("Access-Control-Expose-Headers", ",".join(CORS_EXPOSE_HEADERS)),
        ("x-amzn-RequestId", request_id),
    ]
    return Reply(204, headers, b"")


def is_binary(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatch(media, pattern) for pattern in BINARY_MEDIA_TYPES)


def method_arn(method: str, path: str) -> str:
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{STAGE}/{method}/{path.lstrip('/')}"


def build_event(
    *,
    method: str,
    path: str,
    resource: str,
    path_params: dict[str, str],
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    request_id: str,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy event, as API Gateway builds it."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
    # A text body that is not UTF-8 goes on as its bytes (base64), never decoded with U+FFFD:
    # the function refuses it (shared.platform.http.text_errors).
    encoded = bool(body) and (is_binary(content_type) or not _is_utf8(body))
    now = datetime.now(UTC)
    user_agent = next((v for k, v in headers if k.lower() == "user-agent"), None)
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": "127.0.0.1",
        "domainPrefix": "127",
        "extendedRequestId": request_id,
        "httpMethod": method,
        "identity": {"sourceIp": source_ip, "userAgent": user_agent},
        "path": f"/{STAGE}{path}",
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "resourceId": "local",
        "resourcePath": resource,
        "stage": STAGE,
    }
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_params or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": (base64.b64encode(body).decode() if encoded else body.decode()) if body else None,
        "isBase64Encoded": encoded,
    }


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def policy_allows(policy: dict[str, Any], arn: str) -> bool:
    """IAM evaluation of an authorizer's policy for ``arn``: an explicit Deny wins."""
    allowed = False
    for statement in policy.get("Statement", []):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(arn, r) for r in resources):
            if statement.get("Effect") == "Deny":
                return False
            if statement.get("Effect") == "Allow":
                allowed = True
    return allowed


@dataclass
class Authorizer:
    """Runs the declared TOKEN authorizer, with API Gateway's result cache."""

    entry: Entry
    ttl_seconds: int
    invoker: Invoker = invoke
    _cache: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    _lock: Lock = field(default_factory=Lock)

    def authorize(self, token: str, arn: str, request_id: str) -> dict[str, Any] | Reply:
        """The ``requestContext.authorizer`` for ``token``, or the gateway's refusal."""
        result = self._cached(token)
        if result is None:
            event = {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}
            outcome = self.invoker(self.entry, event)
            if outcome.error is not None:
                if str(outcome.error) == "Unauthorized":
                    return gateway_reply("UNAUTHORIZED", request_id)
                return gateway_reply("AUTHORIZER_FAILURE", request_id)
            result = outcome.result
            if not isinstance(result, dict) or "policyDocument" not in result:
                return gateway_reply("AUTHORIZER_CONFIGURATION_ERROR", request_id)
            if self.ttl_seconds > 0:
                with self._lock:
                    self._cache[token] = (time.monotonic() + self.ttl_seconds, result)
        if not policy_allows(result["policyDocument"], arn):
            return gateway_reply("ACCESS_DENIED", request_id)
        context = {k: v for k, v in (result.get("context") or {}).items()}
        context["principalId"] = result.get("principalId")
        return context

    def _cached(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            hit = self._cache.get(token)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            self._cache.pop(token, None)
        return None


class Gateway:
    """Routes one HTTP request through the authorizer and the route's handler."""

    def __init__(
        self,
        registry: Registry,
        *,
        extra_routes: dict[tuple[str, str], Any],
        sites: tuple[Any, ...] = (),
        invoker: Invoker = invoke,
    ) -> None:
        self.registry = registry
        self.invoker = invoker  # the runner's: each function in its own processes
        self.extra_routes = extra_routes  # the runner's own pages: /openapi.json, /docs, ...
        # Static files (local.site.StaticSite) for a GET outside the API's paths, as the CDN
        # sends every path the API does not own to the web app's bucket.
        self.sites = sites
        self.api_segments = {r.path.split("/")[1] for _, r in registry.routes}
        auth = registry.authorizers[0] if registry.authorizers else None
        self.authorizer = Authorizer(auth[0], auth[1].result_ttl_seconds, invoker) if auth else None
        # Read when the runner starts, from the environment the functions get (an invalid
        # origin stops the runner here, with the reason).
        self.frontend_origin = Cors().frontend_origin

    def handle(
        self, *, method: str, target: str, headers: list[tuple[str, str]], body: bytes, ip: str
    ) -> Reply:
        reply = self._route(method=method, target=target, headers=headers, body=body, ip=ip)
        return self.with_cors(reply)

    def with_cors(self, reply: Reply) -> Reply:
        """A gateway response, with ``Access-Control-Allow-Origin`` when an origin is set (the
        CDK app adds it to every gateway response); any other reply unchanged."""
        if self.frontend_origin is not None and reply.gateway_response:
            # The CDK app's gateway responses (infra/components/api.py): readable, headers too.
            reply.headers += [
                ("Access-Control-Allow-Origin", self.frontend_origin),
                ("Access-Control-Expose-Headers", ",".join(CORS_EXPOSE_HEADERS)),
                ("Vary", "Origin"),
            ]
        return reply

    def methods_at(self, path: str) -> list[str]:
        """The declared methods on the resource ``path`` belongs to."""
        return sorted({r.method for _, r in self.registry.routes if r.path_regex.match(path)})

    def _route(
        self, *, method: str, target: str, headers: list[tuple[str, str]], body: bytes, ip: str
    ) -> Reply:
        request_id = str(uuid.uuid4())
        split = urlsplit(target)
        path = split.path or "/"
        extra = self.extra_routes.get((method, path))
        if extra is not None:
            reply: Reply = extra(split.query, body)
            return reply
        if len(body) > MAX_REQUEST_BYTES:
            return gateway_reply("REQUEST_TOO_LARGE", request_id)
        if method == "OPTIONS" and self.frontend_origin is not None:
            methods = self.methods_at(path)
            if methods:
                return preflight_reply(self.frontend_origin, methods, request_id)
        found = self.registry.match(method, path)
        if found is None:
            if method in ("GET", "HEAD") and path.split("/")[1] not in self.api_segments:
                for site in self.sites:
                    served: Reply | None = site.reply(path)
                    if served is not None:
                        return served
            return gateway_reply("MISSING_AUTHENTICATION_TOKEN", request_id)
        entry, route, params = found
        authorizer_context = None
        if route.auth:
            if self.authorizer is None:
                raise RuntimeError(
                    f"{method} {route.path} needs auth but no authorizer function is declared"
                )
            token = next((v for k, v in headers if k.lower() == "authorization"), "")
            if not token:
                return gateway_reply("UNAUTHORIZED", request_id)
            decided = self.authorizer.authorize(token, method_arn(method, path), request_id)
            if isinstance(decided, Reply):
                return decided
            authorizer_context = decided
        event = build_event(
            method=method,
            path=path,
            resource=route.path,
            path_params=params,
            # Bytes that are not UTF-8 stay lone surrogates, which the function refuses (422),
            # rather than U+FFFD, which it would take for text.
            query=parse_qsl(split.query, keep_blank_values=True, errors="surrogateescape"),
            headers=headers,
            body=body,
            source_ip=ip,
            request_id=request_id,
            authorizer=authorizer_context,
        )
        if len(json.dumps(event)) > MAX_LAMBDA_PAYLOAD:
            return gateway_reply("REQUEST_TOO_LARGE", request_id)
        outcome = self.invoker(entry, event)
        if outcome.error is not None or not isinstance(outcome.result, dict):
            return gateway_reply("DEFAULT_5XX", request_id)  # Lambda error: 502 in AWS
        return proxy_reply(outcome.result, request_id)


def proxy_reply(result: dict[str, Any], request_id: str) -> Reply:
    """Turn a Lambda proxy response into the HTTP response API Gateway sends."""
    if len(json.dumps(result)) > MAX_LAMBDA_PAYLOAD:
        print(f"! response over Lambda's 6 MB limit: a deployed function would fail ({request_id})")
        return gateway_reply("DEFAULT_5XX", request_id)
    headers: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    for name, values in multi.items():
        headers.extend((name, str(v)) for v in values)
    for name, value in (result.get("headers") or {}).items():
        if name not in multi:
            headers.append((name, str(value)))
    headers.append(("x-amzn-RequestId", request_id))
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
    return Reply(int(result.get("statusCode", 502)), headers, body)


#: The methods the gateway serves; any other gets a 405 problem (``_Handler.send_error``).
_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            reply = self.server.gateway.handle(
                method=self.command,
                target=self.path,
                headers=[(k, v) for k, v in self.headers.items() if k.lower() != "host"]
                + [("Host", self.headers.get("Host", ""))],
                body=body,
                ip=self.client_address[0],
            )
        except Exception as exc:
            print(f"! local runner failed to emulate this request: {type(exc).__name__}")
            reply = self.server.gateway.with_cors(gateway_reply("DEFAULT_5XX", str(uuid.uuid4())))
        self._write(reply)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server answers by itself (a method it has no handler for, such as TRACE or
        CONNECT; a malformed request line; headers too long) as a problem, never its HTML page."""
        request_id = str(uuid.uuid4())
        headers = [("Content-Type", PROBLEM_CONTENT_TYPE), (REQUEST_ID_HEADER, request_id)]
        if code == HTTPStatus.NOT_IMPLEMENTED and self.command:
            # A method no route has: 405, with the methods the resource has (or all served).
            code = HTTPStatus.METHOD_NOT_ALLOWED
            path = urlsplit(self.path).path or "/"
            allowed = self.server.gateway.methods_at(path) or list(_METHODS)
            headers.append(("Allow", ", ".join(allowed)))
            detail = f"{self.command} is not allowed here."
        else:
            detail = HTTPStatus(code).description or HTTPStatus(code).phrase
        problem = Problem(status=code, detail=detail, request_id=request_id)
        reply = Reply(code, headers, json.dumps(problem.body()).encode(), gateway_response=True)
        self.close_connection = True
        self._write(self.server.gateway.with_cors(reply))

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            if name.lower() not in {"content-length", "connection"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per invocation is logged by local.invoke


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 resets bursts of parallel clients

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        super().__init__(address, _Handler)
        self.gateway = gateway


class HttpServer:
    """The gateway served on ``127.0.0.1:port`` from a background thread."""

    def __init__(self, gateway: Gateway, port: int) -> None:
        self.gateway = gateway
        self._server = _Server(("127.0.0.1", port), gateway)
        self.port = self._server.server_address[1]
        self._thread = Thread(target=self._server.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
