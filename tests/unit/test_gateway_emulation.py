"""The local runner's API Gateway emulation: events and policies as AWS builds them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from functions.registry import Entry, Registry
from local.gateway import (
    Gateway,
    build_event,
    is_binary,
    method_arn,
    policy_allows,
    proxy_reply,
)
from shared.platform.declare import AuthorizerTrigger, Function
from shared.platform.http import HttpFunction


def event(**overrides):
    args = {
        "method": "POST",
        "path": "/documents/abc",
        "resource": "/documents/{id}",
        "path_params": {"id": "abc"},
        "query": [("tag", "a"), ("tag", "b"), ("limit", "5")],
        "headers": [("Content-Type", "application/json"), ("X-Multi", "1"), ("X-Multi", "2")],
        "body": b'{"title": "t"}',
        "source_ip": "127.0.0.1",
        "request_id": "rid",
    }
    args.update(overrides)
    return build_event(**args)


def test_a_rest_proxy_event_carries_what_api_gateway_sends():
    e = event(authorizer={"principalId": "u1", "sub": "u1", "role": "member"})
    assert e["resource"] == "/documents/{id}"
    assert e["pathParameters"] == {"id": "abc"}
    # single-value maps keep the last value; multi-value maps keep all, in order
    assert e["queryStringParameters"] == {"tag": "b", "limit": "5"}
    assert e["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "limit": ["5"]}
    assert e["headers"]["X-Multi"] == "2"
    assert e["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    ctx = e["requestContext"]
    assert ctx["requestId"] == "rid"
    assert ctx["stage"] == "local"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["authorizer"]["role"] == "member"
    assert e["body"] == '{"title": "t"}'
    assert e["isBase64Encoded"] is False


def test_binary_bodies_are_base64_encoded():
    raw = b"%PDF-1.7\x00\xff"
    e = event(headers=[("Content-Type", "multipart/form-data; boundary=x")], body=raw)
    assert e["isBase64Encoded"] is True
    assert base64.b64decode(e["body"]) == raw


def test_an_empty_request_has_null_maps_and_body():
    e = event(query=[], headers=[], body=b"", path_params={})
    assert e["headers"] is None
    assert e["queryStringParameters"] is None
    assert e["multiValueQueryStringParameters"] is None
    assert e["pathParameters"] is None
    assert e["body"] is None


@pytest.mark.parametrize(
    ("content_type", "binary"),
    [
        ("application/json", False),
        ("text/plain; charset=utf-8", False),
        ("multipart/form-data; boundary=abc", True),
        ("application/octet-stream", True),
        (None, False),
    ],
)
def test_binary_media_types(content_type, binary):
    assert is_binary(content_type) is binary


def _policy(effect: str, resource: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
    }


def test_an_allow_policy_with_a_wildcard_covers_other_routes():
    arn = method_arn("GET", "/users/1")
    assert policy_allows(_policy("Allow", arn.split("/")[0] + "/*"), arn)


def test_a_policy_for_another_method_does_not_allow():
    assert not policy_allows(_policy("Allow", method_arn("GET", "/a")), method_arn("POST", "/a"))


def test_an_explicit_deny_wins():
    arn = method_arn("GET", "/a")
    policy = _policy("Allow", "*")
    policy["Statement"].append({"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": arn})
    assert not policy_allows(policy, arn)


def test_proxy_responses_become_http_responses():
    reply = proxy_reply(
        {
            "statusCode": 201,
            "headers": {"content-type": "application/json"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(json.dumps({"ok": True}).encode()).decode(),
            "isBase64Encoded": True,
        },
        "rid",
    )
    assert reply.status == 201
    assert json.loads(reply.body) == {"ok": True}
    assert ("set-cookie", "a=1") in reply.headers and ("set-cookie", "b=2") in reply.headers


# ---- CORS: the preflight and the gateway's own responses, as the CDK app configures them --------

ORIGIN = "http://localhost:5173"
USER = "00000000-0000-4000-8000-0000000000aa"


class _TokenAuthorizer(Function):
    """ "Bearer allow" is let in, "Bearer deny" gets a Deny policy, anything else is 401."""

    calls = 0

    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.calls += 1
        token = event["authorizationToken"].removeprefix("Bearer ")
        if token not in {"allow", "deny"}:
            raise Exception("Unauthorized")
        effect = "Allow" if token == "allow" else "Deny"
        statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": "*"}
        return {
            "principalId": USER,
            "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
            "context": {"sub": USER, "role": "member"},
        }


def _entry(name: str, function: Function) -> Entry:
    module = ModuleType(f"cors_test_{name}")
    module.function = function  # type: ignore[attr-defined]
    return Entry(name=f"demo-{name}", service="demo", folder=Path("."), module=module)


@pytest.fixture
def cors_registry() -> tuple[Registry, _TokenAuthorizer]:
    """An authorizer, a protected GET and DELETE on /items/{item_id}, an open GET /open."""
    authorizer = _TokenAuthorizer(trigger=AuthorizerTrigger())
    get_item = HttpFunction(method="GET", path="/items/{item_id}", rate_limited=False)
    delete_item = HttpFunction(method="DELETE", path="/items/{item_id}", rate_limited=False)
    open_page = HttpFunction(method="GET", path="/open", auth=False, rate_limited=False)

    @get_item.endpoint
    async def read(item_id: str) -> dict:
        """Read."""
        return {"item": item_id}

    @delete_item.endpoint
    async def remove(item_id: str) -> None:
        """Delete."""

    @open_page.endpoint
    async def page() -> dict:
        """Open."""
        return {"open": True}

    entries = [
        _entry("authorizer", authorizer),
        _entry("get", get_item),
        _entry("delete", delete_item),
        _entry("open", open_page),
    ]
    return Registry(entries), authorizer


def _gateway(registry: Registry, monkeypatch, origin: str | None) -> Gateway:
    """The gateway as the runner starts it, with ``FRONTEND_ORIGIN`` set or not."""
    from shared.platform.settings import reset_settings

    if origin is None:
        monkeypatch.delenv("FRONTEND_ORIGIN", raising=False)
    else:
        monkeypatch.setenv("FRONTEND_ORIGIN", origin)
    reset_settings()  # the functions read it through the cached settings
    return Gateway(registry, extra_routes={})


@pytest.fixture(autouse=True)
def _forget_settings():
    from shared.platform.settings import reset_settings

    yield
    reset_settings()


def _send(gateway: Gateway, method: str, path: str, *, token: str = "", body: bytes = b""):
    headers = [("Origin", ORIGIN), ("Access-Control-Request-Method", "GET")]
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    return gateway.handle(method=method, target=path, headers=headers, body=body, ip="127.0.0.1")


def test_a_preflight_on_a_declared_path_is_answered_by_the_gateway(cors_registry, monkeypatch):
    # Given the runner configured with the frontend's origin
    registry, authorizer = cors_registry
    gateway = _gateway(registry, monkeypatch, ORIGIN)
    # When the browser sends a preflight for a protected route, with no token
    reply = _send(gateway, "OPTIONS", "/items/42")
    # Then the gateway answers 204 itself, as the CDK app's mock integration does
    assert reply.status == 204
    assert reply.body == b""
    headers = dict(reply.headers)
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Methods"] == "OPTIONS,DELETE,GET"
    assert headers["Access-Control-Allow-Headers"] == (
        "Authorization,Content-Type,X-Request-Id,X-Session-Mode"
    )
    assert headers["Access-Control-Expose-Headers"] == (
        "X-Request-Id,RateLimit-Limit,RateLimit-Remaining,RateLimit-Reset,Retry-After,"
        "WWW-Authenticate"
    )
    assert headers["Access-Control-Max-Age"] == "3600"
    assert headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Credentials" not in headers
    # And neither the authorizer nor a function ran
    assert authorizer.calls == 0


def test_a_preflight_lists_only_the_methods_of_its_path(cors_registry, monkeypatch):
    registry, _ = cors_registry
    reply = _send(_gateway(registry, monkeypatch, ORIGIN), "OPTIONS", "/open")
    assert reply.status == 204
    assert dict(reply.headers)["Access-Control-Allow-Methods"] == "OPTIONS,GET"


def test_without_an_origin_a_preflight_is_the_unknown_route_404_as_before(
    cors_registry, monkeypatch
):
    registry, _ = cors_registry
    reply = _send(_gateway(registry, monkeypatch, None), "OPTIONS", "/items/42")
    assert reply.status == 404
    assert not [n for n, _ in reply.headers if n.lower().startswith("access-control-")]


def _huge() -> bytes:
    from local.gateway import MAX_REQUEST_BYTES

    return b"x" * (MAX_REQUEST_BYTES + 1)


# The gateway's own responses: unknown route (and a preflight on an undeclared path), missing
# token, token rejected by the authorizer, Deny policy, body over 10 MB.
GATEWAY_RESPONSES = {
    "404 unknown route": ("GET", "/nowhere", "", 404),
    "404 preflight on an unknown path": ("OPTIONS", "/nowhere", "", 404),
    "401 no token": ("GET", "/items/42", "", 401),
    "401 rejected token": ("GET", "/items/42", "forged", 401),
    "403 deny policy": ("GET", "/items/42", "deny", 403),
    "413 body too large": ("POST", "/items/42", "", 413),
}


@pytest.mark.parametrize("case", list(GATEWAY_RESPONSES))
def test_the_gateway_responses_carry_the_origin_when_one_is_set(case, cors_registry, monkeypatch):
    method, path, token, status = GATEWAY_RESPONSES[case]
    registry, _ = cors_registry
    body = _huge() if status == 413 else b""
    gateway = _gateway(registry, monkeypatch, ORIGIN)
    reply = _send(gateway, method, path, token=token, body=body)
    assert reply.status == status
    assert dict(reply.headers)["Access-Control-Allow-Origin"] == ORIGIN
    assert json.loads(reply.body)["status"] == status


@pytest.mark.parametrize("case", list(GATEWAY_RESPONSES))
def test_the_gateway_responses_carry_no_cors_header_without_an_origin(
    case, cors_registry, monkeypatch
):
    method, path, token, status = GATEWAY_RESPONSES[case]
    registry, _ = cors_registry
    body = _huge() if status == 413 else b""
    reply = _send(_gateway(registry, monkeypatch, None), method, path, token=token, body=body)
    assert reply.status == status
    assert not [n for n, _ in reply.headers if n.lower().startswith("access-control-")]


def test_a_function_answer_through_the_gateway_carries_the_functions_cors_headers(
    cors_registry, monkeypatch
):
    # Given the origin in the environment both the gateway and the functions read
    registry, _ = cors_registry
    gateway = _gateway(registry, monkeypatch, ORIGIN)
    # When an authorized request reaches its function
    reply = _send(gateway, "GET", "/items/42", token="allow")
    # Then the function's response, passed through, has them once
    assert reply.status == 200
    assert json.loads(reply.body) == {"item": "42"}
    origins = [v for n, v in reply.headers if n.lower() == "access-control-allow-origin"]
    assert origins == [ORIGIN]
    assert ("Vary", "Origin") in reply.headers


def test_the_runner_refuses_an_invalid_origin(cors_registry, monkeypatch):
    from pydantic import ValidationError

    registry, _ = cors_registry
    with pytest.raises(ValidationError, match="FRONTEND_ORIGIN"):
        _gateway(registry, monkeypatch, "http://localhost:5173/")
