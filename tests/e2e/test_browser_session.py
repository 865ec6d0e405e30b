"""Browser session mode, end to end (the contract's "Browser session mode"): with
``X-Session-Mode: cookie`` the refresh token lives only in an HttpOnly cookie scoped to /auth,
and only a request carrying that header can use it. The real-services stack, over HTTP.

The client here is httpx without a cookie jar of its own: each test passes the cookie exactly as
a browser would (a browser sends it to /auth/* of the same site only), so what is asserted is
what the server does with it.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx
import pytest

from tests.support.api import PASSWORD, bearer, sign_up

pytestmark = pytest.mark.e2e

COOKIE_MODE = {"X-Session-Mode": "cookie"}
COOKIE = "stratus_refresh"
THIRTY_DAYS = 30 * 24 * 3600


def set_cookie(response: httpx.Response) -> tuple[str, dict[str, str | bool]]:
    """The refresh cookie the response sets: its value and its attributes (lower-cased)."""
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    parsed = SimpleCookie()
    parsed.load(headers[0])
    assert COOKIE in parsed, headers[0]
    morsel = parsed[COOKIE]
    flags = {part.strip().lower() for part in headers[0].split(";")[1:]}
    attributes: dict[str, str | bool] = {k: v for k, v in morsel.items() if v}
    attributes["httponly"] = "httponly" in flags
    attributes["secure"] = "secure" in flags
    return morsel.value, attributes


def cookie_login(client: httpx.Client, email: str) -> httpx.Response:
    return client.post(
        "/auth/login", json={"email": email, "password": PASSWORD}, headers=COOKIE_MODE
    )


def with_cookie(token: str, **headers: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={token}", **headers}


def test_login_in_cookie_mode_sets_the_cookie_and_keeps_the_token_out_of_the_body(client):
    # Given an account
    account = sign_up(client)
    # When the browser logs in in cookie mode
    response = cookie_login(client, account.email)
    # Then the body has the access token and no refresh token at all
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    # And the refresh token is in a cookie no script can read, sent to /auth only, same site only
    token, attributes = set_cookie(response)
    assert len(token) >= 40
    assert token not in response.text
    assert attributes["httponly"] is True
    assert attributes["secure"] is True
    assert str(attributes["samesite"]).lower() == "strict"
    assert attributes["path"] == "/auth"
    assert attributes["max-age"] == str(THIRTY_DAYS)
    assert "domain" not in attributes  # host-only
    # And the access token works
    assert client.get("/auth/me", headers=bearer(body["access_token"])).status_code == 200


def test_the_json_flow_is_unchanged_and_sets_no_cookie(client):
    account = sign_up(client)
    response = client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert "set-cookie" not in response.headers


def test_refresh_by_cookie_rotates_it_and_spends_the_old_one(client):
    account = sign_up(client)
    first, _ = set_cookie(cookie_login(client, account.email))
    # When the browser refreshes with the cookie and the header, and no body
    response = client.post("/auth/refresh", headers=with_cookie(first, **COOKIE_MODE))
    # Then it gets a new access token, and a new refresh token in the cookie only
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"access_token", "token_type", "expires_in"}
    second, attributes = set_cookie(response)
    assert second != first
    assert attributes["httponly"] is True and attributes["path"] == "/auth"
    me = client.get("/auth/me", headers=bearer(response.json()["access_token"]))
    assert me.json()["email"] == account.email
    # And the old cookie is spent: presenting it again fails, clears the cookie and revokes the
    # family (the newest cookie fails too)
    replay = client.post("/auth/refresh", headers=with_cookie(first, **COOKIE_MODE))
    assert replay.status_code == 401
    assert replay.headers["www-authenticate"] == "Bearer"
    cleared, attributes = set_cookie(replay)
    assert cleared == ""
    assert attributes["max-age"] == "0"
    assert client.post("/auth/refresh", headers=with_cookie(second, **COOKIE_MODE)).status_code == (
        401
    )


def test_a_cross_site_request_without_the_header_cannot_refresh_with_the_cookie(client):
    # Given a browser holding a valid refresh cookie
    account = sign_up(client)
    token, _ = set_cookie(cookie_login(client, account.email))
    # When a cross-site form posts to /auth/refresh: it can carry cookies, never the header
    forged = client.post(
        "/auth/refresh",
        headers=with_cookie(token, **{"Content-Type": "application/x-www-form-urlencoded"}),
        content=b"refresh_token=x",
    )
    # Then it is refused, no token is issued and no cookie is set
    assert forged.status_code == 422, forged.text
    assert "access_token" not in forged.text
    assert "set-cookie" not in forged.headers
    # And the same with no body at all, or with a JSON body naming no token
    bare = client.post("/auth/refresh", headers=with_cookie(token))
    assert bare.status_code == 401  # no token presented (the cookie is not read without the header)
    assert "set-cookie" not in bare.headers
    # And the cookie was not spent by either: the real page can still refresh with it
    assert client.post("/auth/refresh", headers=with_cookie(token, **COOKIE_MODE)).status_code == (
        200
    )


def test_cookie_mode_reads_the_cookie_only_never_the_body(client):
    account = sign_up(client)
    json_pair = client.post(
        "/auth/login", json={"email": account.email, "password": PASSWORD}
    ).json()
    # A refresh token in the body is not what cookie mode reads: without the cookie, 401
    response = client.post(
        "/auth/refresh", json={"refresh_token": json_pair["refresh_token"]}, headers=COOKIE_MODE
    )
    assert response.status_code == 401
    # and the JSON flow's token was not spent by that
    again = client.post("/auth/refresh", json={"refresh_token": json_pair["refresh_token"]})
    assert again.status_code == 200


def test_an_unknown_session_mode_is_a_validation_problem(client):
    response = client.post(
        "/auth/login",
        json={"email": "nobody@example.com", "password": PASSWORD},
        headers={"X-Session-Mode": "jar"},
    )
    assert response.status_code == 422
    assert "X-Session-Mode" in str(response.json()["errors"])


def test_logout_in_cookie_mode_revokes_the_cookie_and_clears_it(client):
    account = sign_up(client)
    login = cookie_login(client, account.email)
    token, _ = set_cookie(login)
    access = login.json()["access_token"]
    # When the browser logs out in cookie mode
    response = client.post(
        "/auth/logout", headers=with_cookie(token, **COOKIE_MODE, **bearer(access))
    )
    # Then the cookie is cleared with the same scope it was set with
    assert response.status_code == 204
    cleared, attributes = set_cookie(response)
    assert cleared == ""
    assert attributes["max-age"] == "0"
    assert attributes["path"] == "/auth"
    # And both the access token and the refresh cookie stop working
    assert client.get("/auth/me", headers=bearer(access)).status_code == 401
    assert client.post("/auth/refresh", headers=with_cookie(token, **COOKIE_MODE)).status_code == (
        401
    )


def test_logout_without_the_header_leaves_the_cookie_alone(client):
    account = sign_up(client)
    login = cookie_login(client, account.email)
    token, _ = set_cookie(login)
    response = client.post(
        "/auth/logout", headers=with_cookie(token, **bearer(login.json()["access_token"]))
    )
    assert response.status_code == 204
    assert "set-cookie" not in response.headers
    # the cookie's family was not revoked: the header is what names the cookie
    assert client.post("/auth/refresh", headers=with_cookie(token, **COOKIE_MODE)).status_code == (
        200
    )
