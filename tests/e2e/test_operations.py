"""The ops CLI (``python -m ops``) against a running local runner, as an operator runs the
runbooks: a dead-lettered message redriven and then processed, the vector index dropped and
rebuilt from the chunks with the same search results (and search served throughout), the
signing key rotated with old tokens valid and new ones signed by the new key."""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Iterator

import boto3
import httpx
import pytest
from sqlalchemy import text

from functions.registry import discover
from local.runner import LocalRunner, RunnerConfig
from ops.__main__ import run
from ops.drill import wait_for
from ops.target import OpsError, resolve
from tests.e2e.conftest import start_runner
from tests.support.api import sign_up

pytestmark = pytest.mark.e2e

TEXTS = {
    "Invoice": "Invoice 1042 from Northwind Traders: 1,200 euros for consulting, overdue since"
    " March. Please settle the balance by bank transfer within ten days.",
    "Hiking": "A guide to alpine hiking: pack water, a map and a warm layer. The ridge trail above"
    " the glacier lake offers views of the summit at sunrise.",
    "Recipe": "Bake the sourdough loaf at 250 degrees for twenty minutes with steam, then lower"
    " the oven and bake until the crust is deep brown.",
}
QUERIES = ("overdue payment", "mountain trail", "bread oven")


def ops_runner(request, tmp_path_factory, *, isolated: bool = True) -> Iterator[LocalRunner]:
    config = RunnerConfig(
        port=0,
        isolated=isolated,
        state_dir=tmp_path_factory.mktemp("ops"),
        database_url=request.getfixturevalue("pg_url"),
        redis_url=request.getfixturevalue("redis_url"),
        function_env={
            "RATE_LIMIT_PER_MINUTE": "100000",
            "SIGNING_KEYS_MAX_AGE": "0",
            "CURSOR_KEYS_MAX_AGE": "0",
            **request.getfixturevalue("vector_env"),
        },
    )
    runner = start_runner(discover(), config)
    yield runner
    runner.stop()


@pytest.fixture(scope="module")
def ops_stack(request, tmp_path_factory) -> Iterator[LocalRunner]:
    """The system on real Postgres and Redis, its key rings read without caching (a rotation
    shows at once, instead of after the 5-minute cache age)."""
    yield from ops_runner(request, tmp_path_factory)


@pytest.fixture
def http(ops_stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ops_stack.url, timeout=30) as client:
        yield client


def ops(runner: LocalRunner, *argv: str) -> int:
    return run(argv, target=resolve("local", state_dir=runner.config.state_dir))


def wait(probe, what: str, timeout: float = 30.0):
    return wait_for(probe, what, timeout)


def test_the_cli_finds_the_runner_by_its_outputs_and_refuses_a_missing_one(ops_stack, tmp_path):
    target = resolve("local", state_dir=ops_stack.config.state_dir)
    assert (
        target.output("QueueNotificationsUrl") == ops_stack.provisioned.queue_urls["notifications"]
    )
    with pytest.raises(OpsError, match="no local runner is running"):
        resolve("local", state_dir=tmp_path)
    with pytest.raises(OpsError, match="no queue 'nope'"):
        ops(ops_stack, "redrive", "nope")


def test_a_dead_lettered_message_is_redriven_and_then_processed(ops_stack, http, capsys):
    account = sign_up(http)
    # Given a notification that reached the dead-letter queue (its deliveries failed)
    sqs = boto3.client("sqs", endpoint_url=ops_stack.moto.endpoint)
    notification_id = str(uuid.uuid4())
    body = {
        "type": "notify",
        "id": notification_id,
        "user_id": account.id,
        "kind": "welcome",
        "data": {"name": "Ada"},
    }
    sqs.send_message(
        QueueUrl=ops_stack.provisioned.dlq_urls["notifications"],
        MessageBody=json.dumps(body),
        MessageAttributes={"request_id": {"DataType": "String", "StringValue": "req-redrive-1"}},
    )
    assert ops(ops_stack, "dead-letters") == 0
    assert re.search(r"^notifications\s+1$", capsys.readouterr().out, flags=re.M)
    # When the operator redrives the queue
    assert ops(ops_stack, "redrive", "notifications") == 0
    assert "redrove 1 message(s) to notifications; 0 left" in capsys.readouterr().out

    # Then the worker processes it: the user sees the notification, the DLQ is empty
    def delivered():
        items = http.get("/notifications", headers=account.headers).json()["items"]
        return [n for n in items if n["id"] == notification_id]

    assert wait(delivered, "the redriven notification")
    left = sqs.get_queue_attributes(
        QueueUrl=ops_stack.provisioned.dlq_urls["notifications"],
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert left == "0"


def _ready_documents(http, account) -> None:
    ids = []
    for title, body in TEXTS.items():
        created = http.post(
            "/documents/text", json={"title": title, "text": body}, headers=account.headers
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    for document_id in ids:
        wait(
            lambda d=document_id: (
                http.get(f"/documents/{d}", headers=account.headers).json()["status"] == "ready"
            ),
            "ingest",
        )


def _results(http, account) -> dict[str, list[tuple[str, int, float]]]:
    found = {}
    for query in QUERIES:
        response = http.post("/search", json={"query": query, "top_k": 5}, headers=account.headers)
        assert response.status_code == 200, response.text
        found[query] = [
            (r["document_id"], r["chunk_index"], r["score"]) for r in response.json()["results"]
        ]
    return found


def test_the_vector_index_is_dropped_and_rebuilt_with_the_same_results(ops_stack, http, capsys):
    if ops_stack.config.function_env.get("VECTOR_STORE") == "opensearch":
        pytest.skip("the pgvector rebuild; the OpenSearch one re-upserts")
    from shared.platform import db

    def indexes() -> set[str]:
        with db.session_scope() as session:
            return set(
                session.execute(
                    text("SELECT indexname FROM pg_indexes WHERE tablename = 'chunk_vectors'")
                ).scalars()
            )

    names_before = indexes()
    account = sign_up(http)
    _ready_documents(http, account)
    before = _results(http, account)
    assert all(before.values())
    # Given the vectors are lost (the chunks, in Postgres, are not)
    with db.session_scope() as session:
        session.execute(text("DELETE FROM chunk_vectors WHERE owner_id = :o"), {"o": account.id})
    assert not any(_results(http, account).values())
    # When the operator rebuilds the index while searches keep coming
    stop, failures, served = threading.Event(), [], []

    def searching() -> None:
        with httpx.Client(base_url=ops_stack.url, timeout=30) as client:
            while not stop.is_set():
                response = client.post(
                    "/search", json={"query": "bread oven"}, headers=account.headers
                )
                (served if response.status_code == 200 else failures).append(response.status_code)

    searcher = threading.Thread(target=searching)
    searcher.start()
    try:
        wait(lambda: served, "a search before the rebuild")
        assert ops(ops_stack, "reindex") == 0
        during = len(served)
        wait(lambda: len(served) > during, "a search after the rebuild")
    finally:
        stop.set()
        searcher.join()
    assert "reindexed" in capsys.readouterr().out
    # Then search was served all along, and gives the results it gave before the loss
    assert served and not failures
    assert _results(http, account) == before
    # And the live table has its indexes back under their names, the rebuild table is gone
    assert indexes() == names_before
    assert "ix_chunk_vectors_embedding_hnsw" in names_before
    with db.session_scope() as session:
        tables = set(
            session.execute(
                text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'chunk_vectors%'")
            ).scalars()
        )
    assert tables == {"chunk_vectors"}


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def test_the_signing_key_rotates_without_logging_anyone_out(ops_stack, http, capsys):
    old = sign_up(http)
    old_kid = _kid(old.access_token)
    # When the operator rotates the signing key
    assert ops(ops_stack, "rotate-signing-key") == 0
    printed = capsys.readouterr().out
    assert f"current {old_kid} -> " in printed
    # Then a token signed before stays valid
    assert http.get("/auth/me", headers=old.headers).status_code == 200
    # And a new login is signed by the new key, and is valid
    new = sign_up(http)
    assert _kid(new.access_token) != old_kid
    assert http.get("/auth/me", headers=new.headers).status_code == 200
    # When the old key is retired (once the old tokens expired), only new tokens verify
    assert ops(ops_stack, "retire-signing-keys") == 0
    assert http.get("/auth/me", headers=old.headers).status_code == 401
    assert http.get("/auth/me", headers=new.headers).status_code == 200


def test_the_cursor_key_rotates_and_pages_keep_working(ops_stack, http):
    account = sign_up(http)
    for n in range(3):
        http.post(
            "/documents/text",
            json={"title": f"Page {n}", "text": "some words"},
            headers=account.headers,
        )
    first = http.get("/documents", params={"limit": 1}, headers=account.headers).json()
    cursor = first["next_cursor"]
    assert cursor
    assert ops(ops_stack, "rotate-cursor-key") == 0
    # A cursor minted before the rotation still pages
    response = http.get(
        "/documents", params={"limit": 1, "cursor": cursor}, headers=account.headers
    )
    assert response.status_code == 200, response.text


def test_the_business_metrics_are_served_in_prometheus_format(ops_stack, http):
    account = sign_up(http)
    assert (
        http.post("/auth/login", json={"email": account.email, "password": "wrong!"}).status_code
        == 401
    )
    _ready_documents(http, account)
    _results(http, account)
    wait(
        lambda: "stratus_notifications_sent_total" in http.get("/__local/metrics").text,
        "a notification sent",
    )
    response = http.get("/__local/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for name in (
        "stratus_sign_ups",
        "stratus_logins",
        "stratus_failed_logins",
        "stratus_documents_ingested",
        "stratus_notifications_sent",
    ):
        assert families[name].type == "counter", name
        (sample,) = [s for s in families[name].samples if s.name == f"{name}_total"]
        assert sample.value >= 1 and sample.labels["namespace"] == "Stratus/local"
    for name in ("stratus_search_latency", "stratus_ingest_duration"):
        counts = [s for s in families[name].samples if s.name == f"{name}_count"]
        assert counts and counts[0].value >= 1, name
    depths = {s.labels["queue"]: s.value for s in families["stratus_dead_letter_depth"].samples}
    assert set(depths) == set(ops_stack.provisioned.dlq_urls)  # every queue's
    assert {"ingest", "notifications", "purge"} <= set(depths)


def test_a_stuck_document_is_found_and_requeued(ops_stack, http, capsys):
    from shared.platform import db

    account = sign_up(http)
    created = http.post(
        "/documents/text",
        json={"title": "Stuck", "text": TEXTS["Invoice"]},
        headers=account.headers,
    )
    document_id = created.json()["id"]
    wait(
        lambda: (
            http.get(f"/documents/{document_id}", headers=account.headers).json()["status"]
            == "ready"
        ),
        "ingest",
    )
    # Given its S3 event was lost: it has sat queued for an hour
    with db.session_scope() as session:
        session.execute(
            text(
                "UPDATE documents SET status = 'queued', updated_at = now()"
                " - interval '1 hour' WHERE id = :d"
            ),
            {"d": document_id},
        )
    assert ops(ops_stack, "stuck-documents") == 0
    assert f"{document_id} queued" in capsys.readouterr().out
    # When the operator requeues it, it is ingested again
    assert ops(ops_stack, "stuck-documents", "--requeue") == 0
    assert "requeued" in capsys.readouterr().out
    wait(
        lambda: (
            http.get(f"/documents/{document_id}", headers=account.headers).json()["status"]
            == "ready"
        ),
        "the requeued ingest",
    )
    ops(ops_stack, "stuck-documents")
    assert document_id not in capsys.readouterr().out


def test_the_cli_runs_as_its_own_process_against_the_runner(ops_stack):
    """`make stuck-documents` as an operator runs it: another process, with nothing of the
    runner's environment, which finds its database by the runner's outputs.json."""
    import os
    import subprocess
    import sys

    from functions.registry import REPO_ROOT

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "DATABASE_", "REDIS_"))
    }
    env.update(LOCAL_STATE_DIR=str(ops_stack.config.state_dir), PYTHONPATH=str(REPO_ROOT), STAGE="")
    done = subprocess.run(
        [sys.executable, "-m", "ops", "stuck-documents"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-1500:]
    assert "document(s) stuck for over 30 min" in done.stdout
