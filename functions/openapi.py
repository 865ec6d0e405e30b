"""The OpenAPI document of the public API, derived from the registry.

Every HTTP function contributes its one route; the document adds the bearer security scheme,
the RFC 9457 problem schema that every error response refers to, and the response headers of
the contract: ``X-Request-Id`` on every response, ``RateLimit-*`` on the rate-limited routes,
``Retry-After`` on 429 and 503, ``WWW-Authenticate`` on 401. Each operation's ``operationId`` is
its function's registry name (``auth-login``), stable across refactors of the Python code, and
``info.version`` is the project's version, the one ``/health`` reports. ``make openapi`` writes
it to ``docs/openapi.json``; the local runner serves it at ``/openapi.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from functions.registry import REPO_ROOT, Registry, discover
from infra.config import project_version
from shared.platform.errors import Problem
from shared.platform.http import HttpFunction, build_app
from shared.platform.observability import REQUEST_ID_HEADER

TITLE = "Stratus API"
DOC_PATH = REPO_ROOT / "docs" / "openapi.json"


#: The response headers of the contract, declared once under ``components.headers``.
HEADERS: dict[str, dict[str, Any]] = {
    REQUEST_ID_HEADER: {
        "description": "The caller's own id when it sent a sane one (1-128 characters of "
        "[A-Za-z0-9._-]), else a generated one; API Gateway's own responses carry its id.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
    },
    "RateLimit-Limit": {
        "description": "Requests allowed per minute for this caller (absent while the rate "
        "limiter is unavailable, and on API Gateway's own responses).",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the window resets.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with: `Bearer`.",
        "schema": {"type": "string", "const": "Bearer"},
    },
}
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def _response_headers(status: str, *, rate_limited: bool) -> dict[str, Any]:
    names = [REQUEST_ID_HEADER]
    if rate_limited:
        names += RATE_LIMIT_HEADERS
    if status in ("429", "503"):
        names.append("Retry-After")
    if status == "401":
        names.append("WWW-Authenticate")
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _absent_not_null(parameter: dict[str, Any]) -> None:
    """An optional query, header or cookie parameter is absent, never ``null`` (a string
    cannot be): drop the ``null`` alternative FastAPI declares for ``X | None``."""
    schema = parameter.get("schema", {})
    options = schema.get("anyOf")
    if parameter.get("required") or not options:
        return
    kept = [option for option in options if option.get("type") != "null"]
    if len(kept) == 1:
        schema.pop("anyOf")
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept


def build_openapi(registry: Registry, *, version: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route in ``registry``."""
    routers = []
    for entry, _ in registry.routes:
        fn = entry.function
        assert isinstance(fn, HttpFunction)
        routers.append(fn.router)
    app = build_app(
        *routers, title=TITLE, version=version or project_version(), openapi_url="/openapi.json"
    )
    doc = app.openapi()
    for entry, route in registry.routes:
        fn = entry.function
        assert isinstance(fn, HttpFunction)
        operation = doc["paths"][route.path][route.method.lower()]
        operation["operationId"] = entry.name
        for status, response in operation["responses"].items():
            response["headers"] = _response_headers(status, rate_limited=fn.rate_limited)
        for parameter in operation.get("parameters", []):
            _absent_not_null(parameter)
    components = doc.setdefault("components", {})
    components["headers"] = HEADERS
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schemas["Problem"].pop("$defs", {}))
    components["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    doc["info"]["description"] = (
        "The HTTP contract of Stratus. Errors are RFC 9457 problem documents "
        "(application/problem+json); every response carries X-Request-Id and the RateLimit "
        "headers."
    )
    return doc


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Write ``docs/openapi.json``."""
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    Path(DOC_PATH).write_text(render(build_openapi(discover())))
    print(f"wrote {DOC_PATH.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
