"""The HTTP transport: problems for every failure, roles from the declaration, request ids."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import BaseModel

from shared.errors import Conflict, TooManyRequests
from shared.http import CurrentPrincipal, HttpFunction, request_id_from_event
from shared.schemas import RequestModel

USER = "00000000-0000-4000-8000-0000000000aa"


def event_for(
    method: str, path: str, *, body: object = None, authorizer: dict | None = None
) -> dict:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    context: dict = {"requestId": "req-1", "stage": "test", "identity": {"sourceIp": "10.0.0.1"}}
    if authorizer is not None:
        context["authorizer"] = authorizer
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "requestContext": context,
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


class Item(RequestModel):
    name: str
    size: int


class Created(BaseModel):
    name: str


boom = HttpFunction(method="GET", path="/boom", auth=False, rate_limited=False)


@boom.endpoint
async def explode() -> dict:
    """Fail with an internal error."""
    raise RuntimeError("password=hunter2 in SELECT * FROM users")


create = HttpFunction(method="POST", path="/items", auth=False, status_code=201, rate_limited=False)


@create.endpoint
async def create_item(item: Item) -> Created:
    """Create an item."""
    if item.name == "taken":
        raise Conflict("That name is taken.")
    if item.name == "busy":
        raise TooManyRequests("Slow down.", retry_after=7)
    return Created(name=item.name)


admin_only = HttpFunction(method="GET", path="/admin", roles=("admin",), rate_limited=False)


@admin_only.endpoint
async def admin_page(principal: CurrentPrincipal) -> dict:
    """Admin only."""
    return {"user": str(principal.user_id)}


def problem(response: dict) -> dict:
    assert response["headers"]["content-type"] == "application/problem+json"
    body: dict = json.loads(response["body"])
    return body


def test_an_unexpected_error_is_a_bare_500_problem_with_the_request_id(lambda_context, log_lines):
    # When a handler raises something that is not part of the contract
    response = boom.handler(event_for("GET", "/boom"), lambda_context)
    # Then the client sees a 500 problem naming the request id and nothing internal
    assert response["statusCode"] == 500
    body = problem(response)
    assert body["status"] == 500
    assert body["request_id"] == "req-1" == response["headers"]["X-Request-Id"]
    assert "req-1" in body["detail"]
    text = response["body"]
    for leak in ("hunter2", "SELECT", "RuntimeError", "Traceback", "explode"):
        assert leak not in text
    # And the log has the trace, correlated by the request id
    logged = log_lines()
    error = next(line for line in logged if line.get("level") == "ERROR")
    assert error["correlation_id"] == "req-1"
    assert "RuntimeError" in error["exception"]


def test_an_unknown_route_in_a_function_is_a_404_problem(lambda_context):
    response = boom.handler(event_for("GET", "/nowhere"), lambda_context)
    assert response["statusCode"] == 404
    assert problem(response)["title"] == "Not Found"


def test_invalid_body_is_a_422_problem_listing_each_field(lambda_context):
    # Given a body with a wrong type, a missing field and an unknown field
    event = event_for("POST", "/items", body={"name": "a", "size": "big", "extra": 1})
    # When posted
    response = create.handler(event, lambda_context)
    # Then 422 lists where each problem is
    assert response["statusCode"] == 422
    body = problem(response)
    locs = sorted(tuple(e["loc"]) for e in body["errors"])
    assert locs == [("body", "extra"), ("body", "size")]
    assert all(e["msg"] for e in body["errors"])


def test_malformed_json_is_a_422_problem_not_a_500(lambda_context):
    event = event_for("POST", "/items", body=None)
    event["body"] = '{"name": '
    event["headers"] = {"Content-Type": "application/json"}
    response = create.handler(event, lambda_context)
    assert response["statusCode"] == 422


def test_a_valid_body_is_created(lambda_context):
    response = create.handler(
        event_for("POST", "/items", body={"name": "a", "size": 1}), lambda_context
    )
    assert response["statusCode"] == 201
    assert json.loads(response["body"]) == {"name": "a"}


@pytest.mark.parametrize(
    ("name", "status", "header"),
    [("taken", 409, None), ("busy", 429, ("retry-after", "7"))],
)
def test_app_errors_map_to_their_problem(lambda_context, name, status, header):
    response = create.handler(
        event_for("POST", "/items", body={"name": name, "size": 1}), lambda_context
    )
    assert response["statusCode"] == status
    assert problem(response)["status"] == status
    if header:
        assert response["headers"][header[0]] == header[1]


def test_a_route_needing_auth_without_a_principal_is_401(lambda_context):
    response = admin_only.handler(event_for("GET", "/admin"), lambda_context)
    assert response["statusCode"] == 401
    assert response["headers"]["www-authenticate"] == "Bearer"


def test_a_role_outside_the_declaration_is_403(lambda_context):
    ctx = {"principalId": USER, "sub": USER, "role": "member"}
    response = admin_only.handler(event_for("GET", "/admin", authorizer=ctx), lambda_context)
    assert response["statusCode"] == 403


def test_a_declared_role_gets_in_with_its_principal(lambda_context):
    ctx = {"principalId": USER, "sub": USER, "role": "admin"}
    response = admin_only.handler(event_for("GET", "/admin", authorizer=ctx), lambda_context)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"user": USER}


def test_request_id_falls_back_to_a_generated_uuid():
    generated = request_id_from_event({"headers": None, "requestContext": {}})
    assert uuid.UUID(generated)
