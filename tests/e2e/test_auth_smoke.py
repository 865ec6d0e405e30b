"""The auth happy path through the runner on real Postgres and Redis (the rules and attacks
have their own files)."""

from __future__ import annotations

import pytest

from tests.support.api import admin, sign_up

pytestmark = pytest.mark.e2e


def test_register_login_me(client):
    account = sign_up(client)
    me = client.get("/auth/me", headers=account.headers)
    assert me.status_code == 200
    assert me.json()["email"] == account.email
    assert me.json()["role"] == "member"


def test_the_bootstrap_admin_exists_and_can_list_users(client):
    boss = admin(client)
    assert client.get("/auth/me", headers=boss.headers).json()["role"] == "admin"
    response = client.get("/users", headers=boss.headers)
    assert response.status_code == 200
    assert response.json()["items"]
