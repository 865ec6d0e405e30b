"""Redis faults under real traffic, through the local runner on real Postgres and a private
``redis-server`` (never the shared one): killed and restarted with its data lost, and with its
writes paused (``CLIENT PAUSE ... WRITE``) during a password change and a deactivation.

Each test asserts the statuses seen (never a 500: the documented 503 or fail-open at most), what
Postgres holds afterwards, that revoked tokens stay revoked through and after the fault, and that
the effects Redis could not take arrive once it is back (the outbox relay).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest
from sqlalchemy import select

from functions.registry import discover
from local.runner import LocalRunner, RunnerConfig
from tests.e2e.conftest import start_runner
from tests.support.api import ADMIN_EMAIL, ADMIN_PASSWORD, Account, admin, bearer, login, sign_up
from tests.support.outbox import backoff_passed, pending_effects
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.e2e

CACHE_SECONDS = 1.0  # REVOCATION_CACHE_SECONDS of this stack
NEW_PASSWORD = "a new passphrase after the fault"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def faulty(request, tmp_path_factory, redis_server) -> Iterator[LocalRunner]:
    """The system on real Postgres and the private Redis; schedules off, so the test says when
    the outbox relay runs."""
    config = RunnerConfig(
        port=0,
        state_dir=tmp_path_factory.mktemp("faults"),
        database_url=request.getfixturevalue("pg_url"),
        redis_url=redis_server.url,
        schedules=False,
        function_env={
            "ADMIN_EMAIL": ADMIN_EMAIL,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "RATE_LIMIT_PER_MINUTE": "100000",
            "REVOCATION_CACHE_SECONDS": str(CACHE_SECONDS),
        },
    )
    runner = start_runner(discover(), config)
    yield runner
    runner.stop()


@pytest.fixture
def client(faulty, redis_server) -> Iterator[httpx.Client]:
    if redis_server.process is None:
        redis_server.start()
    with httpx.Client(base_url=faulty.url, timeout=30) as http:
        yield http
    redis_server.unpause()


def jti_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def me(client: httpx.Client, token: str) -> int:
    return client.get("/auth/me", headers=bearer(token)).status_code


def second_session(client: httpx.Client, account: Account) -> str:
    response = login(client, account.email, account.password)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def run_relay(client: httpx.Client) -> dict:
    """The relay's next run (as the runner's on-demand endpoint does it), after the backoff."""
    backoff_passed()
    response = client.post("/__local/jobs/system-outbox-relay")
    assert response.status_code == 200, response.text
    result: dict = response.json()["result"]
    return result


@dataclass
class Seen:
    sent_at: float
    label: str
    status: int


class Traffic:
    """A thread presenting each token to ``GET /auth/me`` over and over, recording statuses."""

    def __init__(self, base_url: str, tokens: dict[str, str]) -> None:
        self.base_url, self.tokens = base_url, tokens
        self.seen: list[Seen] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            while not self._stop.is_set():
                for label, token in list(self.tokens.items()):
                    sent = time.monotonic()
                    status = http.get("/auth/me", headers=bearer(token)).status_code
                    self.seen.append(Seen(sent, label, status))
                time.sleep(0.02)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def statuses(self, label: str, *, after: float = 0.0, before: float = float("inf")) -> set:
        return {s.status for s in self.seen if s.label == label and after <= s.sent_at < before}


def test_redis_killed_and_restarted_mid_traffic_keeps_revoked_tokens_revoked(
    client, faulty, redis_server
):
    # Given a user with two sessions, the first logged out; and another user's session
    alice, bob = sign_up(client), sign_up(client)
    logged_out, second = alice.access_token, second_session(client, alice)
    assert client.post("/auth/logout", headers=bearer(logged_out)).status_code == 204
    assert (me(client, logged_out), me(client, second), me(client, bob.access_token)) == (
        401,
        200,
        200,
    )
    tokens = {"logged_out": logged_out, "second": second, "bob": bob.access_token}
    with Traffic(faulty.url, tokens) as traffic:
        time.sleep(0.5)
        # When Redis dies mid-traffic (SIGKILL: every key is lost with it)
        killed_at = time.monotonic()
        redis_server.kill()
        time.sleep(0.5)
        # And, while it is down, the second session logs out and someone tries to sign in
        logout = client.post("/auth/logout", headers=bearer(second))
        logged_out_at = time.monotonic()
        sign_in = login(client, bob.email, bob.password)
        time.sleep(0.5)
        # And Redis comes back, empty
        restarted_at = time.monotonic()
        redis_server.restart()
        time.sleep(1.0)
    # Then nothing answered 500: the revocation check read Postgres while Redis was away
    assert logout.status_code == 204, logout.text
    assert sign_in.status_code == 503  # login throttling fails closed (docs/auth.md)
    assert sign_in.headers["retry-after"]
    assert {s.status for s in traffic.seen} <= {200, 401}
    # And the logged-out token was refused before, during and after the outage
    assert traffic.statuses("logged_out") == {401}
    assert traffic.statuses("logged_out", after=restarted_at)  # it was tried after the restart
    # And the session logged out during the outage was refused from then on, restart included
    assert traffic.statuses("second", before=killed_at) == {200}
    assert traffic.statuses("second", after=logged_out_at) == {401}
    # And the other user's session kept working throughout
    assert traffic.statuses("bob") == {200}
    assert traffic.statuses("bob", after=killed_at, before=restarted_at) == {200}
    # And Postgres holds both revocations
    from shared.auth.models import RevokedToken
    from shared.platform import db

    with db.session_scope() as session:
        denied = set(session.scalars(select(RevokedToken.jti)))
    assert {jti_of(logged_out), jti_of(second)} <= denied
    # And the cache invalidation Redis missed is pending, and delivered once it is back
    assert ("cache_delete", 1) in pending_effects()
    assert run_relay(client)["pending"] == 0
    assert pending_effects() == []
    # And afterwards: both revoked tokens still refused, everything else works again
    assert (me(client, logged_out), me(client, second), me(client, bob.access_token)) == (
        401,
        401,
        200,
    )
    assert login(client, bob.email, bob.password).status_code == 200


def watch_refusal(client: httpx.Client, token: str, *, seconds: float) -> list[tuple[float, int]]:
    """Present ``token`` for ``seconds``; (time sent, status) of each attempt."""
    seen: list[tuple[float, int]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sent = time.monotonic()
        seen.append((sent, me(client, token)))
    return seen


def test_redis_refusing_writes_during_a_password_change(client, redis_server):
    from shared.auth.models import RefreshToken
    from shared.platform import db
    from shared.users.models import User

    # Given a user signed in on two devices, both recently checked (their state cached)
    user = sign_up(client)
    other_device = second_session(client, user)
    assert (me(client, user.access_token), me(client, other_device)) == (200, 200)
    # When Redis refuses writes (and pauses key expiry) and the user changes its password
    redis_server.pause_writes(30)
    started = time.monotonic()
    changed = client.post(
        "/auth/password",
        json={"current_password": user.password, "new_password": NEW_PASSWORD},
        headers=user.headers,
    )
    answered = time.monotonic()
    # Then the change is answered 204, not 500, within the function's timeout (each Redis
    # write waits for the client's ~2 s timeout: the rate limiter's, then the invalidation's)
    assert changed.status_code == 204, changed.text
    assert answered - started < 10
    # And the other device is refused within the cache bound, while writes are still refused
    seen = watch_refusal(client, other_device, seconds=CACHE_SECONDS + 2.5)
    assert {status for _, status in seen} <= {200, 401}
    assert {status for sent, status in seen if sent > answered + CACHE_SECONDS} == {401}
    # And a sign-in meanwhile is the documented 503 (login throttling fails closed)
    assert login(client, user.email, NEW_PASSWORD).status_code == 503
    # And Postgres holds the change: new hash, version bumped, refresh tokens revoked
    with db.session_scope() as session:
        row = session.scalar(select(User).where(User.email == user.email))
        assert row is not None and row.token_version == 1
        live = session.scalars(
            select(RefreshToken).where(
                RefreshToken.user_id == row.id, RefreshToken.revoked_at.is_(None)
            )
        ).all()
        assert live == []
    # And the cache invalidation is pending (the notification went: SQS was fine)
    assert pending_effects() == [("cache_delete", 1)]
    # When Redis accepts writes again and the relay runs
    redis_server.unpause()
    assert run_relay(client)["pending"] == 0
    # Then every session from before stays refused, and only the new password signs in
    assert (me(client, user.access_token), me(client, other_device)) == (401, 401)
    assert login(client, user.email, user.password).status_code == 401
    assert login(client, user.email, NEW_PASSWORD).status_code == 200


def test_redis_refusing_writes_during_a_deactivation(client, redis_server):
    from shared.platform import db
    from shared.users.models import User

    # Given an admin and a member whose session and account were recently read (cached)
    boss, member = admin(client), sign_up(client)
    assert me(client, member.access_token) == 200
    shown = client.get(f"/users/{member.id}", headers=boss.headers)
    assert shown.status_code == 200 and shown.json()["is_active"] is True
    # When Redis refuses writes and the admin deactivates the member
    redis_server.pause_writes(30)
    off = client.patch(f"/users/{member.id}", json={"is_active": False}, headers=boss.headers)
    answered = time.monotonic()
    # Then the deactivation is answered 200 with the new state, not 500
    assert off.status_code == 200, off.text
    assert off.json()["is_active"] is False
    # And the member's session is refused within the cache bound, writes still refused
    seen = watch_refusal(client, member.access_token, seconds=CACHE_SECONDS + 2.5)
    assert {status for _, status in seen} <= {200, 401}
    assert {status for sent, status in seen if sent > answered + CACHE_SECONDS} == {401}
    # And Postgres holds it
    with db.session_scope() as session:
        row = session.get(User, uuid.UUID(member.id))
        assert row is not None and (row.is_active, row.token_version) == (False, 1)
    # And the two cache effects (token version, cached account) wait for Redis
    assert sorted(pending_effects()) == [("cache_delete", 1), ("cache_set", 1)]
    # When Redis accepts writes again and the relay runs
    redis_server.unpause()
    assert run_relay(client)["pending"] == 0
    # Then the member stays refused and every read shows the account deactivated
    assert me(client, member.access_token) == 401
    again = client.get(f"/users/{member.id}", headers=boss.headers)
    assert again.status_code == 200 and again.json()["is_active"] is False
    assert login(client, member.email, member.password).status_code == 401
