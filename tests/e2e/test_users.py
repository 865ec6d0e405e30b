"""The User service contract and RBAC, through the runner on real Postgres and Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime

import httpx
import pytest
import redis as redis_py

from tests.support.api import Account, admin, bearer, login, sign_up

pytestmark = pytest.mark.e2e

USER_FIELDS = {"id", "email", "name", "role", "is_active", "created_at", "updated_at"}


# ---- helpers -----------------------------------------------------------------------------------


def problem(response: httpx.Response, status: int) -> dict:
    """The RFC 9457 body of ``response``, after checking it is one with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    assert {"type", "title", "detail"} <= set(body)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    return body


def user_of(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == USER_FIELDS  # never a hash or any internal field
    return body


def read(client: httpx.Client, reader: Account, user_id: str) -> httpx.Response:
    return client.get(f"/users/{user_id}", headers=reader.headers)


def relogin(client: httpx.Client, account: Account) -> Account:
    tokens = login(client, account.email, account.password)
    assert tokens.status_code == 200, tokens.text
    account.access_token = tokens.json()["access_token"]
    account.refresh_token = tokens.json()["refresh_token"]
    return account


def walk(client: httpx.Client, headers: dict[str, str], *, limit: int) -> list[dict]:
    """Every item of GET /users, following next_cursor page by page."""
    items: list[dict] = []
    params: dict[str, object] = {"limit": limit}
    for _ in range(10_000):
        response = client.get("/users", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        assert len(page["items"]) == limit  # only a full page points further
        params = {"limit": limit, "cursor": page["next_cursor"]}
    raise AssertionError("the listing never ends")


def users_in_database() -> list[str]:
    """The ids of every user, newest first, read from the stack's database (same process)."""
    from sqlalchemy import select

    from shared.platform import db
    from shared.users.models import User

    with db.session_scope() as session:
        query = select(User.id).order_by(User.created_at.desc(), User.id.desc())
        return [str(user_id) for user_id in session.scalars(query)]


def sort_key(user: dict) -> tuple[datetime, uuid.UUID]:
    return datetime.fromisoformat(user["created_at"]), uuid.UUID(user["id"])


@pytest.fixture
def redis(stack, redis_url) -> Iterator[redis_py.Redis]:
    """The stack's Redis, as a client would never see it: to check the user cache."""
    client = redis_py.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def boss(client) -> Account:
    """The bootstrap admin, logged in once per test."""
    return admin(client)


@pytest.fixture
def accounts(client, boss) -> Iterator[Callable[..., Account]]:
    """A factory of logged-in accounts (``role`` set by the bootstrap admin); deleted afterwards,
    so that no admin made here outlives its test."""
    made: list[Account] = []

    def make(role: str = "member") -> Account:
        account = sign_up(client)
        made.append(account)
        if role != "member":
            changed = client.patch(
                f"/users/{account.id}", json={"role": role}, headers=boss.headers
            )
            assert changed.status_code == 200, changed.text
            relogin(client, account)  # the old token carried the old role
        return account

    yield make
    for account in made:
        gone = client.delete(f"/users/{account.id}", headers=boss.headers)
        assert gone.status_code in (204, 404), gone.text


@pytest.fixture
def sole_admin(client, boss) -> Account:
    """The bootstrap admin, made the only active admin: any other active admin left over by
    another suite is deactivated (this file deletes the admins it makes)."""
    for user in walk(client, boss.headers, limit=100):
        if user["role"] == "admin" and user["is_active"] and user["id"] != boss.id:
            off = client.patch(
                f"/users/{user['id']}", json={"is_active": False}, headers=boss.headers
            )
            assert off.status_code == 200, off.text
    return boss


# ---- GET /users --------------------------------------------------------------------------------


def test_an_admin_lists_users_newest_first(client, boss, accounts):
    # Given three new members
    made = [accounts() for _ in range(3)]
    # When the admin lists users with the default limit
    response = client.get("/users", headers=boss.headers)
    # Then it gets a page of users, newest first, the newest being the last one registered
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    page = response.json()
    assert set(page) == {"items", "next_cursor"}
    assert 3 <= len(page["items"]) <= 20
    assert all(set(u) == USER_FIELDS for u in page["items"])
    assert [u["id"] for u in page["items"][:3]] == [a.id for a in reversed(made)]
    assert [sort_key(u) for u in page["items"]] == sorted(
        (sort_key(u) for u in page["items"]), reverse=True
    )


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
def test_a_limit_outside_1_to_100_is_422(client, boss, limit):
    body = problem(client.get("/users", params={"limit": limit}, headers=boss.headers), 422)
    assert body["errors"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize("limit", [1, 100])
def test_the_limit_bounds_are_accepted(client, boss, limit):
    response = client.get("/users", params={"limit": limit}, headers=boss.headers)
    assert response.status_code == 200, response.text
    assert 1 <= len(response.json()["items"]) <= limit


def test_pagination_walks_every_user_exactly_once(client, boss, accounts):
    # Given five new members, registered one after the other
    made = [accounts() for _ in range(5)]
    # When the admin walks the whole listing two at a time
    items = walk(client, boss.headers, limit=2)
    ids = [u["id"] for u in items]
    # Then nobody appears twice, and the order is created_at then id, descending
    assert len(ids) == len(set(ids))
    assert [sort_key(u) for u in items] == sorted((sort_key(u) for u in items), reverse=True)
    # And the five appear, newest first
    position = {user_id: i for i, user_id in enumerate(ids)}
    assert all(a.id in position for a in made)
    assert sorted((a.id for a in made), key=position.__getitem__) == [a.id for a in reversed(made)]
    # And the walk is the whole users table, in the database's own order
    assert ids == users_in_database()


def _first_cursor(client: httpx.Client, account: Account) -> str:
    response = client.get("/users", params={"limit": 1}, headers=account.headers)
    assert response.status_code == 200, response.text
    cursor = response.json()["next_cursor"]
    assert cursor, "needs at least two users"
    return cursor


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda c: _flip(c, 3), id="flipped-signature"),
        pytest.param(lambda c: _flip(c, len(c) // 2), id="flipped-payload"),
        pytest.param(lambda c: c[:-5], id="truncated-end"),
        pytest.param(lambda c: c[: len(c) // 2], id="truncated-half"),
        pytest.param(lambda c: c + "AAAA", id="extended"),
        pytest.param(lambda _: "not a cursor!", id="garbage"),
    ],
)
def test_a_forged_or_truncated_cursor_is_422(client, boss, accounts, tamper):
    # Given a valid cursor, then tampered with
    accounts()
    cursor = _first_cursor(client, boss)
    assert client.get("/users", params={"cursor": cursor}, headers=boss.headers).status_code == 200
    # When it is presented
    response = client.get("/users", params={"cursor": tamper(cursor)}, headers=boss.headers)
    # Then it is refused as invalid input on the cursor
    body = problem(response, 422)
    assert body["errors"][0]["loc"] == ["query", "cursor"]


def test_another_admins_cursor_is_422(client, boss, accounts):
    # Given a second admin and a cursor minted for its listing
    second = accounts("admin")
    cursor = _first_cursor(client, second)
    response = client.get("/users", params={"limit": 1, "cursor": cursor}, headers=second.headers)
    assert response.status_code == 200, response.text  # good for the admin it was minted for
    # When the bootstrap admin presents it
    foreign = client.get("/users", params={"limit": 1, "cursor": cursor}, headers=boss.headers)
    # Then it is refused as foreign
    body = problem(foreign, 422)
    assert body["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_a_non_admin_listing_users_is_403(client, accounts, role):
    problem(client.get("/users", headers=accounts(role).headers), 403)


def test_listing_users_without_a_token_is_401(client):
    problem(client.get("/users"), 401)


# ---- GET /users/{id} ---------------------------------------------------------------------------


def test_a_user_reads_itself(client, accounts):
    member = accounts()
    body = user_of(client.get(f"/users/{member.id}", headers=member.headers))
    assert (body["id"], body["email"], body["role"], body["is_active"]) == (
        member.id,
        member.email,
        "member",
        True,
    )


def test_an_admin_reads_anyone(client, boss, accounts):
    member = accounts()
    assert user_of(read(client, boss, member.id))["email"] == member.email


def test_another_users_account_is_404_like_a_missing_one(client, accounts):
    # Given two members
    a, b = accounts(), accounts()
    # When A reads B, and a user that does not exist
    hidden = client.get(f"/users/{b.id}", headers=a.headers)
    missing = client.get(f"/users/{uuid.uuid4()}", headers=a.headers)
    # Then both are the same 404: nothing tells A that B exists
    hidden_body, missing_body = problem(hidden, 404), problem(missing, 404)
    hidden_body.pop("request_id")
    missing_body.pop("request_id")
    assert hidden_body == missing_body
    assert b.email not in hidden.text and b.id not in hidden.text


def test_an_admin_reading_a_missing_user_gets_404(client, boss):
    problem(read(client, boss, str(uuid.uuid4())), 404)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "0000"])
def test_a_malformed_id_is_422(client, accounts, bad_id):
    body = problem(client.get(f"/users/{bad_id}", headers=accounts().headers), 422)
    assert body["errors"][0]["loc"] == ["path", "id"]


# ---- PATCH /users/{id} -------------------------------------------------------------------------


def test_a_member_renames_itself_and_reads_the_new_name(client, boss, accounts, redis):
    # Given a member whose account was read once, so it is cached
    member = accounts()
    before = user_of(client.get(f"/users/{member.id}", headers=member.headers))
    assert before["name"] == "T"
    assert redis.exists(f"user:{member.id}")
    # When it renames itself
    renamed = user_of(
        client.patch(f"/users/{member.id}", json={"name": "Ada"}, headers=member.headers)
    )
    # Then the answer and every later read show the new name, and when it changed
    assert renamed["name"] == "Ada"
    assert renamed["updated_at"] > before["updated_at"]
    assert user_of(client.get(f"/users/{member.id}", headers=member.headers)) == renamed
    assert user_of(read(client, boss, member.id))["name"] == "Ada"


@pytest.mark.parametrize("changes", [{"name": "Hijacked"}, {"role": "admin"}, {"is_active": False}])
def test_a_member_patching_another_user_is_404_like_a_missing_one(client, boss, accounts, changes):
    # Given two members
    a, b = accounts(), accounts()
    before = user_of(read(client, boss, b.id))
    # When A patches B, and a user that does not exist
    hidden = problem(client.patch(f"/users/{b.id}", json=changes, headers=a.headers), 404)
    missing = problem(client.patch(f"/users/{uuid.uuid4()}", json=changes, headers=a.headers), 404)
    # Then both are the same 404 (not a 403 that would confirm B exists), and B is unchanged
    hidden.pop("request_id")
    missing.pop("request_id")
    assert hidden == missing
    assert user_of(read(client, boss, b.id)) == before


def test_a_member_renaming_another_user_is_404_and_nothing_changes(client, boss, accounts):
    a, b = accounts(), accounts()
    problem(client.patch(f"/users/{b.id}", json={"name": "Hijacked"}, headers=a.headers), 404)
    assert user_of(read(client, boss, b.id))["name"] == "T"


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "admin"},
        {"role": "member"},
        {"role": None},
        {"is_active": False},
        {"name": "Renamed", "role": "admin"},
    ],
)
def test_a_member_sending_role_or_is_active_is_403_and_nothing_changes(
    client, boss, accounts, changes
):
    # Given a member
    member = accounts()
    before = user_of(read(client, boss, member.id))
    # When it sends role or is_active for itself
    response = client.patch(f"/users/{member.id}", json=changes, headers=member.headers)
    # Then it is refused, and its account and its token are as they were
    problem(response, 403)
    assert user_of(read(client, boss, member.id)) == before
    assert client.get("/auth/me", headers=member.headers).status_code == 200


@pytest.mark.parametrize(
    "body", [{"nickname": "x"}, {"name": "ok", "password_hash": "x"}, {"token_version": 0}]
)
def test_an_unknown_field_is_422(client, boss, accounts, body):
    member = accounts()
    problem(client.patch(f"/users/{member.id}", json=body, headers=member.headers), 422)
    assert user_of(read(client, boss, member.id))["name"] == "T"


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x" * 201}, {"role": "owner"}])
def test_an_invalid_value_is_422(client, boss, accounts, body):
    member = accounts()
    response = client.patch(f"/users/{member.id}", json=body, headers=boss.headers)
    problem(response, 422)
    after = user_of(read(client, boss, member.id))
    assert (after["name"], after["role"]) == ("T", "member")


def test_a_viewer_renames_itself_but_not_its_role(client, accounts):
    # The contract lets every user edit its own name
    viewer = accounts("viewer")
    renamed = client.patch(f"/users/{viewer.id}", json={"name": "New"}, headers=viewer.headers)
    assert user_of(renamed)["name"] == "New"
    assert user_of(client.get("/auth/me", headers=viewer.headers))["name"] == "New"
    role = {"role": "member"}
    problem(client.patch(f"/users/{viewer.id}", json=role, headers=viewer.headers), 403)
    assert user_of(client.get(f"/users/{viewer.id}", headers=viewer.headers))["role"] == "viewer"


def test_an_admin_changes_a_role_and_the_old_token_dies(client, boss, accounts):
    # Given a member with a live token
    b = accounts()
    old_token = b.access_token
    assert client.get("/auth/me", headers=b.headers).status_code == 200
    # When the admin makes it a viewer
    changed = client.patch(f"/users/{b.id}", json={"role": "viewer"}, headers=boss.headers)
    assert user_of(changed)["role"] == "viewer"
    # Then the old token, which carries the old role, is refused at once
    problem(client.get("/auth/me", headers=bearer(old_token)), 401)
    # And after a new login B is a viewer, and is treated as one
    relogin(client, b)
    assert client.get("/auth/me", headers=b.headers).json()["role"] == "viewer"
    note = {"title": "t", "text": "x"}
    problem(client.post("/documents/text", json=note, headers=b.headers), 403)


def test_an_admin_deactivates_a_user_and_its_sessions_end_at_once(client, boss, accounts):
    # Given a member with live tokens
    b = accounts()
    # When the admin deactivates it
    changed = client.patch(f"/users/{b.id}", json={"is_active": False}, headers=boss.headers)
    assert user_of(changed)["is_active"] is False
    # Then its access token, its refresh token and its password all stop working
    problem(client.get("/auth/me", headers=b.headers), 401)
    problem(client.get(f"/users/{b.id}", headers=b.headers), 401)
    problem(client.post("/auth/refresh", json={"refresh_token": b.refresh_token}), 401)
    problem(login(client, b.email, b.password), 401)
    # And the account is there, inactive
    assert user_of(read(client, boss, b.id))["is_active"] is False


@pytest.mark.parametrize("changes", [{"role": "member"}, {"role": "viewer"}, {"is_active": False}])
def test_the_last_active_admin_cannot_demote_or_deactivate_itself(client, sole_admin, changes):
    # Given the only active admin
    boss = sole_admin
    # When it demotes or deactivates itself
    response = client.patch(f"/users/{boss.id}", json=changes, headers=boss.headers)
    # Then it is refused as a conflict, and it is still an active admin with a working token
    problem(response, 409)
    me = user_of(client.get(f"/users/{boss.id}", headers=boss.headers))
    assert (me["role"], me["is_active"]) == ("admin", True)
    assert client.get("/users", params={"limit": 1}, headers=boss.headers).status_code == 200


def test_with_a_second_active_admin_an_admin_may_demote_itself(client, boss, accounts):
    # Given a fresh admin beside the bootstrap admin
    second = accounts("admin")
    old_token = second.access_token
    # When it demotes itself
    changed = client.patch(f"/users/{second.id}", json={"role": "member"}, headers=second.headers)
    # Then it is a member; its admin token is gone and a new login carries the new role
    assert user_of(changed)["role"] == "member"
    problem(client.get("/users", headers=bearer(old_token)), 401)
    relogin(client, second)
    problem(client.get("/users", headers=second.headers), 403)
    assert user_of(read(client, boss, second.id))["role"] == "member"


# ---- DELETE /users/{id} ------------------------------------------------------------------------


def test_a_member_deleting_another_user_is_404_and_it_stays(client, boss, accounts):
    a, b = accounts(), accounts()
    problem(client.delete(f"/users/{b.id}", headers=a.headers), 404)
    user_of(read(client, boss, b.id))
    assert client.get("/auth/me", headers=b.headers).status_code == 200


def test_a_user_deletes_itself(client, boss, accounts):
    # Given a member
    member = accounts()
    # When it deletes its own account
    response = client.delete(f"/users/{member.id}", headers=member.headers)
    # Then 204 without a body; the account is gone, its token dead, its email free again
    assert response.status_code == 204, response.text
    assert response.content == b""
    problem(read(client, boss, member.id), 404)
    problem(client.get("/auth/me", headers=member.headers), 401)
    problem(client.post("/auth/refresh", json={"refresh_token": member.refresh_token}), 401)
    problem(login(client, member.email, member.password), 401)
    again = client.post(
        "/auth/register", json={"email": member.email, "password": member.password, "name": "T"}
    )
    assert user_of(again, 201)["id"] != member.id
    client.delete(f"/users/{again.json()['id']}", headers=boss.headers)


def test_an_admin_deletes_a_user(client, boss, accounts):
    b = accounts()
    response = client.delete(f"/users/{b.id}", headers=boss.headers)
    assert response.status_code == 204, response.text
    problem(read(client, boss, b.id), 404)
    problem(client.get("/auth/me", headers=b.headers), 401)


def test_the_last_active_admin_cannot_delete_itself(client, sole_admin):
    problem(client.delete(f"/users/{sole_admin.id}", headers=sole_admin.headers), 409)
    me = user_of(client.get(f"/users/{sole_admin.id}", headers=sole_admin.headers))
    assert (me["role"], me["is_active"]) == ("admin", True)


def test_deleting_a_user_twice_is_404(client, boss, accounts):
    b = accounts()
    assert client.delete(f"/users/{b.id}", headers=boss.headers).status_code == 204
    problem(client.delete(f"/users/{b.id}", headers=boss.headers), 404)


# ---- the user cache ----------------------------------------------------------------------------


def test_a_read_fills_the_cache_and_a_change_leaves_no_stale_copy(client, boss, accounts, redis):
    # Given a member read once by the admin
    member = accounts()
    key = f"user:{member.id}"
    redis.delete(key)
    user_of(read(client, boss, member.id))
    # Then its public view is cached for a while
    assert redis.exists(key)
    assert 0 < redis.ttl(key) <= 300
    assert '"name":"T"' in redis.get(key)
    # When the admin changes it
    patched = client.patch(f"/users/{member.id}", json={"name": "Grace"}, headers=boss.headers)
    assert user_of(patched)["name"] == "Grace"
    # Then the cached copy is gone (or already the new one), and a read shows the change
    cached = redis.get(key)
    assert cached in (None, "-") or '"name":"Grace"' in cached  # "-": a short-lived tombstone
    assert user_of(read(client, boss, member.id))["name"] == "Grace"


def test_deleting_a_user_drops_its_cached_copy(client, boss, accounts, redis):
    member = accounts()
    user_of(read(client, boss, member.id))
    assert redis.exists(f"user:{member.id}")
    assert client.delete(f"/users/{member.id}", headers=member.headers).status_code == 204
    assert redis.get(f"user:{member.id}") in (None, "-")  # gone, or a tombstone


# ---- reactivation ------------------------------------------------------------------------------


def _deactivate_then_reactivate(client, boss, accounts, redis, *, version_expired: bool):
    # Given a member deactivated by the admin, whose old token is then presented
    b = accounts()
    old_token = b.access_token
    off = client.patch(f"/users/{b.id}", json={"is_active": False}, headers=boss.headers)
    assert user_of(off)["is_active"] is False
    if version_expired:
        # The published token version lives 15 minutes (or Redis lost it): the authorizer
        # then recovers the revocation from Postgres
        redis.delete(f"auth:ver:{b.id}")
    problem(client.get("/auth/me", headers=bearer(old_token)), 401)
    # When the admin reactivates it and it logs in again
    on = client.patch(f"/users/{b.id}", json={"is_active": True}, headers=boss.headers)
    assert user_of(on)["is_active"] is True
    relogin(client, b)
    # Then its new token works, and the old one stays dead
    me = client.get("/auth/me", headers=b.headers)
    assert me.status_code == 200, me.text
    assert user_of(client.get(f"/users/{b.id}", headers=b.headers))["is_active"] is True
    problem(client.get("/auth/me", headers=bearer(old_token)), 401)


def test_a_reactivated_user_can_use_the_api_again(client, boss, accounts, redis):
    _deactivate_then_reactivate(client, boss, accounts, redis, version_expired=False)


def test_a_reactivated_user_can_use_the_api_again_once_the_published_version_expired(
    client, boss, accounts, redis
):
    _deactivate_then_reactivate(client, boss, accounts, redis, version_expired=True)
