"""The HTTP transport: problems for every failure, roles from the declaration, request ids."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import BaseModel

from shared.platform.errors import Conflict, TooManyRequests
from shared.platform.http import CurrentPrincipal, HttpFunction, request_id_from_event
from shared.platform.schemas import RequestModel

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


members = HttpFunction(method="GET", path="/members", rate_limited=False)


@members.endpoint
async def members_page(principal: CurrentPrincipal) -> dict:
    """Any signed-in caller, named."""
    return {"user": str(principal.user_id)}


anyone_signed_in = HttpFunction(method="GET", path="/signed-in", rate_limited=False)


@anyone_signed_in.endpoint
async def signed_in_page() -> dict:
    """Any signed-in caller, whom the endpoint does not ask for."""
    return {"ok": True}


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
    # And the log says what failed where, correlated by the request id, but neither the
    # error's message nor a traceback (a database error's message quotes its values)
    logged = log_lines()
    error = next(line for line in logged if line.get("level") == "ERROR")
    assert error["correlation_id"] == "req-1"
    assert error["error"] == "RuntimeError"
    assert error["error_at"].startswith("test_http.py:")
    assert "hunter2" not in json.dumps(logged)
    assert "exception" not in error


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


@pytest.mark.parametrize(
    ("function", "path"), [(members, "/members"), (anyone_signed_in, "/signed-in")]
)
def test_an_authenticated_route_without_roles_needs_a_principal(lambda_context, function, path):
    # Whether or not its endpoint takes the principal
    response = function.handler(event_for("GET", path), lambda_context)
    assert response["statusCode"] == 401
    assert response["headers"]["www-authenticate"] == "Bearer"
    ctx = {"principalId": USER, "sub": USER, "role": "member"}
    response = function.handler(event_for("GET", path, authorizer=ctx), lambda_context)
    assert response["statusCode"] == 200


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


# ---- CORS: the functions' own responses carry the frontend origin's headers ------------------

ORIGIN = "https://app.example.com"
EXPOSED = (
    "X-Request-Id,RateLimit-Limit,RateLimit-Remaining,RateLimit-Reset,Retry-After,WWW-Authenticate"
)


@pytest.fixture
def frontend_origin(monkeypatch):
    """``FRONTEND_ORIGIN`` set to ``ORIGIN`` for the test (settings parsed afresh)."""
    from shared.platform.settings import reset_settings

    monkeypatch.setenv("FRONTEND_ORIGIN", ORIGIN)
    reset_settings()
    yield ORIGIN
    monkeypatch.delenv("FRONTEND_ORIGIN")
    reset_settings()


@pytest.fixture
def no_frontend_origin(monkeypatch):
    from shared.platform.settings import reset_settings

    monkeypatch.delenv("FRONTEND_ORIGIN", raising=False)
    reset_settings()
    yield
    reset_settings()


limited = HttpFunction(method="GET", path="/limited", auth=False)


@limited.endpoint
async def limited_page() -> dict:
    """A rate-limited route."""
    return {"ok": True}


def _refuse(monkeypatch, *, allowed: bool) -> None:
    """The rate limiter decides without Redis: ``allowed``, or refused for 30 s."""
    from shared.platform.ratelimit import Decision

    decision = Decision(
        allowed=allowed,
        limit=5,
        remaining=4 if allowed else 0,
        reset_seconds=30,
        retry_after=0 if allowed else 30,
    )
    monkeypatch.setattr("shared.platform.http._rate_limit", lambda _event: decision)
    # A rate-limited function declares Redis: its address is set, though nothing connects.
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")


# Every kind of result a function returns: success, the app's problems, FastAPI's own 404, 405
# and 422, an unexpected error, and the rate limiter's refusal made before the app runs.
RESPONSES = {
    "201 created": (create, "POST", "/items", {"name": "a", "size": 1}, 201),
    "409 app error": (create, "POST", "/items", {"name": "taken", "size": 1}, 409),
    "404 unknown resource": (boom, "GET", "/nowhere", None, 404),
    "405 wrong method": (boom, "POST", "/boom", None, 405),
    "422 invalid body": (create, "POST", "/items", {"name": "a", "size": "big"}, 422),
    "500 unexpected": (boom, "GET", "/boom", None, 500),
    "200 rate-limited route": (limited, "GET", "/limited", None, 200),
    "429 rate limit": (limited, "GET", "/limited", None, 429),
}


@pytest.mark.parametrize("case", list(RESPONSES))
def test_every_response_carries_the_cors_headers_for_the_frontend_origin(
    case, frontend_origin, monkeypatch, lambda_context
):
    # Given FRONTEND_ORIGIN set
    function, method, path, body, status = RESPONSES[case]
    _refuse(monkeypatch, allowed=status != 429)
    # When the function answers, whatever the outcome
    response = function.handler(event_for(method, path, body=body), lambda_context)
    # Then the browser on that origin may read it, and the headers it needs
    assert response["statusCode"] == status
    headers = response["headers"]
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Expose-Headers"] == EXPOSED
    assert headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Credentials" not in headers
    assert headers["X-Request-Id"] == "req-1"
    if function is limited:
        assert headers["RateLimit-Limit"] == "5"
    if status == 429:
        assert headers["Content-Type"] == "application/problem+json"
        assert json.loads(response["body"])["status"] == 429
        assert headers["Retry-After"] == "30"


@pytest.mark.parametrize("case", list(RESPONSES))
def test_without_a_frontend_origin_no_response_carries_cors_headers(
    case, no_frontend_origin, monkeypatch, lambda_context
):
    function, method, path, body, status = RESPONSES[case]
    _refuse(monkeypatch, allowed=status != 429)
    response = function.handler(event_for(method, path, body=body), lambda_context)
    assert response["statusCode"] == status
    names = {name.lower() for name in response["headers"]}
    names |= {name.lower() for name in response.get("multiValueHeaders") or {}}
    assert not {n for n in names if n.startswith("access-control-") or n == "vary"}


def test_an_invalid_frontend_origin_stops_the_function_before_it_serves(
    monkeypatch, lambda_context
):
    # Given a FRONTEND_ORIGIN with a path
    from shared.platform.settings import reset_settings

    monkeypatch.setenv("FRONTEND_ORIGIN", "https://app.example.com/app")
    reset_settings()
    try:
        # Then the function fails loudly (a Lambda error) instead of answering without CORS
        with pytest.raises(ValueError, match="FRONTEND_ORIGIN"):
            create.handler(
                event_for("POST", "/items", body={"name": "a", "size": 1}), lambda_context
            )
    finally:
        monkeypatch.delenv("FRONTEND_ORIGIN")
        reset_settings()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"headers": {}}, {"headers": {"Vary": "Origin"}}),
        ({"headers": {"vary": "Accept"}}, {"headers": {"vary": "Accept, Origin"}}),
        ({"headers": {"vary": "origin"}}, {"headers": {"vary": "origin"}}),
        ({"headers": {"vary": "*"}}, {"headers": {"vary": "*"}}),
        (
            {"headers": {}, "multiValueHeaders": {"vary": ["Accept", "Accept-Language"]}},
            {"headers": {}, "multiValueHeaders": {"vary": ["Accept", "Accept-Language", "Origin"]}},
        ),
    ],
)
def test_vary_gains_origin_once_merged_with_what_the_route_set(before, after):
    from shared.platform.http import vary_on_origin

    vary_on_origin(before)
    assert before == after


def test_fastapi_still_tells_a_pydantic_v1_model_without_importing_v1_to_ask():
    import subprocess
    import sys
    import warnings

    from fastapi import encoders
    from fastapi._compat import shared as compat

    from functions.registry import REPO_ROOT

    # Given an HTTP function's module in a fresh interpreter, which serves a request
    probe = (
        "import sys\n"
        "from shared.platform.http import HttpFunction\n"
        "from pydantic import BaseModel\n"
        "class Out(BaseModel):\n"
        "    ok: bool\n"
        "f = HttpFunction(method='GET', path='/x', auth=False, rate_limited=False)\n"
        "@f.endpoint\n"
        "async def x() -> Out:\n"
        "    return Out(ok=True)\n"
        "from local.lambda_context import LambdaContext\n"
        "event = {'resource': '/x', 'path': '/x', 'httpMethod': 'GET', 'headers': {},\n"
        "         'multiValueHeaders': {}, 'queryStringParameters': None, 'body': None,\n"
        "         'isBase64Encoded': False, 'requestContext': {'requestId': 'r', 'stage': 't',\n"
        "         'identity': {'sourceIp': '10.0.0.1'}}}\n"
        "response = f.handler(event, LambdaContext(function_name='x'))\n"
        "print(response['statusCode'], 'pydantic.v1' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    )
    # Then it answered without pydantic.v1 ever being imported
    assert result.stdout.split()[-2:] == ["200", "False"]

    # And once v1 is loaded, FastAPI's checks still recognise its models, and only those
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydantic import v1

    class V1Model(v1.BaseModel):
        ok: bool = True

    class V2Model(BaseModel):
        ok: bool = True

    assert compat.is_pydantic_v1_model_class(V1Model)
    assert compat.annotation_is_pydantic_v1(list[V1Model])
    assert encoders.is_pydantic_v1_model_instance(V1Model())
    assert not compat.is_pydantic_v1_model_class(V2Model)
    assert not encoders.is_pydantic_v1_model_instance(V2Model())
