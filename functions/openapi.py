"""The OpenAPI document of the public API, derived from the registry.

Every HTTP function contributes its one route; the document adds the bearer security scheme and
the RFC 9457 problem schema that every error response refers to. ``make openapi`` writes it to
``docs/openapi.json``; the local runner serves it at ``/openapi.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from functions.registry import REPO_ROOT, Registry, discover
from shared.platform.errors import Problem
from shared.platform.http import HttpFunction, build_app

TITLE = "Stratus API"
DOC_PATH = REPO_ROOT / "docs" / "openapi.json"


def build_openapi(registry: Registry, *, version: str = "1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route in ``registry``."""
    routers = []
    for entry, _ in registry.routes:
        fn = entry.function
        assert isinstance(fn, HttpFunction)
        routers.append(fn.router)
    app = build_app(*routers, title=TITLE, version=version, openapi_url="/openapi.json")
    doc = app.openapi()
    components = doc.setdefault("components", {})
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
