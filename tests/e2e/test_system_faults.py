"""Faults through the local runner, on real Postgres (a database of this module's own, created
for it and dropped after: only its backends are ever terminated) and real Redis: Postgres
backends terminated, concurrent and replayed uploads, and the runner restarted mid-ingest.

Postgres: a pooled connection whose backend was terminated (``pg_terminate_backend``, as a
failover or an idle timeout would) makes the next statement fail with a disconnect: the request
runs once more on a fresh connection (``shared.platform.db.retryable``), so the client sees its
answer, not a 500; a disconnect the request cannot be repeated after (during its commit) is a
503 problem.

Restarts: after a stop (what Ctrl-C does) and a start on the same state folder, accounts,
sessions (the signing keys), files (the local S3's objects), documents and queued work are all
still there, and every document left queued ends ``ready`` (a batch in flight at the stop
finishes first: the runner waits for its pollers). The state lives in the
runner's ``.local/`` folder, which ``make clean`` deletes.

Each test asserts the statuses seen, the data left behind, and that every document ends
``ready`` or ``failed``. The restart test runs last: it stops the module's runner.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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

REGISTRY = discover()
NOTE = "The harbour committee met on Tuesday and agreed the pier repairs start in spring. " * 8
HARBOUR = b"Minutes of the harbour committee: the pier repairs start in spring. " * 20
BUDGET = b"The quarterly budget review found that travel costs rose this year. " * 20


def config(state_dir: Path, database_url: str, request) -> RunnerConfig:  # type: ignore[no-untyped-def]
    return RunnerConfig(
        port=0,
        state_dir=state_dir,
        database_url=database_url,
        redis_url=request.getfixturevalue("redis_url"),
        schedules=False,
        function_env={
            "RATE_LIMIT_PER_MINUTE": "100000",
            **request.getfixturevalue("vector_env"),
        },
    )


@pytest.fixture(scope="module")
def own_database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory) -> Path:
    return Path(tmp_path_factory.mktemp("restart"))


@pytest.fixture(scope="module")
def first(request, state_dir, own_database) -> Iterator[LocalRunner]:
    runner = start_runner(REGISTRY, config(state_dir, own_database, request))
    yield runner
    runner.stop()


@pytest.fixture
def client(first) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=first.url, timeout=30) as http:
        yield http


def upload(form: dict, content: bytes, content_type: str = "text/plain") -> int:
    """POST the presigned form as a browser does: its fields, then the file."""
    response = httpx.post(
        form["url"],
        data=form["fields"],
        files={"file": ("file.txt", content, content_type)},
        timeout=30,
    )
    return response.status_code


def create(http: httpx.Client, account: Account, content: bytes, size: int | None = None) -> dict:
    created = http.post(
        "/documents",
        json={
            "title": "Minutes",
            "filename": "minutes.txt",
            "content_type": "text/plain",
            "size_bytes": size or len(content),
        },
        headers=account.headers,
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


def settle(http: httpx.Client, account: Account, ids: list[str], timeout: float = 40) -> dict:
    deadline = time.monotonic() + timeout
    final: dict[str, str] = {}
    while time.monotonic() < deadline and len(final) < len(ids):
        for document_id in set(ids) - set(final):
            got = http.get(f"/documents/{document_id}", headers=account.headers)
            assert got.status_code == 200, got.text
            if got.json()["status"] in ("ready", "failed"):
                final[document_id] = got.json()["status"]
        time.sleep(0.2)
    return {document_id: final.get(document_id, "stuck") for document_id in ids}


def chunks_say(http: httpx.Client, account: Account, query: str) -> set[str]:
    found = http.post("/search", json={"query": query, "top_k": 10}, headers=account.headers)
    assert found.status_code == 200, found.text
    return {hit["document_id"] for hit in found.json()["results"]}


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
        threading.Thread(target=traffic, args=(owners[n % 2], n), daemon=True) for n in range(2)
    ]
    for worker in workers:
        worker.start()
    # When the database's backends are terminated again and again during the traffic
    terminated = 0
    for _ in range(4):
        time.sleep(0.7)
        terminated += terminate_backends(own_database)
    stop.set()
    for worker in workers:
        worker.join(timeout=60)
    # Then no request got a 500: each was answered, or (a commit cut off) a 503 to retry
    assert terminated >= 4
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


def test_concurrent_uploads_to_the_local_s3_all_succeed(first):
    with httpx.Client(base_url=first.url, timeout=30) as http:
        account = sign_up(http)
        forms = [create(http, account, BUDGET) for _ in range(8)]
        # When eight presigned POSTs are sent at once
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda f: upload(f["upload"], BUDGET), forms))
        # Then each was stored (204, S3's default), and each document is ingested
        assert statuses == [204] * 8
        ids = [f["document"]["id"] for f in forms]
        assert set(settle(http, account, ids).values()) == {"ready"}


def test_a_replayed_upload_after_ready_is_ingested_again(first):
    with httpx.Client(base_url=first.url, timeout=30) as http:
        account = sign_up(http)
        created = create(http, account, BUDGET)
        document_id = created["document"]["id"]
        assert upload(created["upload"], BUDGET) == 204
        assert settle(http, account, [document_id]) == {document_id: "ready"}
        assert document_id in chunks_say(http, account, "quarterly budget travel costs")
        # When the same presigned POST is sent again, with other bytes
        assert upload(created["upload"], HARBOUR) == 204
        # Then the index follows the stored file: its new text is found, the old one is not
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if document_id in chunks_say(http, account, "harbour committee pier repairs"):
                break
            time.sleep(0.3)
        assert document_id in chunks_say(http, account, "harbour committee pier repairs")
        assert document_id not in chunks_say(http, account, "quarterly budget travel costs")
        document = http.get(f"/documents/{document_id}", headers=account.headers).json()
        assert (document["status"], document["size_bytes"]) == ("ready", len(HARBOUR))
        link = http.get(f"/documents/{document_id}/download", headers=account.headers).json()
        assert httpx.get(link["url"], timeout=30).content == HARBOUR


def test_an_upload_smaller_than_declared_is_ingested_with_its_real_size(first):
    with httpx.Client(base_url=first.url, timeout=30) as http:
        account = sign_up(http)
        created = create(http, account, BUDGET, size=len(BUDGET) * 4)
        document_id = created["document"]["id"]
        assert upload(created["upload"], BUDGET) == 204
        assert settle(http, account, [document_id]) == {document_id: "ready"}
        document = http.get(f"/documents/{document_id}", headers=account.headers).json()
        assert document["size_bytes"] == len(BUDGET)


def test_a_short_mixed_load_has_no_5xx_and_leaves_nothing_stuck(first):
    """The bounded form of `make load` (tests/load): sign-ups, logins, uploads, searches."""
    from tests.load.mixed import run

    report = run(first.url, seconds=4, users=2, settle_seconds=30)
    print(report.render())
    assert report.problems() == []
    assert report.requests >= 10
    # reads and writes ran (the seeded mix), and every document it made is ready or failed
    assert {"signup", "login", "list", "upload", "s3-post", "text"} <= set(report.latencies)
    assert report.documents and set(report.documents.values()) <= {"ready", "failed"}


def test_a_restart_with_work_queued_keeps_accounts_sessions_files_documents_and_work(
    request, first, state_dir, own_database
):
    with httpx.Client(base_url=first.url, timeout=30) as http:
        # Given a member with a ready uploaded file
        account = sign_up(http)
        created = create(http, account, HARBOUR)
        ready_id = created["document"]["id"]
        assert upload(created["upload"], HARBOUR) == 204
        assert settle(http, account, [ready_id]) == {ready_id: "ready"}
        # And documents still queued: the workers are held back (their pollers stopped, the
        # API still serving), so their messages wait on the ingest queue when the runner stops
        for poller in first.pollers:
            poller.stop()
        for poller in first.pollers:
            poller.join(timeout=30)
        pending = [
            http.post(
                "/documents/text",
                json={"title": f"Note {n}", "text": BUDGET.decode()},
                headers=account.headers,
            ).json()["id"]
            for n in range(4)
        ]
        statuses = {
            http.get(f"/documents/{d}", headers=account.headers).json()["status"] for d in pending
        }
        assert statuses == {"queued"}
    # When the runner is stopped at once (Ctrl-C) and started again on the same state
    first.stop()
    second = start_runner(REGISTRY, config(state_dir, own_database, request))
    try:
        with httpx.Client(base_url=second.url, timeout=30) as http:
            # Then the session still works: same signing keys, and its refresh token too
            me = http.get("/auth/me", headers=account.headers)
            assert me.status_code == 200, me.text
            refreshed = http.post("/auth/refresh", json={"refresh_token": account.refresh_token})
            assert refreshed.status_code == 200, refreshed.text
            # And the file is still there, as uploaded
            link = http.get(f"/documents/{ready_id}/download", headers=account.headers)
            assert link.status_code == 200, link.text
            assert httpx.get(link.json()["url"], timeout=30).content == HARBOUR
            # And every document left queued ends ready (its work was kept): the second run's
            # worker received the messages the first run had queued
            assert set(settle(http, account, pending).values()) == {"ready"}
            (ingest,) = [p for p in second.pollers if p.trigger.queue == "ingest"]
            assert ingest.received >= len(pending)
            assert ready_id in chunks_say(http, account, "harbour committee pier repairs")
    finally:
        second.stop()
