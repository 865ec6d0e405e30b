"""Hostile input through the runner on real Postgres and Redis: bytes that are not text and
lax types are 422 problems, and nothing of them reaches the database."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.api import PASSWORD, admin, sign_up, unique_email

pytestmark = pytest.mark.e2e


def problem_422(response: httpx.Response) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail", "request_id", "errors"} <= set(body)
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_a_nul_in_logins_email_is_422_unauthenticated(client):
    body = problem_422(client.post("/auth/login", json={"email": "a\u0000@b.c", "password": "x"}))
    assert [e["loc"] for e in body["errors"]] == [["body", "email"]]


def test_a_body_that_is_not_utf8_is_refused_and_nothing_is_stored(client):
    email = unique_email("latin1")
    raw = f'{{"email": "{email}", "password": "{PASSWORD}", "name": "Ren\xe9"}}'.encode("latin-1")
    sent = client.post("/auth/register", content=raw, headers={"Content-Type": "application/json"})
    assert [e["loc"] for e in problem_422(sent)["errors"]] == [["body"]]
    # nothing was stored with U+FFFD: the address is still free
    assert sign_up(client, email=email).email == email


def test_a_query_that_is_not_utf8_or_holds_nul_is_422(client):
    member = sign_up(client)
    for raw in ("cursor=%FF", "cursor=a%00b", "limit=1&%00=x"):
        problem_422(client.get(f"/documents?{raw}", headers=member.headers))


def test_is_active_0_is_refused_and_the_account_stays_active(client):
    root = admin(client)
    member = sign_up(client)
    refused = client.patch(f"/users/{member.id}", json={"is_active": 0}, headers=root.headers)
    assert [e["loc"] for e in problem_422(refused)["errors"]] == [["body", "is_active"]]
    assert client.get(f"/users/{member.id}", headers=root.headers).json()["is_active"] is True
    assert client.get("/auth/me", headers=member.headers).status_code == 200


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW"])
def test_a_method_the_gateway_does_not_serve_is_a_problem_not_html(client, method):
    import socket

    # raw: an HTTP client would refuse to send some of these as they are
    host, port = client.base_url.host, client.base_url.port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"{method} /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        raw = b""
        while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    assert status_line.split()[1] == "501", raw
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 501
    assert problem["request_id"] == headers["x-request-id"]
    assert "GET" in headers["allow"]
    assert b"<html" not in raw.lower()
