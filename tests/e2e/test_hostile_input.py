"""Hostile input through the runner on real Postgres and Redis: bytes that are not text and
lax types are 422 problems, and nothing of them reaches the database; methods no route has are
405 problems; and schema fuzzing.

Schema fuzzing: schemathesis against the runner's OpenAPI document (docs/openapi.json), as a
member and as an admin at once, with every phase (examples, coverage, fuzzing, stateful) and
every check but one (why: tests/e2e/schemathesis.toml). Zero failures: a 500 anywhere is a bug
to fix. Bounded for the default suite (``FUZZ_SECONDS``, 8 s); ``make fuzz`` runs the full form
(``FUZZ_SECONDS=300``, a viewer too). Every log line of the session so far is then scanned for
secrets (``tests.support.log_scan``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.api import PASSWORD, admin, sign_up, unique_email, with_role
from tests.support.log_scan import leaks

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
    assert status_line.split()[1] == "405", raw
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 405
    assert problem["request_id"] == headers["x-request-id"]
    assert headers["allow"] == "GET"  # what /health has
    assert b"<html" not in raw.lower()


# ---- schema fuzzing ----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "openapi.json"
CONFIG = Path(__file__).with_name("schemathesis.toml")
SECONDS = int(os.environ.get("FUZZ_SECONDS", "8"))
#: Why: tests/e2e/schemathesis.toml (API Gateway answers a wrong method with 404).
EXCLUDED_CHECKS = "unsupported_method"
#: The viewer too in the full form (``make fuzz``).
ROLES = os.environ.get("FUZZ_ROLES", "member,admin").split(",")
PHASES = "examples,coverage,fuzzing,stateful"


def schemathesis(url: str, token: str, report: Path) -> subprocess.Popen[str]:
    """``schemathesis run`` of the whole document as the bearer of ``token``, started."""
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(CONFIG),
        "run",
        str(SCHEMA),
        "--url",
        url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--phases",
        PHASES,
        "--max-time",
        str(SECONDS),
        "--workers",
        "1",
        "--seed",
        os.environ.get("FUZZ_SEED", "1"),
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        "--warnings",
        "off",
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def test_schemathesis_finds_nothing(stack, client: httpx.Client, tmp_path):
    # Given a user of each role, with a document of its own when it may have one (something
    # for the links to follow)
    tokens = {}
    for role in ROLES:
        account = admin(client) if role == "admin" else with_role(client, role)
        if role != "viewer":
            created = client.post(
                "/documents/text", json={"title": "Fuzz", "text": "Seed."}, headers=account.headers
            )
            assert created.status_code == 201, created.text
        tokens[role] = account.access_token
    # When schemathesis runs every phase and check against the runner as each, all at once
    runs = {
        role: schemathesis(stack.url, token, tmp_path / f"junit-{role}.xml")
        for role, token in tokens.items()
    }
    outputs = {}
    for role, run in runs.items():
        outputs[role] = run.communicate(timeout=SECONDS * 4 + 120)[0]
    # Then none found anything
    failed = {role: outputs[role][-20000:] for role, run in runs.items() if run.returncode}
    assert not failed, "\n\n".join(f"---- as {role}:\n{out}" for role, out in failed.items())


def test_no_log_line_of_the_run_so_far_leaks_a_secret(log_scan):
    # Every log line of the e2e session up to here (this module's fuzzing included): this
    # process's, and the function logs its runners' functions wrote from their own processes
    lines = log_scan.everything()
    assert lines, "the log collector saw nothing: it is not collecting"
    assert leaks(lines) == []
