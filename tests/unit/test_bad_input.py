"""Bad input is a 422 problem before anything reaches a store: NUL, text that is not UTF-8 or
not Unicode (lone surrogates), lax types, over-long values; in bodies, queries and paths.

The real handlers are called with no database behind them: input that got past validation
would fail there with a 500, so each 422 here shows the request was refused before."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from functions.registry import discover
from tests.unit.test_http import event_for

USER = "00000000-0000-4000-8000-0000000000aa"
MEMBER = {"sub": USER, "role": "member", "jti": "j1", "exp": 4102444800}
ADMIN = {"sub": USER, "role": "admin", "jti": "j2", "exp": 4102444800}


@pytest.fixture(scope="module")
def registry():
    return discover()


def call(registry, name: str, event: dict, context) -> tuple[int, dict]:
    # invoke, not handler: no settings validated, no store configured behind the function
    response = registry[name].function.invoke(event, context)
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["content-type"] == "application/problem+json", response
    body = json.loads(response["body"])
    assert body["status"] == response["statusCode"]
    return response["statusCode"], body


def locs(body: dict) -> list[tuple]:
    return [tuple(e["loc"]) for e in body["errors"]]


def assert_refused(registry, name: str, event: dict, where: tuple, context) -> None:
    status, body = call(registry, name, event, context)
    assert status == 422, body
    assert where in locs(body)


def test_a_nul_in_logins_email_is_422_not_a_500(registry, lambda_context, redis):
    event = event_for("POST", "/auth/login", body={"email": "a\u0000@b.c", "password": "x"})
    status, body = call(registry, "auth-login", event, lambda_context)
    assert status == 422, body
    assert locs(body) == [("body", "email")]
    assert "\u0000" not in json.dumps(body, ensure_ascii=False)


@pytest.mark.parametrize(
    ("name", "method", "path", "payload", "where"),
    [
        (
            "auth-register",
            "POST",
            "/auth/register",
            {"email": "a@b.c", "password": "p" * 12, "name": "A\u0000"},
            ("body", "name"),
        ),
        (
            "auth-password-reset",
            "POST",
            "/auth/password-reset",
            {"email": "a@b.c\u0000"},
            ("body", "email"),
        ),
        (
            "auth-refresh",
            "POST",
            "/auth/refresh",
            {"refresh_token": "\ud800"},
            ("body", "refresh_token"),
        ),
        (
            "documents-search",
            "POST",
            "/search",
            {"query": "ok", "document_ids": ["\u0000"]},
            ("body", "document_ids", 0),
        ),
        (
            "documents-create-text",
            "POST",
            "/documents/text",
            {"title": "t", "text": "x", "\u0000": 1},
            ("body", "?"),
        ),
        (
            "auth-login",
            "POST",
            "/auth/login",
            {"email": "a" * 321, "password": "x"},
            ("body", "email"),
        ),
        (
            "auth-register",
            "POST",
            "/auth/register",
            {"email": "a" * 310 + "@b.example", "password": "p" * 12, "name": "A"},
            ("body", "email"),
        ),
        (
            "documents-create-text",
            "POST",
            "/documents/text",
            {"title": "t", "text": "x" * (1024 * 1024 + 1)},
            ("body", "text"),
        ),
        ("users-update", "PATCH", f"/users/{USER}", {"name": "n" * 201}, ("body", "name")),
    ],
)
def test_nul_a_lone_surrogate_or_an_over_long_value_in_a_body_is_422(
    registry, lambda_context, redis, name, method, path, payload, where
):
    assert_refused(
        registry,
        name,
        event_for(method, path, body=payload, authorizer=MEMBER),
        where,
        lambda_context,
    )


def test_a_body_that_is_not_utf8_is_422_not_stored_with_replacement_characters(
    registry, lambda_context, redis
):
    raw = b'{"email": "a@b.c", "password": "correct horse battery", "name": "Ad\xff"}'
    event = event_for("POST", "/auth/register", body={})
    event["body"] = base64.b64encode(raw).decode()
    event["isBase64Encoded"] = True
    status, body = call(registry, "auth-register", event, lambda_context)
    assert status == 422, body
    assert locs(body) == [("body",)]


@pytest.mark.parametrize("value", ["\u0000", "abc\udcff"])
def test_nul_or_bytes_that_are_not_utf8_in_a_query_are_422(registry, lambda_context, redis, value):
    event = event_for("GET", "/documents", authorizer=MEMBER)
    event["queryStringParameters"] = {"cursor": value}
    event["multiValueQueryStringParameters"] = {"cursor": [value]}
    status, body = call(registry, "documents-list", event, lambda_context)
    assert status == 422, body
    assert locs(body) == [("query", "cursor")]


@pytest.mark.parametrize(
    ("name", "method", "path", "payload", "where"),
    [
        ("users-update", "PATCH", f"/users/{USER}", {"is_active": 0}, ("body", "is_active")),
        ("users-update", "PATCH", f"/users/{USER}", {"is_active": "true"}, ("body", "is_active")),
        ("users-update", "PATCH", f"/users/{USER}", {"name": 5}, ("body", "name")),
        ("documents-search", "POST", "/search", {"query": "q", "top_k": 5.0}, ("body", "top_k")),
        ("documents-search", "POST", "/search", {"query": "q", "top_k": True}, ("body", "top_k")),
        ("documents-search", "POST", "/search", {"query": "q", "top_k": "5"}, ("body", "top_k")),
        (
            "documents-create",
            "POST",
            "/documents",
            {"title": "t", "filename": "f.txt", "content_type": "text/plain", "size_bytes": "5"},
            ("body", "size_bytes"),
        ),
    ],
)
def test_lax_types_are_refused(registry, lambda_context, redis, name, method, path, payload, where):
    event = event_for(method, path, body=payload, authorizer=ADMIN)
    event["pathParameters"] = {"id": USER} if "/users/" in path else None
    assert_refused(registry, name, event, where, lambda_context)


def test_well_formed_ids_in_a_search_body_still_pass_validation(registry, lambda_context, redis):
    from pydantic import ValidationError

    from shared.documents.schemas import SearchRequest

    ids = [str(uuid.uuid4())]
    assert [
        str(i)
        for i in SearchRequest.model_validate({"query": "q", "document_ids": ids}).document_ids
        or []
    ] == ids
    with pytest.raises(ValidationError):
        SearchRequest.model_validate({"query": "q", "document_ids": ["not-a-uuid"]})


@pytest.mark.parametrize("name", ["documents-list", "notifications-list", "users-list"])
@pytest.mark.parametrize("value", ["1.0", " 5", "+5", "5_0", "true", "1e1"])
def test_a_query_integer_is_decimal_digits_only(registry, lambda_context, redis, name, value):
    path = {"documents-list": "/documents", "notifications-list": "/notifications"}
    event = event_for("GET", path.get(name, "/users"), authorizer=ADMIN)
    event["queryStringParameters"] = {"limit": value}
    event["multiValueQueryStringParameters"] = {"limit": [value]}
    assert_refused(registry, name, event, ("query", "limit"), lambda_context)
