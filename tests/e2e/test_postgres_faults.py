"""Postgres faults under real traffic, through the local runner on its own database (created
for this module, dropped after: only its backends are ever terminated) and real Redis.

A pooled connection whose backend was terminated (``pg_terminate_backend``, as a failover or an
idle-timeout would) makes the next statement fail with a disconnect: the request runs once more
on a fresh connection (``shared.platform.db.retryable``), so the client sees its answer, not a
500; a disconnect the request cannot be repeated after (during its commit) is a 503 problem.
Each test asserts the statuses seen, what Postgres holds afterwards, and that every document
ends ``ready`` or ``failed``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from functions.registry import discover
from local.runner import LocalRunner, RunnerConfig
from tests.e2e.conftest import start_runner
from tests.support.api import PASSWORD, Account, login, sign_up, unique_email
from tests.support.services import fresh_database

pytestmark = pytest.mark.e2e

NOTE = "The harbour committee met on Tuesday and agreed the pier repairs start in spring. " * 8


@pytest.fixture(scope="module")
def own_database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="module")
def system(request, tmp_path_factory, own_database) -> Iterator[LocalRunner]:
    config = RunnerConfig(
        port=0,
        state_dir=tmp_path_factory.mktemp("pg-faults"),
        database_url=own_database,
        redis_url=request.getfixturevalue("redis_url"),
        schedules=False,
        function_env={
            "RATE_LIMIT_PER_MINUTE": "100000",
            **request.getfixturevalue("vector_env"),
        },
    )
    runner = start_runner(discover(), config)
    yield runner
    runner.stop()


@pytest.fixture
def client(system) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.url, timeout=30) as http:
        yield http


def terminate_backends(url: str) -> int:
    """Terminate every other backend of this module's own database; how many."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def rows(url: str, sql: str, **params: object) -> list[tuple]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def settle(client: httpx.Client, account: Account, ids: list[str], timeout: float = 30) -> dict:
    """Each document's final status (ready or failed), waiting for the ingest worker."""
    deadline = time.monotonic() + timeout
    final: dict[str, str] = {}
    while time.monotonic() < deadline and len(final) < len(ids):
        for document_id in ids:
            if document_id in final:
                continue
            got = client.get(f"/documents/{document_id}", headers=account.headers)
            assert got.status_code == 200, got.text
            if got.json()["status"] in ("ready", "failed"):
                final[document_id] = got.json()["status"]
        time.sleep(0.2)
    return {document_id: final.get(document_id, "stuck") for document_id in ids}


def test_a_request_on_a_dead_pooled_connection_is_answered_not_500(client, own_database):
    # Given a member whose requests have filled the pool with connections
    account = sign_up(client)
    assert client.get("/documents", headers=account.headers).status_code == 200
    # When every backend of the database is terminated under the idle pool
    assert terminate_backends(own_database) >= 1
    # Then the next read (a query, not a cached answer) is answered as if nothing happened
    listed = client.get("/documents", headers=account.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == []
    # And so is the next write, applied once
    assert terminate_backends(own_database) >= 1
    title = f"after the failover {uuid.uuid4().hex[:6]}"
    created = client.post(
        "/documents/text", json={"title": title, "text": NOTE}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    assert rows(own_database, "SELECT id FROM documents WHERE title = :t", t=title) == [  # once
        (uuid.UUID(created.json()["id"]),)
    ]
    # And a sign-up (public route, a write) is answered too, and its account works
    assert terminate_backends(own_database) >= 1
    email = unique_email("failover")
    registered = client.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "name": "F"}
    )
    assert registered.status_code == 201, registered.text
    assert login(client, email, PASSWORD).status_code == 200
    # And the document is ingested: the worker's connection died too
    assert settle(client, account, [created.json()["id"]]) == {created.json()["id"]: "ready"}


def test_backends_terminated_mid_traffic_never_give_a_500(client, own_database):
    # Given members uploading, reading and searching, and new people signing up, at once
    owners = [sign_up(client) for _ in range(2)]
    statuses: Counter[int] = Counter()
    documents: dict[str, Account] = {}
    registered: dict[str, int] = {}
    unavailable: list[httpx.Response] = []
    lock = threading.Lock()
    stop = threading.Event()

    def traffic(owner: Account, n: int) -> None:
        with httpx.Client(base_url=client.base_url, timeout=30) as http:
            i = 0
            while not stop.is_set():
                i += 1
                made = http.post(
                    "/documents/text",
                    json={"title": f"note {n}-{i}", "text": NOTE},
                    headers=owner.headers,
                )
                got = http.get("/documents?limit=5", headers=owner.headers)
                found = http.post("/search", json={"query": "pier repairs"}, headers=owner.headers)
                email = unique_email(f"mid{n}")
                joined = http.post(
                    "/auth/register", json={"email": email, "password": PASSWORD, "name": "M"}
                )
                with lock:
                    for response in (made, got, found, joined):
                        statuses[response.status_code] += 1
                        if response.status_code == 503:
                            unavailable.append(response)
                    if made.status_code == 201:
                        documents[made.json()["id"]] = owner
                    registered[email] = joined.status_code

    workers = [
        threading.Thread(target=traffic, args=(owners[n % 2], n), daemon=True) for n in range(3)
    ]
    for worker in workers:
        worker.start()
    # When the database's backends are terminated again and again during the traffic
    terminated = 0
    for _ in range(6):
        time.sleep(0.5)
        terminated += terminate_backends(own_database)
    stop.set()
    for worker in workers:
        worker.join(timeout=60)
    # Then no request got a 500: each was answered, or (a commit cut off) a 503 to retry
    assert terminated >= 6
    assert sum(statuses.values()) >= 8, statuses
    assert set(statuses) <= {200, 201, 503}, statuses
    assert statuses[200] + statuses[201] >= sum(statuses.values()) // 2, statuses
    # (a 503 is a problem document saying to retry: a commit cut off, or a second dead
    # connection while the request ran again)
    for response in unavailable:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "The database is unavailable: retry shortly."
    # And every account answered 201 exists and logs in
    for email, status in registered.items():
        if status == 201:
            assert login(client, email, PASSWORD).status_code == 200, email
    # And every document answered 201 exists once and ends ready or failed
    by_owner: dict[str, list[str]] = {}
    for document_id, owner in documents.items():
        by_owner.setdefault(owner.id, []).append(document_id)
    for owner in owners:
        ids = by_owner.get(owner.id, [])
        final = settle(client, owner, ids)
        assert set(final.values()) <= {"ready", "failed"}, final
    stored = rows(
        own_database,
        "SELECT count(*) FROM documents WHERE id = ANY(:ids)",
        ids=[uuid.UUID(d) for d in documents],
    )
    assert stored == [(len(documents),)]
