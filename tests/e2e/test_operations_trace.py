"""``make trace``: one request followed through every log line, queue message and row it
caused, the outbox relay's later delivery included. Its own module, so that its runner (the
functions on the runner's threads, where a fault patched into this process reaches them) never
runs beside the isolated one of ``test_operations``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from local.runner import LocalRunner
from ops.target import resolve
from tests.e2e.test_operations import TEXTS, ops, ops_runner, wait
from tests.support.api import sign_up

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def threaded_stack(request, tmp_path_factory) -> Iterator[LocalRunner]:
    """The same, with the functions on the runner's threads (``LOCAL_ISOLATION=threads``): a
    fault patched into this process then reaches them."""
    yield from ops_runner(request, tmp_path_factory, isolated=False)


def test_one_request_is_followed_through_every_line_and_record_it_caused(
    threaded_stack, monkeypatch, capsys
):
    # (threads: the SQS refusal below is patched into this process)
    http = httpx.Client(base_url=threaded_stack.url, timeout=30)
    from shared.platform import db, outbox

    account = sign_up(http)
    request_id = f"trace-{uuid.uuid4().hex[:12]}"
    # The notification the ingest worker queues is not delivered at once (SQS refuses it),
    # so the outbox relay delivers it later: the trace must follow the request there too.
    real_deliver = outbox.deliver

    def refuse_notifications(effect):
        if getattr(effect, "queue", None) == "notifications":
            raise ConnectionError("SQS is unreachable")
        real_deliver(effect)

    monkeypatch.setattr(outbox, "deliver", refuse_notifications)
    created = http.post(
        "/documents/text",
        json={"title": "Traced", "text": TEXTS["Hiking"]},
        headers={**account.headers, "X-Request-Id": request_id},
    )
    assert created.status_code == 201, created.text
    document_id = created.json()["id"]
    # Another request at the same time, which the trace must leave out
    other = http.post(
        "/documents/text",
        json={"title": "Other", "text": TEXTS["Recipe"]},
        headers=account.headers,
    )
    assert other.status_code == 201
    for d in (document_id, other.json()["id"]):
        wait(
            lambda d=d: (
                http.get(f"/documents/{d}", headers=account.headers).json()["status"] == "ready"
            ),
            "ingest",
        )

    def deferred() -> int:
        with db.session_scope() as session:
            return db.affected(
                session.execute(
                    text(
                        "UPDATE outbox SET available_at = now() WHERE delivered_at IS NULL"
                        " AND payload LIKE '%notifications%'"
                    )
                )
            )

    wait(deferred, "the deferred notification in the outbox")
    monkeypatch.setattr(outbox, "deliver", real_deliver)
    relayed = http.post("/__local/jobs/system-outbox-relay")
    assert relayed.status_code == 200, relayed.text

    def notified():
        items = http.get("/notifications", headers=account.headers).json()["items"]
        return [n for n in items if n["kind"] == "document_ready"]

    wait(lambda: len(notified()) == 2, "both documents' notifications")

    # When the operator traces the request
    from ops.trace import trace

    found = trace(resolve("local", state_dir=threaded_stack.config.state_dir), request_id)
    # Then it spans the HTTP function, the ingest worker, the relay and the notification worker
    assert found.functions[0] == "documents-create-text"
    assert {"documents-ingest", "system-outbox-relay", "notifications-deliver"} <= set(
        found.functions
    )
    messages = [line["message"] for line in found.lines]
    assert "Document created" in messages and "Document ready" in messages
    assert "Outbox effect delivered by the relay" in messages
    # And every line says which service, function and request it belongs to; the HTTP one the user
    for line in found.lines:
        assert line["service"] == line["function_name"].split("-")[0], line
        assert found.ids & {line["correlation_id"], line.get("request_id")}, line
    created_line = next(ln for ln in found.lines if ln["message"] == "Document created")
    assert created_line["user_id"] == account.id
    assert created_line["document_id"] == document_id
    # And none of the other request's lines; its rows: the document, the notification, the outbox
    assert other.json()["id"] not in json.dumps(found.lines)
    tables = {table for table, _ in found.rows}
    assert tables == {"documents", "notifications", "outbox"}
    (document,) = [row for table, row in found.rows if table == "documents"]
    assert (str(document["id"]), document["status"]) == (document_id, "ready")
    assert document["chunks"] >= 1
    (notification,) = [row for table, row in found.rows if table == "notifications"]
    assert notification["kind"] == "document_ready"
    # And `make trace` prints it, in order
    assert ops(threaded_stack, "trace", request_id) == 0
    printed = capsys.readouterr().out
    assert printed.index("Document created") < printed.index("Document ready")
    assert ops(threaded_stack, "trace", "no-such-request") == 1
