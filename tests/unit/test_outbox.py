"""The outbox's bookkeeping on an in-memory SQLite session and fakeredis (no I/O): what a
transaction writes is delivered only once it commits, a rolled-back transaction delivers
nothing, and the relay can reach every destination an effect can name."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pydantic import BaseModel
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from functions.registry import discover
from shared.platform import outbox
from shared.platform.declare import CACHE, DATABASE, Access
from shared.platform.orm import Base
from shared.platform.outbox import OutboxRow


class Hello(BaseModel):
    id: uuid.UUID


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )
    Base.metadata.create_all(engine, tables=[OutboxRow.__table__])
    with Session(engine, expire_on_commit=False) as s:
        yield s
    engine.dispose()


def commit(session: Session) -> None:
    """What ``db.session_scope`` does at the end of a unit of work: commit, then the callbacks."""
    session.commit()
    for callback in session.info.pop("after_commit", []):
        callback()


def stored(session: Session) -> list[tuple[str, bool]]:
    session.expire_all()
    rows = session.scalars(select(OutboxRow).order_by(OutboxRow.created_at))
    return [(row.kind, row.delivered_at is not None) for row in rows]


def test_effects_wait_for_the_commit_and_are_marked_delivered(session, redis, sent_messages):
    redis.set("k", "v")
    hello = Hello(id=uuid.uuid4())
    outbox.add(session, outbox.message("greetings", hello), outbox.cache_delete("k"))
    session.flush()
    assert sent_messages == [] and redis.exists("k")
    commit(session)
    assert sent_messages == [("greetings", {"id": str(hello.id)})]
    assert not redis.exists("k")
    assert stored(session) == [("queue", True), ("cache_delete", True)]


def test_a_rolled_back_transaction_delivers_nothing_even_if_the_session_goes_on(
    session, redis, sent_messages
):
    # Given effects written in a transaction that rolls back
    redis.set("k", "v")
    outbox.add(
        session, outbox.cache_delete("k"), outbox.message("greetings", Hello(id=uuid.uuid4()))
    )
    session.flush()
    session.rollback()
    # When the same session then commits other work
    kept = Hello(id=uuid.uuid4())
    outbox.add(session, outbox.message("greetings", kept))
    commit(session)
    # Then only the committed effect was delivered, and only its row exists
    assert sent_messages == [("greetings", {"id": str(kept.id)})]
    assert redis.exists("k")
    assert stored(session) == [("queue", True)]


def test_effects_are_refused_inside_a_savepoint(session):
    with session.begin_nested(), pytest.raises(RuntimeError, match="savepoint"):
        outbox.add(session, outbox.cache_delete("k"))


def test_a_failed_delivery_is_recorded_for_the_relay_not_raised(session, monkeypatch):
    monkeypatch.setattr(
        "shared.platform.queues.send_json",
        lambda *a, **k: (_ for _ in ()).throw(ConnectionError("no route")),
    )
    outbox.add(session, outbox.message("greetings", Hello(id=uuid.uuid4())))
    commit(session)  # does not raise
    session.expire_all()
    [row] = session.scalars(select(OutboxRow))
    assert (row.delivered_at, row.attempts, row.last_error) == (None, 1, "ConnectionError")


def test_an_effect_survives_its_row(session):
    effect = outbox.object_put("b", "k", "text é", content_type="text/plain")
    outbox.add(session, effect)
    session.flush()
    [row] = session.scalars(select(OutboxRow))
    assert row.kind == "object_put"
    assert outbox._EFFECT.validate_json(row.payload) == effect


def test_the_relay_can_reach_every_destination_an_effect_can_name_and_no_other_queue():
    # Given every queue a function that can write the outbox (it has the database) sends to
    registry = discover()
    relay = registry["system-outbox-relay"].function
    sent_to = {
        access
        for entry in registry
        if DATABASE in entry.function.needs and entry.function is not relay
        for access in entry.function.needs
        if access.kind == "queue"
    }
    assert sent_to  # the notifications and purge queues at least
    # Then the relay may send to each of them, and to no other queue (least privilege)
    assert {a for a in relay.needs if a.kind == "queue"} == sent_to
    assert {DATABASE, CACHE, Access("bucket", "uploads", "write")} <= set(relay.needs)
    assert relay.schedule.expression == "rate(1 minute)"
