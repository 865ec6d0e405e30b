"""The limiter and login throttling against real Redis, under real concurrency."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
import redis

from shared.platform import ratelimit
from shared.platform.ratelimit import (
    LOGIN_MAX_FAILURES,
    LOGIN_WINDOW_SECONDS,
    Decision,
    _login_key,
    clear_login_failures,
    hit,
    login_blocked,
    record_login_failure,
)

pytestmark = pytest.mark.integration

T = TypeVar("T")

N = 40
LIMIT = 15
TAG = f"ratelimit-it-{uuid.uuid4().hex[:8]}"  # in every limiter key this module creates


@pytest.fixture
def client(redis_url) -> Iterator[redis.Redis]:
    """A pooled client on this session's Redis db; the keys of this test are deleted after."""
    client = redis.Redis.from_url(redis_url, max_connections=N + 5)
    ours = f"*{TAG}*"
    yield client
    # Login keys are hashes and cannot carry the tag: tests delete them through clear_*.
    keys = list(client.scan_iter(ours))
    if keys:
        client.delete(*keys)
    client.close()


def _in_parallel(n: int, call: Callable[[int], T]) -> list[T]:
    """Run ``call(i)`` for i in range(n) on n threads released together by a barrier."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait(timeout=10)
        return call(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.mark.parametrize("clients", ["shared pool", "own client per thread", "decoded"])
def test_n_parallel_requests_never_let_more_than_the_limit_through(client, redis_url, clients):
    # Given a fresh key with a limit of 15 a minute, and 40 threads ready to call at once
    key = f"rl:user:{TAG}-{uuid.uuid4()}"
    own: list[redis.Redis] = []

    def call(_: int) -> Decision:
        if clients == "shared pool":
            c = client
        else:
            c = redis.Redis.from_url(redis_url, decode_responses=clients == "decoded")
            own.append(c)
        return hit(c, key, limit=LIMIT)

    # When they all hit it in parallel
    try:
        decisions = _in_parallel(N, call)
    finally:
        for c in own:
            c.close()

    # Then exactly 15 are allowed and 25 refused, each refusal with a Retry-After of >= 1 s
    allowed = [d for d in decisions if d.allowed]
    refused = [d for d in decisions if not d.allowed]
    assert len(allowed) == LIMIT
    assert len(refused) == N - LIMIT
    assert all(1 <= d.retry_after <= 60 for d in refused)
    assert all(d.headers()["Retry-After"] == str(d.retry_after) for d in refused)
    # And each allowed one saw a distinct remaining count: none was lost or double-counted
    assert sorted(d.remaining for d in allowed) == list(range(LIMIT))
    # And the log holds exactly the allowed requests, expiring with the window
    assert client.zcard(key) == LIMIT
    assert 0 < client.ttl(key) <= 60


def test_parallel_wrong_passwords_all_count_and_block_the_email(client):
    # Given an email with no failures yet
    email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    assert login_blocked(client, email) is None

    # When 12 wrong-password attempts are recorded in parallel
    _in_parallel(12, lambda _: record_login_failure(client, email))

    # Then the email is blocked for (nearly) the whole window, whatever the password
    retry_after = login_blocked(client, email)
    assert retry_after is not None
    assert LOGIN_WINDOW_SECONDS - 5 <= retry_after <= LOGIN_WINDOW_SECONDS
    # And no key names the email; the failure log is bounded and expires
    key = _login_key(email)
    assert "victim" not in key and "example" not in key
    assert client.zcard(key) == LOGIN_MAX_FAILURES
    assert 0 < client.ttl(key) <= LOGIN_WINDOW_SECONDS

    # When the user then logs in successfully (the caller clears the failures)
    clear_login_failures(client, email)

    # Then the email is no longer blocked
    assert login_blocked(client, email) is None


def test_parallel_failures_in_the_same_instant_are_all_counted(client):
    # Given a fixed injected time, so every failure has the same timestamp
    email = f"same-instant-{uuid.uuid4().hex[:8]}@example.com"
    now = 1_700_000_000.0

    # When exactly 5 failures are recorded in parallel at that instant
    _in_parallel(LOGIN_MAX_FAILURES, lambda _: record_login_failure(client, email, now=now))

    # Then all 5 count (unique members), so the email is blocked for the whole window
    assert login_blocked(client, email, now=now) == LOGIN_WINDOW_SECONDS
    clear_login_failures(client, email)


def test_scripts_run_by_sha_on_the_server(client):
    # Given one call of each script
    hit(client, f"rl:user:{TAG}", limit=5)
    email = f"{TAG}@example.com"
    login_blocked(client, email)
    record_login_failure(client, email)

    # Then the server knows the three scripts by their SHA (EVALSHA is what runs them)
    shas = [script.sha for script in ratelimit._scripts[client].values()]
    assert len(shas) == 3
    assert client.script_exists(*shas) == [True, True, True]
    clear_login_failures(client, email)
