"""Rate limiting in Redis: a sliding-window limiter per caller, and login throttling per email.

Both keep a sorted-set log per key whose scores are request (or failure) times in microseconds,
and both run as one Lua script each, so a check and its write are atomic: N parallel requests
against a limit L never let more than L through, and parallel failures are all counted (each
member carries a random suffix, so requests in the same microsecond stay distinct). Times come
from the Redis server's clock (``TIME``) unless a test injects ``now``, so every Lambda
instance agrees on the window whatever its own clock says.

Keys: ``rl:user:<id>`` or ``rl:ip:<ip>`` for the limiter (:func:`key_for`), and
``rl:login:<sha256 of the normalized email>`` for login throttling: no raw email (PII) ever
appears in a key name. Every key expires with its window, so Redis holds nothing stale.

Redis outage policy: every function here raises :class:`RateLimitUnavailable` (wrapping the
``redis.exceptions.RedisError``: connection refused, timeout, read-only replica, ...) and leaves
the decision to its caller, which is meant to be:

- the general limiter (:func:`hit`) fails OPEN: the request is served, without the
  ``RateLimit-*`` headers, and the outage is logged. An unavailable cache must not take the
  whole API down, and the limiter protects capacity, not secrets;
- login throttling (:func:`login_blocked`, :func:`record_login_failure`,
  :func:`clear_login_failures`) fails CLOSED: the login gets a 503. Serving logins unthrottled
  would let a password guesser through exactly while Redis is away.
"""

from __future__ import annotations

import hashlib
import math
import threading
import uuid
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis import Redis
    from redis.commands.core import Script

LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_SECONDS = 900

_US = 1_000_000

# The clock a script runs on: the server's, unless ARGV[n] carries an injected time (tests).
_CLOCK = """
local function clock(injected)
  if injected ~= '' then return tonumber(injected) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
"""

# KEYS[1] log; ARGV: limit, window (µs), window (s), injected now (µs) or '', unique suffix.
# Returns {allowed (0|1), entries in the window after this call, µs until the oldest leaves}.
_HIT = (
    _CLOCK
    + """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = clock(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, string.format('%d', now) .. ':' .. ARGV[5])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
  count = count + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = 0
if oldest[2] then wait = tonumber(oldest[2]) + window - now end
return {allowed, count, wait}
"""
)

# KEYS[1] failure log; ARGV: max failures, window (µs), injected now (µs) or ''.
# Returns µs until the oldest failure leaves the window when blocked, else -1.
_LOGIN_CHECK = (
    _CLOCK
    + """
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = clock(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < max then return -1 end
local oldest = redis.call('ZRANGE', KEYS[1], count - max, count - max, 'WITHSCORES')
return tonumber(oldest[2]) + window - now
"""
)

# KEYS[1] failure log; ARGV: max failures, window (µs), window (s), injected now (µs) or '',
# unique suffix. Only the newest `max` failures are kept: they alone decide when the block ends,
# and a guesser hammering a blocked account cannot grow the key without bound.
_LOGIN_FAIL = (
    _CLOCK
    + """
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = clock(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, string.format('%d', now) .. ':' .. ARGV[5])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(max + 1))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return redis.call('ZCARD', KEYS[1])
"""
)


class RateLimitUnavailable(Exception):
    """Redis could not be reached or refused the command; ``__cause__`` is the RedisError.

    The general limiter's caller fails open on it; login throttling's caller fails closed (503).
    """


@dataclass(frozen=True)
class Decision:
    """The outcome of one :func:`hit`."""

    allowed: bool
    limit: int
    remaining: int
    """Requests left in the window after this one."""
    reset_seconds: int
    """Seconds until a slot frees (>= 1) when ``remaining`` is 0; else until the oldest entry
    of the window leaves it (>= 0)."""
    retry_after: int
    """Seconds to wait before retrying (>= 1) when refused; 0 when allowed."""

    def headers(self) -> dict[str, str]:
        """The ``RateLimit-*`` response headers, plus ``Retry-After`` when refused."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


_scripts: weakref.WeakKeyDictionary[Redis, dict[str, Script]] = weakref.WeakKeyDictionary()
_scripts_lock = threading.Lock()


def _run(client: Redis, source: str, *, keys: Sequence[str], args: Sequence[str | int]) -> Any:
    """Run ``source`` through EVALSHA (registered once per client), mapping Redis failures."""
    from redis.exceptions import RedisError

    with _scripts_lock:
        registered = _scripts.setdefault(client, {})
        script = registered.get(source)
        if script is None:
            script = registered[source] = client.register_script(source)
    try:
        return script(keys=keys, args=args)
    except RedisError as exc:
        raise RateLimitUnavailable(f"Redis is unavailable for rate limiting: {exc}") from exc


def _injected(now: float | None) -> str | int:
    return "" if now is None else round(now * _US)


def _seconds(microseconds: int) -> int:
    return max(0, math.ceil(microseconds / _US))


def key_for(*, user_id: str | None, client_ip: str | None) -> str:
    """The limiter key of a caller: per user when authenticated, else per client IP."""
    if user_id:
        return f"rl:user:{user_id}"
    if client_ip:
        return f"rl:ip:{client_ip}"
    raise ValueError("A rate-limit key needs a user id or a client IP.")


def hit(
    client: Redis,
    key: str,
    *,
    limit: int,
    window_seconds: int = 60,
    now: float | None = None,
) -> Decision:
    """Count one request against ``key``: record and allow it, or refuse it without recording.

    At most ``limit`` requests are allowed in any ``window_seconds`` sliding window, however
    many callers race. ``now`` (epoch seconds) overrides the Redis server's clock, for tests.
    Raises :class:`RateLimitUnavailable` when Redis fails (the caller then fails open).
    """
    if limit < 1 or window_seconds < 1:
        raise ValueError("limit and window_seconds must be at least 1.")
    allowed, count, wait = _run(
        client,
        _HIT,
        keys=[key],
        args=[limit, window_seconds * _US, window_seconds, _injected(now), uuid.uuid4().hex],
    )
    remaining = max(0, limit - int(count))
    reset = _seconds(int(wait))
    if remaining == 0:
        reset = max(1, reset)
    return Decision(
        allowed=bool(allowed),
        limit=limit,
        remaining=remaining,
        reset_seconds=reset,
        retry_after=0 if allowed else reset,
    )


def _login_key(email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"rl:login:{digest}"


def login_blocked(client: Redis, email: str, *, now: float | None = None) -> int | None:
    """Seconds to wait (>= 1) when ``email`` has too many recent failed logins, else None.

    Blocked once :data:`LOGIN_MAX_FAILURES` failures fall within :data:`LOGIN_WINDOW_SECONDS`;
    the wait lasts until the oldest of them leaves the window. The email is normalized
    (trimmed, lower-cased) and hashed. Raises :class:`RateLimitUnavailable` when Redis fails
    (the caller then fails closed with a 503).
    """
    wait = int(
        _run(
            client,
            _LOGIN_CHECK,
            keys=[_login_key(email)],
            args=[LOGIN_MAX_FAILURES, LOGIN_WINDOW_SECONDS * _US, _injected(now)],
        )
    )
    if wait < 0:
        return None
    return max(1, _seconds(wait))


def record_login_failure(client: Redis, email: str, *, now: float | None = None) -> None:
    """Record one failed login for ``email``; parallel failures are all counted.

    Raises :class:`RateLimitUnavailable` when Redis fails.
    """
    _run(
        client,
        _LOGIN_FAIL,
        keys=[_login_key(email)],
        args=[
            LOGIN_MAX_FAILURES,
            LOGIN_WINDOW_SECONDS * _US,
            LOGIN_WINDOW_SECONDS,
            _injected(now),
            uuid.uuid4().hex,
        ],
    )


def clear_login_failures(client: Redis, email: str) -> None:
    """Forget ``email``'s failed logins, after a successful one.

    Raises :class:`RateLimitUnavailable` when Redis fails.
    """
    from redis.exceptions import RedisError

    try:
        client.delete(_login_key(email))
    except RedisError as exc:
        raise RateLimitUnavailable(f"Redis is unavailable for rate limiting: {exc}") from exc
