"""The sliding-window limiter and login throttling, on fakeredis (its Lua runs through lupa)."""

from __future__ import annotations

import fakeredis
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.platform import ratelimit
from shared.platform.ratelimit import (
    LOGIN_MAX_FAILURES,
    LOGIN_WINDOW_SECONDS,
    RateLimitUnavailable,
    clear_login_failures,
    hit,
    key_for,
    login_blocked,
    record_login_failure,
)

T0 = 1_700_000_000.0  # an injected clock, in epoch seconds


@pytest.fixture
def client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


# ---- the general limiter -----------------------------------------------------------------------


def test_exactly_limit_requests_pass_in_a_window_then_the_rest_are_refused(client):
    # Given a limit of 5 a minute
    # When 8 requests arrive within the same second
    decisions = [hit(client, "rl:user:u1", limit=5, now=T0 + i / 10) for i in range(8)]

    # Then the first 5 pass, counting down what remains, and the other 3 are refused
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0, 0]
    for refused in decisions[5:]:
        assert refused.retry_after >= 1
        assert refused.retry_after == refused.reset_seconds
        assert refused.retry_after <= 60
    # And a refused request was not recorded: only the 5 allowed ones are in the log
    assert client.zcard("rl:user:u1") == 5


def test_the_window_slides_the_oldest_request_frees_a_slot_after_the_window(client):
    # Given 3 allowed requests at t0, t0+10 s and t0+20 s against a limit of 3
    for offset in (0, 10, 20):
        assert hit(client, "k", limit=3, now=T0 + offset).allowed

    # When another comes at t0+30 s, it is refused until the t0 entry leaves the window
    refused = hit(client, "k", limit=3, now=T0 + 30)
    assert not refused.allowed
    assert refused.retry_after == 30
    assert not hit(client, "k", limit=3, now=T0 + 59.9).allowed

    # Then at t0+60 s exactly one slot is free again (the t0 entry left, t0+10 s is still in)
    freed = hit(client, "k", limit=3, now=T0 + 60)
    assert freed.allowed
    assert freed.remaining == 0
    assert freed.reset_seconds == 10  # until the t0+10 s entry leaves
    assert not hit(client, "k", limit=3, now=T0 + 60.5).allowed


def test_reset_counts_down_to_the_end_of_the_oldest_entrys_window(client):
    # Given one request at t0 against a roomy limit
    first = hit(client, "k", limit=10, now=T0)
    # When another comes 45.5 s later
    later = hit(client, "k", limit=10, now=T0 + 45.5)

    # Then reset is the (rounded up) time until the t0 entry's window ends
    assert first.reset_seconds == 60
    assert later.reset_seconds == 15
    assert later.remaining == 8
    assert later.retry_after == 0


def test_headers_carry_limit_remaining_reset_and_retry_after_only_when_refused(client):
    # Given a limit of 2 with one request made 20 s ago
    hit(client, "k", limit=2, now=T0)

    # When a second request is allowed and a third refused
    allowed = hit(client, "k", limit=2, now=T0 + 20)
    refused = hit(client, "k", limit=2, now=T0 + 25)

    # Then the headers say so, with Retry-After only on the refusal
    assert allowed.headers() == {
        "RateLimit-Limit": "2",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "40",
    }
    assert refused.headers() == {
        "RateLimit-Limit": "2",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "35",
        "Retry-After": "35",
    }


def test_keys_are_isolated(client):
    # Given user 1 has exhausted its limit
    for _ in range(2):
        hit(client, key_for(user_id="u1", client_ip=None), limit=2, now=T0)
    assert not hit(client, key_for(user_id="u1", client_ip=None), limit=2, now=T0).allowed

    # When user 2 and an anonymous IP call in the same second
    other_user = hit(client, key_for(user_id="u2", client_ip=None), limit=2, now=T0)
    anonymous = hit(client, key_for(user_id=None, client_ip="203.0.113.9"), limit=2, now=T0)

    # Then neither is affected by user 1's exhaustion
    assert other_user.allowed and other_user.remaining == 1
    assert anonymous.allowed and anonymous.remaining == 1


def test_the_server_clock_is_used_when_no_time_is_injected(client):
    # Given no injected time: the script reads Redis TIME
    # When two requests are made now
    first = hit(client, "k", limit=2)
    second = hit(client, "k", limit=2)
    third = hit(client, "k", limit=2)

    # Then both count in the same window, and the third waits about a window
    assert first.allowed and second.allowed and not third.allowed
    assert 59 <= third.retry_after <= 60
    # And the key expires with its window
    assert 0 < client.ttl("k") <= 60


def test_the_key_expires_with_its_window(client):
    # Given a 30 s window
    hit(client, "k", limit=5, window_seconds=30, now=T0)
    # Then the key carries a TTL of that window
    assert 0 < client.ttl("k") <= 30


def test_key_for_prefers_the_user_over_the_ip():
    assert key_for(user_id="u1", client_ip="198.51.100.1") == "rl:user:u1"
    assert key_for(user_id=None, client_ip="198.51.100.1") == "rl:ip:198.51.100.1"
    assert key_for(user_id=None, client_ip="2001:db8::1") == "rl:ip:2001:db8::1"
    with pytest.raises(ValueError, match="user id or a client IP"):
        key_for(user_id=None, client_ip=None)


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (5, 0)])
def test_a_nonsensical_limit_is_rejected(client, limit, window):
    with pytest.raises(ValueError, match="at least 1"):
        hit(client, "k", limit=limit, window_seconds=window, now=T0)


def test_each_script_is_registered_once_per_client(client, monkeypatch):
    # Given a client whose script registrations are counted
    registered: list[str] = []
    original = client.register_script

    def counting(source):
        registered.append(source)
        return original(source)

    monkeypatch.setattr(client, "register_script", counting)

    # When the limiter and the login throttle run several times
    for i in range(3):
        hit(client, "k", limit=10, now=T0 + i)
        record_login_failure(client, "a@example.com", now=T0 + i)
        login_blocked(client, "a@example.com", now=T0 + i)

    # Then each script was registered exactly once (and runs by EVALSHA thereafter)
    assert len(registered) == 3
    assert len(set(registered)) == 3


# ---- login throttling --------------------------------------------------------------------------


def test_five_failures_block_the_email_until_the_oldest_leaves_the_window(client):
    # Given 4 failures for one email: not yet blocked
    for i in range(LOGIN_MAX_FAILURES - 1):
        record_login_failure(client, "alice@example.com", now=T0 + i)
    assert login_blocked(client, "alice@example.com", now=T0 + 10) is None

    # When the 5th failure lands
    record_login_failure(client, "alice@example.com", now=T0 + 4)

    # Then the email is blocked until the first failure (at t0) is 15 minutes old
    retry_after = login_blocked(client, "alice@example.com", now=T0 + 100)
    assert retry_after == LOGIN_WINDOW_SECONDS - 100
    assert 0 < retry_after <= 900
    assert login_blocked(client, "alice@example.com", now=T0 + 899.5) == 1
    # And at 15 minutes the first failure leaves the window: 4 remain, no longer blocked
    assert login_blocked(client, "alice@example.com", now=T0 + 900) is None


def test_the_block_is_per_normalized_email(client):
    # Given 5 failures for an email typed with spaces and capitals
    for i in range(5):
        record_login_failure(client, "  Alice@Example.COM ", now=T0 + i)

    # Then its normalized form is blocked, and another email is not
    assert login_blocked(client, "alice@example.com", now=T0 + 5) is not None
    assert login_blocked(client, "bob@example.com", now=T0 + 5) is None


def test_a_successful_login_clears_the_failures(client):
    # Given a blocked email
    for i in range(5):
        record_login_failure(client, "alice@example.com", now=T0 + i)
    assert login_blocked(client, "alice@example.com", now=T0 + 5) is not None

    # When the failures are cleared (case and spaces do not matter)
    clear_login_failures(client, " ALICE@example.com")

    # Then it is no longer blocked, and it takes 5 new failures to block it again
    assert login_blocked(client, "alice@example.com", now=T0 + 6) is None
    for i in range(4):
        record_login_failure(client, "alice@example.com", now=T0 + 10 + i)
    assert login_blocked(client, "alice@example.com", now=T0 + 20) is None


def test_failures_older_than_the_window_do_not_count(client):
    # Given 4 failures 16 minutes ago and one now
    for i in range(4):
        record_login_failure(client, "alice@example.com", now=T0 + i)
    later = T0 + 16 * 60
    record_login_failure(client, "alice@example.com", now=later)

    # Then the email is not blocked: only one failure is within 15 minutes
    assert login_blocked(client, "alice@example.com", now=later + 1) is None
    # And 4 more recent failures do block it
    for i in range(4):
        record_login_failure(client, "alice@example.com", now=later + 1 + i)
    assert login_blocked(client, "alice@example.com", now=later + 10) == LOGIN_WINDOW_SECONDS - 10


def test_failures_while_blocked_keep_it_blocked_until_the_fifth_newest_leaves(client):
    # Given 8 failures, one a minute
    for i in range(8):
        record_login_failure(client, "alice@example.com", now=T0 + 60 * i)

    # Then the block lasts until the 5th newest (at t0 + 3 min) is 15 minutes old
    assert login_blocked(client, "alice@example.com", now=T0 + 480) == 900 + 180 - 480
    # And the log holds no more than the failures that decide the block
    assert client.zcard(ratelimit._login_key("alice@example.com")) == LOGIN_MAX_FAILURES


def test_keys_never_contain_the_raw_email(client):
    # Given failures and a clear for an email
    record_login_failure(client, "Alice.Secret@Example.com", now=T0)
    record_login_failure(client, "alice.secret@example.com", now=T0 + 1)

    # Then the only key is a hash under the login prefix, with no part of the email in it
    keys = [k.decode() for k in client.keys("*")]
    assert len(keys) == 1
    (key,) = keys
    assert key.startswith("rl:login:")
    assert len(key.removeprefix("rl:login:")) == 64  # SHA-256 hex
    assert "alice" not in key.lower() and "example" not in key.lower() and "@" not in key


# ---- Redis outage ------------------------------------------------------------------------------


@pytest.fixture
def dead_client():
    # No retries: redis-py's default (3 retries with backoff) would spend ~3 s per test here.
    client = redis.Redis(
        port=1, socket_connect_timeout=0.2, socket_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    yield client
    client.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda c: hit(c, "k", limit=5),
        lambda c: login_blocked(c, "a@example.com"),
        lambda c: record_login_failure(c, "a@example.com"),
        lambda c: clear_login_failures(c, "a@example.com"),
    ],
    ids=["hit", "login_blocked", "record_login_failure", "clear_login_failures"],
)
def test_an_unreachable_redis_raises_rate_limit_unavailable(dead_client, call):
    # Given a client pointed at a closed port
    # When any rate-limit function runs
    with pytest.raises(RateLimitUnavailable) as err:
        call(dead_client)
    # Then it raises the dedicated error, wrapping the Redis connection error
    assert isinstance(err.value.__cause__, redis.exceptions.ConnectionError)
