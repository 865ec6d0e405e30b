"""The local runner's API Gateway emulation: events and policies as AWS builds them."""

from __future__ import annotations

import base64
import json

import pytest

from local.gateway import build_event, is_binary, method_arn, policy_allows, proxy_reply


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
