"""Rate limiting, end to end: a runner of its own with a limit of 7 a minute, on real Redis.

N parallel requests against a limit L never let more than L through; every rate-limited
response carries the RateLimit headers; anonymous callers are counted per client IP; each user
has its own budget; /health makes no dependency calls, so it carries no RateLimit headers.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from functions.registry import discover
from local.runner import LocalRunner, RunnerConfig
from tests.e2e.conftest import start_runner
from tests.support.api import PASSWORD, Account, sign_up, unique_email

pytestmark = pytest.mark.e2e

LIMIT = 7
N = 20
PROBLEM_FIELDS = {"type", "title", "status", "detail", "request_id"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory, pg_url, redis_url) -> Iterator[LocalRunner]:
    """The runner on real Postgres and Redis with RATE_LIMIT_PER_MINUTE=7."""
    config = RunnerConfig(
        port=0,
        state_dir=tmp_path_factory.mktemp("ratelimit"),
        database_url=pg_url,
        redis_url=redis_url,
        function_env={"RATE_LIMIT_PER_MINUTE": str(LIMIT)},
    )
    runner = start_runner(discover(), config)
    yield runner
    runner.stop()


@pytest.fixture
def flush_limits(redis_url) -> Callable[[], None]:
    """Forget every rate-limit log (``rl:*``) of the test Redis database; done before each test."""
    client = redis.Redis.from_url(redis_url)

    def flush() -> None:
        keys = list(client.scan_iter("rl:*"))
        if keys:
            client.delete(*keys)

    flush()
    yield flush
    client.close()


@pytest.fixture
def http(limited, flush_limits) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited.url, timeout=30) as client:
        yield client


@pytest.fixture
def connected(limited) -> Iterator[list[httpx.Client]]:
    """N clients, each with a connection already open (through /health, which is not counted).

    A burst of N new connections would test the runner's listen backlog rather than the limiter
    (see test_the_runner_listens_with_a_backlog_for_a_parallel_burst)."""
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(httpx.Client(base_url=limited.url, timeout=30)) for _ in range(N)
        ]
        for client in clients:
            assert client.get("/health").status_code == 200
        yield clients


def fresh_account(http: httpx.Client, flush: Callable[[], None]) -> Account:
    """A signed-up member; the budget its sign-up spent (per IP) is forgotten again, as is what
    the tests before it spent."""
    flush()
    account = sign_up(http)
    flush()
    return account


def in_parallel(
    clients: list[httpx.Client], send: Callable[[httpx.Client], httpx.Response]
) -> list[httpx.Response]:
    """One request per client, released together from as many threads."""
    barrier = threading.Barrier(len(clients))

    def one(client: httpx.Client) -> httpx.Response:
        barrier.wait()
        return send(client)

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        return list(pool.map(one, clients))


def assert_limit_headers(response: httpx.Response) -> tuple[int, int]:
    """The RateLimit headers are there and sane; returns (remaining, reset)."""
    assert response.headers["ratelimit-limit"] == str(LIMIT)
    remaining = int(response.headers["ratelimit-remaining"])
    reset = int(response.headers["ratelimit-reset"])
    assert 0 <= remaining < LIMIT
    assert 0 <= reset <= 60
    return remaining, reset


def assert_too_many(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) == PROBLEM_FIELDS, body
    assert body["status"] == 429
    assert body["request_id"] == response.headers["x-request-id"]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    remaining, reset = assert_limit_headers(response)
    assert remaining == 0
    assert reset >= 1


def test_parallel_requests_of_one_user_never_exceed_the_limit(http, flush_limits, connected):
    # Given a member with a fresh budget of 7 a minute
    account = fresh_account(http, flush_limits)

    # When it sends 20 requests at once
    responses = in_parallel(connected, lambda c: c.get("/auth/me", headers=account.headers))

    # Then exactly 7 are served and 13 are refused with 429 problems and Retry-After
    served = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(served) == LIMIT, [r.status_code for r in responses]
    assert len(refused) == N - LIMIT
    for response in refused:
        assert_too_many(response)
    # And every response carries the RateLimit headers; the served ones counted down 6..0
    remaining = sorted(assert_limit_headers(r)[0] for r in served)
    assert remaining == list(range(LIMIT))
    assert all(r.json()["id"] == account.id for r in served)


def test_anonymous_requests_are_limited_per_client_ip(http, connected):
    # Given no one has called from 127.0.0.1 this minute
    # When 20 bad logins (each for its own email, so login throttling stays out) arrive at once
    def bad_login(client: httpx.Client) -> httpx.Response:
        body = {"email": unique_email("anon"), "password": "wrong password!"}
        return client.post("/auth/login", json=body)

    responses = in_parallel(connected, bad_login)

    # Then exactly 7 reach the login (401) and 13 are refused by the limiter (429)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * LIMIT + [429] * (N - LIMIT)
    for response in responses:
        if response.status_code == 429:
            assert_too_many(response)
        else:
            assert response.headers["www-authenticate"] == "Bearer"
    remaining = sorted(assert_limit_headers(r)[0] for r in responses if r.status_code == 401)
    assert remaining == list(range(LIMIT))


def test_each_user_has_its_own_budget(http, flush_limits):
    # Given two members, and the first one has spent its whole budget
    first, second = sign_up(http), sign_up(http)
    flush_limits()
    spent = [http.get("/auth/me", headers=first.headers) for _ in range(LIMIT)]
    assert [r.status_code for r in spent] == [200] * LIMIT
    assert_too_many(http.get("/auth/me", headers=first.headers))

    # When the second member calls
    response = http.get("/auth/me", headers=second.headers)

    # Then it is served from a full budget of its own
    assert response.status_code == 200, response.text
    assert assert_limit_headers(response)[0] == LIMIT - 1
    # And anonymous calls from the same IP have their own budget as well
    anonymous = http.post("/auth/login", json={"email": second.email, "password": PASSWORD})
    assert anonymous.status_code == 200, anonymous.text
    assert assert_limit_headers(anonymous)[0] == LIMIT - 1


def test_health_carries_no_rate_limit_headers_even_past_the_limit(http):
    # Given the client IP has spent its whole anonymous budget
    for _ in range(LIMIT):
        http.post("/auth/login", json={"email": unique_email("h"), "password": "wrong password!"})
    assert_too_many(http.post("/auth/login", json={"email": "x@example.com", "password": "x"}))

    # When it asks for /health
    response = http.get("/health")

    # Then it is served, without any RateLimit header: /health makes no dependency calls
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"
    assert not [h for h in response.headers if h.lower().startswith("ratelimit")]
    assert "retry-after" not in response.headers


def test_the_runner_listens_with_a_backlog_for_a_parallel_burst(limited):
    # Given the runner's HTTP server (API Gateway accepts any number of parallel connections)
    # Then its listen backlog holds at least a burst of N connection attempts
    assert limited.http._server.request_queue_size >= N
