"""The OpenAPI document follows the contract's rules on operation ids, headers and version."""

from __future__ import annotations

from functions.openapi import build_openapi
from functions.registry import discover
from infra.config import project_version

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def operations(doc: dict) -> dict[str, dict]:
    return {
        op["operationId"]: op
        for item in doc["paths"].values()
        for method, op in item.items()
        if method in HTTP_METHODS
    }


def header_names(response: dict) -> set[str]:
    return {ref["$ref"].rsplit("/", 1)[1] for ref in response.get("headers", {}).values()}


def test_every_operation_id_is_its_functions_registry_name():
    registry = discover()
    doc = build_openapi(registry)
    expected = {entry.name for entry, _ in registry.routes}
    assert set(operations(doc)) == expected
    assert doc["paths"]["/auth/login"]["post"]["operationId"] == "auth-login"


def test_info_version_is_the_project_version_that_health_reports(monkeypatch):
    from functions.system.health.handler import health
    from shared.platform.settings import Observability

    doc = build_openapi(discover())
    assert doc["info"]["version"] == project_version()
    # /health reports APP_VERSION, which the CDK app and the runner set to the project version
    monkeypatch.setenv("APP_VERSION", project_version())
    import asyncio

    reported = asyncio.run(health(Observability()))
    assert reported.version == doc["info"]["version"]


def test_every_response_declares_x_request_id_and_the_contracts_other_headers():
    registry = discover()
    doc = build_openapi(registry)
    ops = operations(doc)
    for entry, _ in registry.routes:
        op = ops[entry.name]
        for status, response in op["responses"].items():
            names = header_names(response)
            assert "X-Request-Id" in names, (entry.name, status)
            limited = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
            if entry.function.rate_limited:  # type: ignore[attr-defined]
                assert limited <= names, (entry.name, status)
            else:
                assert not limited & names, (entry.name, status)
            assert ("Retry-After" in names) == (status in {"429", "503"}), (entry.name, status)
            assert ("WWW-Authenticate" in names) == (status == "401"), (entry.name, status)
    # /health is not rate-limited, login is
    assert "RateLimit-Limit" not in header_names(ops["system-health"]["responses"]["200"])
    assert "Retry-After" in header_names(ops["auth-login"]["responses"]["429"])
    # and every referenced header is defined once, with a schema
    for name, header in doc["components"]["headers"].items():
        assert header["schema"], name
        assert header["description"], name


def test_the_session_mode_header_and_the_browser_session_body_are_declared():
    doc = build_openapi(discover())
    login = doc["paths"]["/auth/login"]["post"]
    assert any(p["in"] == "header" and p["name"] == "X-Session-Mode" for p in login["parameters"])
    body = login["responses"]["200"]["content"]["application/json"]["schema"]
    refs = {option["$ref"].rsplit("/", 1)[1] for option in body["anyOf"]}
    assert refs == {"TokenPair", "BrowserSession"}
    browser = doc["components"]["schemas"]["BrowserSession"]
    assert "refresh_token" not in browser["properties"]
    refresh = doc["paths"]["/auth/refresh"]["post"]
    assert any(
        p["in"] == "cookie" and p["name"] == "stratus_refresh" for p in refresh["parameters"]
    )


def _unbounded_strings(doc: dict, schema: dict, where: str, seen: set[str]) -> list[str]:
    """Where ``schema`` lets a string through without a maximum length (enums, UUIDs and
    date-times are bounded by their form)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        return _unbounded_strings(doc, doc["components"]["schemas"][name], name, seen)
    found: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found += _unbounded_strings(doc, option, where, seen)
    bounded_by_form = {"enum", "const"} & set(schema) or schema.get("format") == "uuid"
    if schema.get("type") == "string" and "maxLength" not in schema and not bounded_by_form:
        found.append(where)
    for name, child in schema.get("properties", {}).items():
        found += _unbounded_strings(doc, child, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        found += _unbounded_strings(doc, schema["items"], f"{where}[]", seen)
    if schema.get("type") == "array" and "maxItems" not in schema:
        found.append(f"{where} (no maxItems)")
    return found


def test_every_request_string_declares_its_maximum_length():
    # The contract: every field has a documented maximum length, enforced by validation.
    doc = build_openapi(discover())
    unbounded: list[str] = []
    for op_id, op in operations(doc).items():
        for param in op.get("parameters", []):
            unbounded += _unbounded_strings(doc, param["schema"], f"{op_id}:{param['name']}", set())
        for media in op.get("requestBody", {}).get("content", {}).values():
            unbounded += _unbounded_strings(doc, media["schema"], f"{op_id}:body", set())
    assert unbounded == []


def test_a_bodiless_response_declares_no_body_and_no_parameter_is_null():
    # schemathesis's findings: the 202 of /auth/password-reset declared a JSON body it never
    # sends, and optional parameters offered `null`, which a header or query cannot carry
    doc = build_openapi(discover())
    reset = doc["paths"]["/auth/password-reset"]["post"]["responses"]["202"]
    assert "content" not in reset
    for op_id, op in operations(doc).items():
        for param in op.get("parameters", []):
            options = param["schema"].get("anyOf", [param["schema"]])
            assert all(o.get("type") != "null" for o in options), (op_id, param["name"])
