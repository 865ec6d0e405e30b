"""The Auth service contract, end to end: the runner on real Postgres and Redis, over HTTP.

Every rule of "Auth service" in the API contract but the password-reset pair. Each test looks at
what a client sees (status, problem body, headers) and at what is left behind (can the account
still log in, is the email free again, ...).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import jwt
import pytest

from tests.support.api import PASSWORD, admin, bearer, login, sign_up, unique_email

pytestmark = pytest.mark.e2e

USER_FIELDS = {"id", "email", "name", "role", "is_active", "created_at", "updated_at"}
PROBLEM_FIELDS = {"type", "title", "status", "detail", "request_id"}
TOKEN_PAIR_FIELDS = {"access_token", "refresh_token", "token_type", "expires_in"}
NEW_PASSWORD = "a brand new passphrase, long enough"


# ---- helpers -----------------------------------------------------------------------------------


def assert_problem(response: httpx.Response, status: int) -> dict:
    """An RFC 9457 problem of ``status``, shaped as the contract says; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) - {"errors"} == PROBLEM_FIELDS, body
    assert body["status"] == status
    assert isinstance(body["type"], str)
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def assert_unauthorized(response: httpx.Response) -> dict:
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    return body


def assert_validation_problem(response: httpx.Response, field: str) -> None:
    body = assert_problem(response, 422)
    assert body["errors"], body
    for error in body["errors"]:
        assert isinstance(error["loc"], list)
        assert isinstance(error["msg"], str)
        assert error["msg"]
    assert any(field in error["loc"] for error in body["errors"]), body["errors"]


def assert_utc_timestamp(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    assert value.endswith(("Z", "+00:00")), value
    return parsed


def register(client: httpx.Client, email: str, password: str = PASSWORD, **extra):
    body = {"email": email, "password": password, "name": "Ada", **extra}
    return client.post("/auth/register", json=body)


def refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    return client.post("/auth/refresh", json={"refresh_token": refresh_token})


def me(client: httpx.Client, access_token: str) -> httpx.Response:
    return client.get("/auth/me", headers=bearer(access_token))


def deactivate(client: httpx.Client, user_id: str) -> None:
    response = client.patch(
        f"/users/{user_id}", json={"is_active": False}, headers=admin(client).headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False


# ---- register ----------------------------------------------------------------------------------


def test_register_returns_the_public_user_as_a_member(client):
    # Given a fresh email
    email = unique_email("reg")

    # When it registers
    response = register(client, email)

    # Then 201 with exactly the User fields: no hash, no token version, nothing internal
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    user = response.json()
    assert set(user) == USER_FIELDS
    assert uuid.UUID(user["id"])
    assert user["email"] == email
    assert user["name"] == "Ada"
    assert user["role"] == "member"
    assert user["is_active"] is True
    created = assert_utc_timestamp(user["created_at"])
    updated = assert_utc_timestamp(user["updated_at"])
    assert abs(updated - created) < timedelta(seconds=5)
    # And the account exists: it can log in
    assert login(client, email, PASSWORD).status_code == 200


def test_register_trims_and_lower_cases_the_email(client):
    # Given an email with surrounding spaces and capitals
    local = f"ada-{uuid.uuid4().hex[:10]}"
    sent = f"  {local.capitalize()}@Example.COM "

    # When it registers
    response = register(client, sent)

    # Then the account holds the normalized email, and logging in with either form works
    assert response.status_code == 201, response.text
    assert response.json()["email"] == f"{local}@example.com"
    assert login(client, f"{local}@example.com", PASSWORD).status_code == 200
    assert login(client, sent, PASSWORD).status_code == 200


@pytest.mark.parametrize("email", ["not-an-email", "ada@", "@example.com", "ada example@x.io", ""])
def test_register_refuses_an_invalid_email(client, email):
    # When an invalid email registers
    response = register(client, email)

    # Then 422, with an error entry that points at the email
    assert_validation_problem(response, "email")


@pytest.mark.parametrize("length", [11, 129])
def test_register_refuses_a_password_out_of_bounds(client, length):
    # Given a password one character outside 12-128
    email = unique_email("pw")

    # When it registers with it
    response = register(client, email, "p" * length)

    # Then 422 on the password, and no account was created: the email is still free
    assert_validation_problem(response, "password")
    assert register(client, email).status_code == 201


@pytest.mark.parametrize("length", [12, 128])
def test_register_accepts_a_password_at_the_bounds(client, length):
    # Given a password of exactly 12 or 128 characters
    email, password = unique_email("pw"), "p" * length

    # When it registers with it
    response = register(client, email, password)

    # Then 201, and that password logs in
    assert response.status_code == 201, response.text
    assert login(client, email, password).status_code == 200


@pytest.mark.parametrize("variant", [str, str.upper, lambda e: f"  {e.title()} "])
def test_register_refuses_a_taken_email_whatever_its_case(client, variant):
    # Given an account
    email = unique_email("taken")
    assert register(client, email).status_code == 201

    # When the same email registers again (as sent, upper-cased, padded and capitalized)
    response = register(client, variant(email), "another password entirely")

    # Then 409, and the first account is untouched: its password still logs in, the other not
    assert_problem(response, 409)
    assert login(client, email, PASSWORD).status_code == 200
    assert login(client, email, "another password entirely").status_code == 401


def test_register_refuses_an_unknown_field(client):
    # When a registration carries a field the contract does not know
    email = unique_email("extra")
    response = register(client, email, role="admin")

    # Then 422 pointing at that field, and no account was created
    assert_validation_problem(response, "role")
    assert register(client, email).status_code == 201


def test_register_refuses_a_missing_field(client):
    # When a registration has no name
    response = client.post(
        "/auth/register", json={"email": unique_email("noname"), "password": PASSWORD}
    )

    # Then 422 pointing at the name
    assert_validation_problem(response, "name")


# ---- login -------------------------------------------------------------------------------------


def test_login_returns_a_bearer_token_pair(client):
    # Given an account
    account = sign_up(client)

    # When it logs in
    response = login(client, account.email, account.password)

    # Then a TokenPair: Bearer, 15 minutes, an access token that works and says who it is
    assert response.status_code == 200, response.text
    pair = response.json()
    assert set(pair) == TOKEN_PAIR_FIELDS
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == 900
    assert pair["refresh_token"] != pair["access_token"]
    header = jwt.get_unverified_header(pair["access_token"])
    assert header["alg"] == "HS256"
    assert header["kid"]
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["sub"] == account.id
    assert claims["role"] == "member"
    assert claims["iss"] == "stratus"
    assert claims["aud"] == "stratus-api"
    assert claims["ver"] == 0
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]
    assert me(client, pair["access_token"]).json()["id"] == account.id


def test_unknown_email_wrong_password_and_deactivated_account_look_the_same(client):
    # Given an active account and a deactivated one
    active = sign_up(client)
    inactive = sign_up(client)
    deactivate(client, inactive.id)

    # When each failure mode tries to log in
    responses = [
        login(client, unique_email("nobody"), PASSWORD),
        login(client, active.email, "not the right password"),
        login(client, inactive.email, inactive.password),
    ]

    # Then all get the same 401 problem, but for the request id, with WWW-Authenticate
    bodies = [assert_unauthorized(r) for r in responses]
    for body in bodies:
        body.pop("request_id")
    assert bodies[0] == bodies[1] == bodies[2]
    assert len({r.headers["x-request-id"] for r in responses}) == 3


def test_five_failed_logins_block_that_email_even_with_the_right_password(client):
    # Given an account and another one
    account, other = sign_up(client), sign_up(client)

    # When five wrong passwords are tried for it
    failures = [login(client, account.email, f"wrong password {i}") for i in range(5)]

    # Then each is a plain 401, and the sixth attempt, with the right password, is 429
    for response in failures:
        assert_unauthorized(response)
    blocked = login(client, account.email, account.password)
    assert_problem(blocked, 429)
    assert int(blocked.headers["retry-after"]) >= 1
    # And also in another case: the block is per normalized email
    assert login(client, f" {account.email.upper()}", account.password).status_code == 429
    # And another email is not affected
    assert login(client, other.email, other.password).status_code == 200


# ---- refresh -----------------------------------------------------------------------------------


def test_refresh_returns_a_new_pair_and_a_new_refresh_token(client):
    # Given a session
    account = sign_up(client)

    # When its refresh token is exchanged
    response = refresh(client, account.refresh_token)

    # Then a new TokenPair with a different refresh token, whose access token works
    assert response.status_code == 200, response.text
    pair = response.json()
    assert set(pair) == TOKEN_PAIR_FIELDS
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == 900
    assert pair["refresh_token"] != account.refresh_token
    assert pair["access_token"] != account.access_token
    assert me(client, pair["access_token"]).json()["id"] == account.id
    # And the new refresh token is good for one more rotation
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_a_replayed_refresh_token_revokes_its_whole_family(client):
    # Given a session whose refresh token was rotated once
    account = sign_up(client)
    newest = refresh(client, account.refresh_token).json()["refresh_token"]

    # When the spent refresh token is presented again
    replay = refresh(client, account.refresh_token)

    # Then 401, and the newest refresh token of that family fails too
    assert_unauthorized(replay)
    assert_unauthorized(refresh(client, newest))
    # And another session (a separate login) keeps working
    other = login(client, account.email, account.password).json()
    assert refresh(client, other["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    "token", ["garbage", "x" * 512, str(uuid.uuid4())], ids=["garbage", "long", "uuid"]
)
def test_an_unknown_refresh_token_is_401(client, token):
    # When a refresh token that was never issued is presented
    response = refresh(client, token)

    # Then 401
    assert_unauthorized(response)


def test_an_empty_or_missing_refresh_token_is_422(client):
    # When the body has an empty refresh token, or none
    # Then 422
    assert_validation_problem(refresh(client, ""), "refresh_token")
    assert_validation_problem(client.post("/auth/refresh", json={}), "refresh_token")


def test_the_refresh_token_of_a_deactivated_user_is_401(client):
    # Given a session of a user that an admin then deactivates
    account = sign_up(client)
    deactivate(client, account.id)

    # When its refresh token is exchanged
    response = refresh(client, account.refresh_token)

    # Then 401
    assert_unauthorized(response)


# ---- logout ------------------------------------------------------------------------------------


def test_logout_ends_that_session_only(client):
    # Given two sessions of one user
    account = sign_up(client)
    second = login(client, account.email, account.password).json()

    # When the first logs out with its refresh token
    response = client.post(
        "/auth/logout", json={"refresh_token": account.refresh_token}, headers=account.headers
    )

    # Then 204, its access token is refused everywhere, its refresh token's family is revoked
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_unauthorized(me(client, account.access_token))
    assert_unauthorized(client.get(f"/users/{account.id}", headers=account.headers))
    assert_unauthorized(refresh(client, account.refresh_token))
    # And the second session still works
    assert me(client, second["access_token"]).status_code == 200
    assert refresh(client, second["refresh_token"]).status_code == 200


def test_logout_revokes_the_refresh_family_even_after_rotation(client):
    # Given a session whose refresh token was rotated once
    account = sign_up(client)
    rotated = refresh(client, account.refresh_token).json()

    # When it logs out with the rotated refresh token
    response = client.post(
        "/auth/logout",
        json={"refresh_token": rotated["refresh_token"]},
        headers=bearer(rotated["access_token"]),
    )

    # Then 204 and that refresh token can no longer be exchanged
    assert response.status_code == 204, response.text
    assert_unauthorized(refresh(client, rotated["refresh_token"]))


def test_logout_without_a_body_revokes_the_access_token(client):
    # Given a session
    account = sign_up(client)

    # When it logs out without a body
    response = client.post("/auth/logout", headers=account.headers)

    # Then 204 and the access token is refused from then on
    assert response.status_code == 204, response.text
    assert_unauthorized(me(client, account.access_token))


def test_logout_with_someone_elses_refresh_token_does_not_revoke_it(client):
    # Given two users
    alice, mallory = sign_up(client), sign_up(client)

    # When Mallory logs out presenting Alice's refresh token
    response = client.post(
        "/auth/logout", json={"refresh_token": alice.refresh_token}, headers=mallory.headers
    )

    # Then Mallory's session ends, but Alice's refresh token still works
    assert response.status_code == 204, response.text
    assert_unauthorized(me(client, mallory.access_token))
    assert refresh(client, alice.refresh_token).status_code == 200


def test_logout_needs_a_token(client):
    # When logout is called without a bearer token
    # Then 401
    assert_unauthorized(client.post("/auth/logout"))


# ---- me ----------------------------------------------------------------------------------------


def test_me_returns_the_callers_public_user(client):
    # Given a session
    account = sign_up(client)

    # When it asks who it is
    response = me(client, account.access_token)

    # Then 200 User, exactly the public fields
    assert response.status_code == 200, response.text
    user = response.json()
    assert set(user) == USER_FIELDS
    assert user["id"] == account.id
    assert user["email"] == account.email
    assert user["role"] == "member"
    assert user["is_active"] is True
    assert_utc_timestamp(user["created_at"])
    assert_utc_timestamp(user["updated_at"])


def test_me_without_a_token_is_401(client):
    # When /auth/me is called without Authorization
    response = client.get("/auth/me")

    # Then 401 with WWW-Authenticate: Bearer
    assert_unauthorized(response)


# ---- password change ---------------------------------------------------------------------------


def change_password(client: httpx.Client, account, current: str, new: str) -> httpx.Response:
    return client.post(
        "/auth/password",
        json={"current_password": current, "new_password": new},
        headers=account.headers,
    )


def test_password_change_with_a_wrong_current_password_is_403_and_changes_nothing(client):
    # Given a session
    account = sign_up(client)

    # When it changes the password giving a wrong current one
    response = change_password(client, account, "not the current password", NEW_PASSWORD)

    # Then 403, the session still works, the old password still logs in, the new one not
    assert_problem(response, 403)
    assert me(client, account.access_token).status_code == 200
    assert login(client, account.email, NEW_PASSWORD).status_code == 401
    assert login(client, account.email, account.password).status_code == 200


def test_password_change_to_a_too_short_password_is_422(client):
    # Given a session
    account = sign_up(client)

    # When the new password is 11 characters
    response = change_password(client, account, account.password, "p" * 11)

    # Then 422 on the new password, and the old password still logs in
    assert_validation_problem(response, "new_password")
    assert login(client, account.email, account.password).status_code == 200


def test_password_change_revokes_every_session(client):
    # Given two sessions of one user
    account = sign_up(client)
    second = login(client, account.email, account.password).json()

    # When it changes its password
    response = change_password(client, account, account.password, NEW_PASSWORD)

    # Then 204, and every old access and refresh token is refused
    assert response.status_code == 204, response.text
    assert_unauthorized(me(client, account.access_token))
    assert_unauthorized(me(client, second["access_token"]))
    assert_unauthorized(refresh(client, account.refresh_token))
    assert_unauthorized(refresh(client, second["refresh_token"]))
    # And the old password no longer logs in, the new one does, and its session works
    assert_unauthorized(login(client, account.email, account.password))
    fresh = login(client, account.email, NEW_PASSWORD)
    assert fresh.status_code == 200, fresh.text
    assert me(client, fresh.json()["access_token"]).status_code == 200


# ---- revocation on deactivation and deletion ---------------------------------------------------


def test_deactivation_revokes_the_users_access_token_at_once(client):
    # Given a session that works
    account = sign_up(client)
    assert me(client, account.access_token).status_code == 200

    # When an admin deactivates the user
    deactivate(client, account.id)

    # Then its access token is refused on the very next request
    assert_unauthorized(me(client, account.access_token))


def test_deletion_by_an_admin_revokes_the_session_and_frees_the_email(client):
    # Given a session that works
    account = sign_up(client)
    assert me(client, account.access_token).status_code == 200
    boss = admin(client)

    # When an admin deletes the user
    response = client.delete(f"/users/{account.id}", headers=boss.headers)

    # Then 204, its access token is refused at once, its refresh token too, the account is gone
    assert response.status_code == 204, response.text
    assert_unauthorized(me(client, account.access_token))
    assert_unauthorized(refresh(client, account.refresh_token))
    assert_problem(client.get(f"/users/{account.id}", headers=boss.headers), 404)
    assert_unauthorized(login(client, account.email, account.password))
    # And the email can register again, as a new user
    again = register(client, account.email)
    assert again.status_code == 201, again.text
    assert again.json()["id"] != account.id


def test_deletion_by_oneself_revokes_the_session_and_frees_the_email(client):
    # Given a session that works
    account = sign_up(client)

    # When the user deletes itself
    response = client.delete(f"/users/{account.id}", headers=account.headers)

    # Then 204, the very token that deleted it is refused, and the email is free again
    assert response.status_code == 204, response.text
    assert_unauthorized(me(client, account.access_token))
    assert_unauthorized(login(client, account.email, account.password))
    again = register(client, account.email)
    assert again.status_code == 201, again.text
    # And the new account's session works while the old token stays refused
    fresh = login(client, account.email, PASSWORD).json()
    assert me(client, fresh["access_token"]).json()["id"] == again.json()["id"]
    assert_unauthorized(me(client, account.access_token))
