"""The transactional outbox on real Postgres and Redis, with SQS under moto: an effect exists
exactly when its change does, is delivered once the change commits, and is never lost when that
delivery fails (the relay retries it, with backoff, and counts what keeps failing)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_py
from pydantic import BaseModel
from sqlalchemy import delete, select, update

from shared.platform import aws, cache, db, outbox
from shared.platform.migrate import upgrade
from shared.platform.observability import metrics, set_request_id
from shared.platform.outbox import OutboxRow
from shared.platform.settings import reset_settings
from tests.support.moto import threaded_moto

pytestmark = pytest.mark.integration

MARKER = "payload-value-that-must-never-be-logged"


class Ping(BaseModel):
    id: uuid.UUID
    note: str = MARKER


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with threaded_moto() as endpoint:
        yield endpoint


@pytest.fixture
def stores(pg_url, redis_url, moto_endpoint, monkeypatch) -> Iterator[dict[str, str]]:
    """Postgres migrated, Redis, and a fresh SQS queue ``pings`` (``PINGS_QUEUE_URL``)."""
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.delenv("MISSING_QUEUE_URL", raising=False)
    reset_settings()
    aws.reset()
    db.reset()
    cache.reset()
    upgrade(pg_url)
    with db.session_scope() as session:
        session.execute(delete(OutboxRow))
    url = aws.client("sqs").create_queue(QueueName=f"pings-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv("PINGS_QUEUE_URL", url)
    metrics.clear_metrics()
    try:
        yield {"queue_url": url}
    finally:
        aws.client("sqs").delete_queue(QueueUrl=url)
        metrics.clear_metrics()
        db.reset()
        cache.reset()
        aws.reset()
        reset_settings()


def received(queue_url: str) -> list[dict]:
    """Every message waiting on the queue (bodies parsed, request id attribute alongside)."""
    messages = (
        aws.client("sqs")
        .receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        .get("Messages", [])
    )
    return [
        {
            "body": json.loads(m["Body"]),
            "request_id": m.get("MessageAttributes", {}).get("request_id", {}).get("StringValue"),
        }
        for m in messages
    ]


def rows() -> list[OutboxRow]:
    with db.session_scope() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.created_at)))


def make_due(*ids: uuid.UUID) -> None:
    """As if the backoff (or the grace) had passed."""
    with db.session_scope() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(ids))
            .values(available_at=datetime.now(UTC) - timedelta(seconds=1))
        )


def redis_client(redis_url: str) -> redis_py.Redis:
    return redis_py.Redis.from_url(redis_url, decode_responses=True)


# ---- written with the change, delivered once it commits --------------------------------------


def test_an_effect_is_delivered_once_its_transaction_commits(stores, redis_url):
    # Given a cached key and a request under way
    redis = redis_client(redis_url)
    redis.set("outbox-test:cached", "stale")
    set_request_id("req-outbox-1")
    ping = Ping(id=uuid.uuid4())
    # When a transaction writes a queue message and a cache invalidation to the outbox
    with db.session_scope() as session:
        outbox.add(
            session, outbox.message("pings", ping), outbox.cache_delete("outbox-test:cached")
        )
        # Then nothing is sent before the commit
        assert received(stores["queue_url"]) == []
        assert redis.exists("outbox-test:cached")
    # And once it commits, the message is on the queue with the request id, the key is gone
    assert received(stores["queue_url"]) == [
        {"body": json.loads(ping.model_dump_json()), "request_id": "req-outbox-1"}
    ]
    assert not redis.exists("outbox-test:cached")
    # And both rows are marked delivered (nothing is left for the relay)
    assert [(r.kind, r.delivered_at is not None) for r in rows()] == [
        ("queue", True),
        ("cache_delete", True),
    ]
    assert outbox.relay()["delivered"] == 0


def test_a_rolled_back_change_leaves_no_effect(stores, redis_url):
    redis = redis_client(redis_url)
    redis.set("outbox-test:kept", "v")

    # When the transaction that wrote the effects fails
    def failing_change() -> None:
        with db.session_scope() as session:
            outbox.add(session, outbox.message("pings", Ping(id=uuid.uuid4())))
            outbox.add(session, outbox.cache_delete("outbox-test:kept"))
            session.flush()
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        failing_change()
    # Then no row exists and nothing was sent
    assert rows() == []
    assert received(stores["queue_url"]) == []
    assert redis.get("outbox-test:kept") == "v"


def test_a_failed_delivery_never_fails_the_change_and_is_left_to_the_relay(stores, log_lines):
    # Given a change whose message goes to a queue that cannot be reached
    user_row = uuid.uuid4()
    # When its transaction commits
    with db.session_scope() as session:
        outbox.add(session, outbox.message("missing", Ping(id=user_row)))
    # Then the block succeeded; the row is pending, its failure counted, retried later
    [row] = rows()
    assert row.delivered_at is None
    assert (row.attempts, row.last_error) == (1, "QueueNotConfigured")
    assert row.available_at > datetime.now(UTC) + timedelta(seconds=20)
    # And the log says what failed, never with the payload
    [line] = [line for line in log_lines() if line["message"].startswith("Effect not delivered")]
    assert (line["kind"], line["destination"], line["error"]) == (
        "queue",
        "queue missing",
        "QueueNotConfigured",
    )
    assert MARKER not in json.dumps(log_lines())
    assert str(user_row) not in json.dumps(log_lines())


# ---- the relay ---------------------------------------------------------------------------------


def write_undelivered(*effects: outbox.Effect) -> None:
    """Commit ``effects`` as if the process had died right after the commit: nothing delivered."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(outbox, "_deliver_committed", lambda session, engine: None)
        with db.session_scope() as session:
            outbox.add(session, *effects)


def test_the_relay_delivers_what_is_due_and_backs_off_what_fails(stores, monkeypatch):
    # Given three undelivered rows: one due, one due whose queue is unreachable, one still fresh
    write_undelivered(outbox.message("pings", Ping(id=uuid.uuid4(), note="due")))
    write_undelivered(outbox.message("missing", Ping(id=uuid.uuid4(), note="failing")))
    write_undelivered(outbox.message("pings", Ping(id=uuid.uuid4(), note="fresh")))
    due, failing, fresh = rows()
    make_due(due.id, failing.id)
    # When the relay runs
    result = outbox.relay()
    # Then it delivered the due row, backed off the failing one, left the fresh one to its request
    assert (result["delivered"], result["failed"], result["pending"]) == (1, 1, 2)
    assert [m["body"]["note"] for m in received(stores["queue_url"])] == ["due"]
    by_id = {r.id: r for r in rows()}
    assert by_id[due.id].delivered_at is not None
    assert (by_id[failing.id].attempts, by_id[failing.id].last_error) == (1, "QueueNotConfigured")
    assert by_id[failing.id].delivered_at is None
    retry_in = by_id[failing.id].available_at - datetime.now(UTC)
    assert outbox.backoff(1) - timedelta(seconds=5) < retry_in <= outbox.backoff(1)
    assert (by_id[fresh.id].attempts, by_id[fresh.id].delivered_at) == (0, None)
    # When the queue becomes reachable and the backoff has passed
    monkeypatch.setenv("MISSING_QUEUE_URL", stores["queue_url"])
    make_due(failing.id, fresh.id)
    result = outbox.relay()
    # Then the rest is delivered, each once, and nothing is pending
    assert (result["delivered"], result["pending"]) == (2, 0)
    assert sorted(m["body"]["note"] for m in received(stores["queue_url"])) == ["failing", "fresh"]
    assert outbox.relay()["delivered"] == 0


def test_the_backoff_doubles_up_to_an_hour():
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert outbox.backoff(8) == outbox.backoff(50) == timedelta(hours=1)


def test_a_row_that_keeps_failing_is_kept_counted_and_logged(stores, log_lines):
    # Given an effect that has failed for hours
    with db.session_scope() as session:
        outbox.add(session, outbox.message("missing", Ping(id=uuid.uuid4())))
    [row] = rows()
    with db.session_scope() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row.id)
            .values(
                attempts=outbox.STUCK_AFTER - 1,
                created_at=datetime.now(UTC) - timedelta(hours=5),
                available_at=datetime.now(UTC),
            )
        )
    metrics.clear_metrics()
    # When the relay fails it once more
    result = outbox.relay()
    # Then the row is still there, counted as stuck, retried in an hour
    [kept] = rows()
    assert (kept.attempts, kept.delivered_at) == (outbox.STUCK_AFTER, None)
    assert kept.available_at > datetime.now(UTC) + timedelta(minutes=59)
    assert (result["stuck"], result["pending"]) == (1, 1)
    assert result["oldest_pending_seconds"] >= 5 * 3600
    # And the metrics and an error line say so
    emitted = metrics.metric_set
    assert emitted["OutboxStuck"]["Value"] == [1.0]
    assert emitted["OutboxPending"]["Value"] == [1.0]
    assert emitted["OutboxFailed"]["Value"] == [1.0]
    assert emitted["OutboxOldestPendingAge"]["Value"][0] >= 5 * 3600
    errors = [line for line in log_lines() if line["level"] == "ERROR"]
    assert [line["stuck"] for line in errors] == [1]
    assert MARKER not in json.dumps(log_lines())


def test_relays_running_at_once_never_deliver_the_same_row(stores, monkeypatch):
    monkeypatch.setenv("DATABASE_POOL_SIZE", "2")  # two relays in one process
    reset_settings()
    db.reset()
    # Given two due rows, one of them claimed by another relay's open transaction
    write_undelivered(
        outbox.message("pings", Ping(id=uuid.uuid4(), note="a")),
        outbox.message("pings", Ping(id=uuid.uuid4(), note="b")),
    )
    first, second = sorted(rows(), key=lambda r: json.loads(json.loads(r.payload)["body"])["note"])
    make_due(first.id, second.id)
    claimed, release = threading.Event(), threading.Event()

    def other_relay() -> None:
        with db.session_scope() as session:
            session.scalars(
                select(OutboxRow).where(OutboxRow.id == first.id).with_for_update(skip_locked=True)
            ).all()
            claimed.set()
            release.wait(10)

    holder = threading.Thread(target=other_relay)
    holder.start()
    assert claimed.wait(10)
    try:
        # When this relay runs meanwhile
        result = outbox.relay()
    finally:
        release.set()
        holder.join(10)
    # Then it delivered only the row nobody held, without waiting for the lock
    assert (result["delivered"], result["pending"]) == (1, 1)
    assert [m["body"]["note"] for m in received(stores["queue_url"])] == ["b"]


def test_delivered_rows_are_removed_after_the_retention(stores):
    with db.session_scope() as session:
        outbox.add(session, outbox.message("pings", Ping(id=uuid.uuid4())))
        outbox.add(session, outbox.message("pings", Ping(id=uuid.uuid4())))
    old, recent = rows()
    with db.session_scope() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == old.id)
            .values(delivered_at=datetime.now(UTC) - outbox.RETENTION - timedelta(minutes=1))
        )
    assert outbox.relay()["removed"] == 1
    assert [r.id for r in rows()] == [recent.id]


def test_an_object_put_and_a_cache_set_reach_their_stores(stores, redis_url):
    s3 = aws.client("s3")
    bucket = f"outbox-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    with db.session_scope() as session:
        outbox.add(
            session,
            outbox.object_put(bucket, "notes/1", "héllo", content_type="text/plain; charset=utf-8"),
            outbox.cache_set("outbox-test:tomb", "-", ttl_seconds=30),
        )
    stored = s3.get_object(Bucket=bucket, Key="notes/1")
    assert stored["Body"].read() == "héllo".encode()
    assert stored["ContentType"] == "text/plain; charset=utf-8"
    redis = redis_client(redis_url)
    assert redis.get("outbox-test:tomb") == "-"
    assert 0 < redis.ttl("outbox-test:tomb") <= 30


def test_a_failing_destination_is_tried_once_per_run_and_the_others_still_go(stores, monkeypatch):
    # Given three due rows for a queue that cannot be reached, and one for a queue that can
    for note in ("x", "y", "z"):
        write_undelivered(outbox.message("missing", Ping(id=uuid.uuid4(), note=note)))
    write_undelivered(outbox.message("pings", Ping(id=uuid.uuid4(), note="ok")))
    make_due(*(r.id for r in rows()))
    tried: list[str] = []
    real = outbox.deliver

    def counting(effect: outbox.Effect) -> None:
        tried.append(effect.destination)
        real(effect)

    monkeypatch.setattr(outbox, "deliver", counting)
    # When the relay runs
    result = outbox.relay()
    # Then the broken destination was tried once, its three rows all backed off, and the
    # reachable one delivered
    assert sorted(tried) == ["queue missing", "queue pings"]
    assert (result["delivered"], result["failed"], result["pending"]) == (1, 3, 3)
    assert (
        sorted((r.attempts, r.last_error) for r in rows() if r.delivered_at is None)
        == [(1, "QueueNotConfigured")] * 3
    )
    assert [m["body"]["note"] for m in received(stores["queue_url"])] == ["ok"]


def test_the_relay_stops_at_its_time_budget_and_leaves_the_rest_untouched(stores, monkeypatch):
    # Given five due rows whose deliveries are slow (a store at its client timeout)
    for n in range(5):
        write_undelivered(outbox.message("pings", Ping(id=uuid.uuid4(), note=str(n))))
    make_due(*(r.id for r in rows()))
    real = outbox.deliver

    def slow(effect: outbox.Effect) -> None:
        time.sleep(0.2)
        real(effect)

    monkeypatch.setattr(outbox, "deliver", slow)
    # When the relay runs with a budget of half a second
    started = time.monotonic()
    result = outbox.relay(budget_seconds=0.5)
    # Then it returned within the budget (plus one delivery), having delivered what it could
    assert time.monotonic() - started < 1.5
    assert 1 <= result["delivered"] <= 3
    assert result["pending"] == 5 - result["delivered"]
    # And the rest is untouched: not counted as failed, due for the next run
    untouched = [r for r in rows() if r.delivered_at is None]
    assert all(r.attempts == 0 for r in untouched)
    monkeypatch.setattr(outbox, "deliver", real)
    assert outbox.relay()["pending"] == 0
