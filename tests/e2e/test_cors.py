"""CORS through the local runner, as a browser on the frontend's origin sees it: the gateway
answers the preflight and stamps its own responses, the functions stamp theirs.

A runner of its own (``FRONTEND_ORIGIN`` set, a limit of 3 requests a minute on the one
rate-limited route) with a registry of test functions."""

from __future__ import annotations

import httpx
import pytest

from local.runner import RunnerConfig
from tests.e2e.conftest import start_runner
from tests.support.registries import ROLE_AUTHORIZER, ROLE_USER, make_registry

pytestmark = pytest.mark.e2e

ORIGIN = "http://localhost:5173"
LIMIT = 3
EXPOSED = (
    "X-Request-Id,RateLimit-Limit,RateLimit-Remaining,RateLimit-Reset,Retry-After,WWW-Authenticate"
)
USER = ROLE_USER
AUTHORIZER = ROLE_AUTHORIZER

NOTES = """
from shared.platform.errors import NotFound
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.schemas import RequestModel

function = HttpFunction(method="PUT", path="/notes/{note_id}", rate_limited=False)


class Note(RequestModel):
    text: str


@function.endpoint
async def put_note(note_id: str, note: Note, principal: CurrentPrincipal) -> dict:
    \"\"\"Store a note.\"\"\"
    if note_id == "missing":
        raise NotFound("No such note.")
    return {"id": note_id, "text": note.text}


handler = function.handler
"""

LIMITED = """
from shared.platform.http import HttpFunction

function = HttpFunction(method="GET", path="/limited", auth=False)


@function.endpoint
async def limited() -> dict:
    \"\"\"Rate limited.\"\"\"
    return {"ok": True}


handler = function.handler
"""


@pytest.fixture(scope="module")
def cors_runner(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cors")
    registry = make_registry(
        tmp, {"auth/authorizer": AUTHORIZER, "demo/notes": NOTES, "demo/limited": LIMITED}
    )
    config = RunnerConfig(
        port=0,
        state_dir=tmp / "state",
        function_env={"FRONTEND_ORIGIN": ORIGIN, "RATE_LIMIT_PER_MINUTE": str(LIMIT)},
    )
    runner = start_runner(registry, config)
    yield runner
    runner.stop()


@pytest.fixture
def browser(cors_runner):
    """An HTTP client sending ``Origin`` as a browser on the frontend does."""
    with httpx.Client(base_url=cors_runner.url, timeout=10, headers={"Origin": ORIGIN}) as client:
        yield client


def assert_readable(response: httpx.Response) -> None:
    """What a function's response carries for the browser to read it and its headers."""
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Expose-Headers"] == EXPOSED
    assert "Origin" in response.headers.get_list("Vary")


def test_the_preflight_of_a_protected_route_is_204_without_the_authorizer(browser):
    # When the browser asks whether it may PUT JSON with a bearer token (no token on a preflight)
    response = browser.options(
        "/notes/n1",
        headers={
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    # Then the gateway says yes for that origin, without asking the authorizer (it would 401)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == "OPTIONS,PUT"
    assert response.headers["Access-Control-Allow-Headers"] == (
        "Authorization,Content-Type,X-Request-Id,X-Session-Mode"
    )


def test_a_successful_response_is_readable(browser):
    response = browser.put(
        "/notes/n1", json={"text": "hi"}, headers={"Authorization": "Bearer member"}
    )
    assert response.status_code == 200
    assert response.json() == {"id": "n1", "text": "hi"}
    assert_readable(response)


def test_a_missing_resource_problem_is_readable(browser):
    response = browser.put(
        "/notes/missing", json={"text": "hi"}, headers={"Authorization": "Bearer member"}
    )
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert_readable(response)


def test_a_validation_problem_is_readable(browser):
    response = browser.put(
        "/notes/n1", json={"text": 1, "extra": True}, headers={"Authorization": "Bearer member"}
    )
    assert response.status_code == 422
    assert_readable(response)


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [("/nowhere", None, 404), ("/notes/n1", None, 401), ("/notes/n1", "deny", 403)],
)
def test_the_gateways_own_responses_are_readable(browser, path, token, status):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = browser.put(path, json={"text": "hi"}, headers=headers)
    assert response.status_code == status
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Expose-Headers"] == EXPOSED  # WWW-Authenticate too
    assert response.json()["status"] == status


def test_a_rate_limit_refusal_is_readable_with_its_retry_after(browser):
    responses = [browser.get("/limited") for _ in range(LIMIT + 1)]
    assert [r.status_code for r in responses] == [200] * LIMIT + [429]
    refused = responses[-1]
    assert_readable(refused)
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Remaining"] == "0"
