"""GET /health, invoked as Lambda would invoke it, from the committed sample event."""

from __future__ import annotations

from functions.system.health.handler import handler
from tests.support.events import body_json, load_event, with_headers


def test_health_answers_ok_with_the_version(lambda_context, monkeypatch):
    # Given the deployed version
    monkeypatch.setenv("APP_VERSION", "1.2.3")
    from shared.platform.settings import reset_settings

    reset_settings()
    # When the sample API Gateway event reaches the handler
    response = handler(load_event("system-health"), lambda_context)
    # Then it is 200 with the contract's body
    assert response["statusCode"] == 200
    assert body_json(response) == {"status": "ok", "version": "1.2.3"}
    reset_settings()


def test_health_echoes_a_sane_request_id(lambda_context):
    event = with_headers(load_event("system-health"), X_Request_Id="abc")
    response = handler(event, lambda_context)
    assert response["headers"]["X-Request-Id"] == "abc"


def test_health_replaces_an_insane_request_id_with_the_gateway_one(lambda_context):
    # Given a request id with characters outside [A-Za-z0-9._-]
    event = with_headers(load_event("system-health"), X_Request_Id="bad id\r\nX-Evil: 1")
    event["requestContext"]["requestId"] = "gw-123"
    # When invoked
    response = handler(event, lambda_context)
    # Then the caller's value is not echoed: the gateway's generated id is used
    assert response["headers"]["X-Request-Id"] == "gw-123"


def test_health_rejects_an_overlong_request_id(lambda_context):
    event = with_headers(load_event("system-health"), X_Request_Id="a" * 129)
    response = handler(event, lambda_context)
    assert response["headers"]["X-Request-Id"] != "a" * 129
    assert 1 <= len(response["headers"]["X-Request-Id"]) <= 128
