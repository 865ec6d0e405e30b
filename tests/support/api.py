"""A client's view of the API for end-to-end tests: accounts, tokens, headers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@stratus.test"
ADMIN_PASSWORD = "admin password for tests"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    """A registered, logged-in user as a client holds it."""

    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def login(api: httpx.Client, email: str, password: str) -> httpx.Response:
    return api.post("/auth/login", json={"email": email, "password": password})


def sign_up(api: httpx.Client, *, email: str | None = None, password: str = PASSWORD) -> Account:
    """Register a new member and log it in."""
    email = email or unique_email()
    created = api.post("/auth/register", json={"email": email, "password": password, "name": "T"})
    assert created.status_code == 201, created.text
    tokens = login(api, email, password)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(
        created.json()["id"], email, password, body["access_token"], body["refresh_token"]
    )


def admin(api: httpx.Client) -> Account:
    """The bootstrap admin (``ADMIN_EMAIL`` / ``ADMIN_PASSWORD`` of the runner), logged in."""
    tokens = login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    me = api.get("/auth/me", headers=bearer(body["access_token"])).json()
    return Account(
        me["id"], ADMIN_EMAIL, ADMIN_PASSWORD, body["access_token"], body["refresh_token"]
    )


def with_role(api: httpx.Client, role: str) -> Account:
    """A fresh account with ``role`` (set by the admin), logged in again to carry it."""
    account = sign_up(api)
    if role != "member":
        changed = api.patch(f"/users/{account.id}", json={"role": role}, headers=admin(api).headers)
        assert changed.status_code == 200, changed.text
        body = login(api, account.email, account.password).json()
        account.access_token, account.refresh_token = body["access_token"], body["refresh_token"]
    return account
