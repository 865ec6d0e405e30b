"""Webhooks on real Postgres: registration, events through the outbox, the dispatcher's claim,
the recorder's schedule, disabling, rotation and manual retry. Queue messages are captured
(``sent_messages``) instead of sent; the HTTP call itself is the end-to-end suite's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select
from standardwebhooks import Webhook

from shared.platform import db, keyring, pagination
from shared.platform.errors import Conflict, NotFound, Unprocessable
from shared.platform.identity import Principal
from shared.platform.migrate import upgrade
from shared.platform.settings import reset_settings
from shared.users.models import User
from shared.webhooks import crypto, delivery, service
from shared.webhooks.events import emit
from shared.webhooks.messages import Dispatch, Outcome, SendRequest
from shared.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from shared.webhooks.schemas import WebhookCreate, WebhookUpdate

pytestmark = pytest.mark.integration

RING = keyring.FixedRing(keyring.parse(keyring.new_secret("w1")))
URL = "http://127.0.0.1:9/hook"


@pytest.fixture(scope="module")
def migrated(pg_url) -> str:
    upgrade(pg_url)
    return str(pg_url)


@pytest.fixture
def env(migrated, pg_url, monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("WEBHOOK_KEYS_SECRET_ARN", "unused: the ring is fixed")
    monkeypatch.setenv("WEBHOOKS_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("WEBHOOK_RETRY_SCALE", "0.001")
    monkeypatch.setattr(crypto, "keys", lambda: RING)
    monkeypatch.setattr(pagination, "cursor_keys", lambda: RING)
    reset_settings()
    db.reset()
    yield
    reset_settings()
    db.reset()


@pytest.fixture
def make_user(env) -> Iterator:
    made: list[uuid.UUID] = []

    def make(role: str = "member") -> Principal:
        with db.session_scope() as session:
            user = User(
                email=f"wh-{uuid.uuid4().hex[:10]}@example.com",
                name="W",
                password_hash="x",
                role=role,
            )
            session.add(user)
            session.flush()
            made.append(user.id)
            return Principal(user_id=user.id, role=role)  # type: ignore[arg-type]

    yield make
    with db.session_scope() as session:
        events = (
            select(WebhookDelivery.event_id)
            .join(WebhookEndpoint)
            .where(WebhookEndpoint.user_id.in_(made))
        )
        event_ids = list(session.scalars(events))
        session.execute(delete(User).where(User.id.in_(made)))
        session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(event_ids)))


def register(principal: Principal, events=("document.ready",), url: str = URL):
    with db.session_scope() as session:
        return service.create(session, principal, WebhookCreate(url=url, events=list(events)))


def ready_event(owner: Principal) -> int:
    with db.session_scope() as session:
        return emit(
            session,
            "document.ready",
            owner_id=owner.user_id,
            data={"document_id": str(uuid.uuid4()), "status": "ready"},
        )


def only_delivery(endpoint_id: uuid.UUID) -> WebhookDelivery:
    with db.session_scope() as session:
        (found,) = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        )
        session.expunge(found)
        return found


def dispatched(sent_messages, queue: str) -> list[dict]:
    return [body for name, body in sent_messages if name == queue]  # type: ignore[misc]


def test_registration_shows_the_secret_once_and_stores_it_sealed(make_user):
    owner = make_user()
    created = register(owner)
    assert created.secret.startswith("whsec_")
    with db.session_scope() as session:
        row = session.get(WebhookEndpoint, created.webhook.id)
        assert row is not None and created.secret not in row.secret
        assert crypto.decrypt(row.secret, endpoint_id=row.id, source=RING) == created.secret
        # a sealed secret copied to another endpoint does not open there
        with pytest.raises(ValueError, match="does not decrypt"):
            crypto.decrypt(row.secret, endpoint_id=uuid.uuid4(), source=RING)
    with db.session_scope() as session:  # nothing but the one answer ever carries it
        assert "secret" not in service.get(session, owner, created.webhook.id).model_dump()


def test_refused_urls_are_422_and_leave_nothing(make_user, monkeypatch):
    owner = make_user()
    monkeypatch.setenv("WEBHOOKS_ALLOW_LOOPBACK", "0")
    reset_settings()
    for url in (URL, "http://10.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://0x7f000001/"):
        with pytest.raises(Unprocessable) as refused:
            register(owner, url=url)
        assert refused.value.errors[0].loc == ("body", "url")
    with db.session_scope() as session:
        assert service.list_endpoints(session, owner, limit=20, after=None).items == []


def test_at_most_ten_endpoints_and_others_are_404(make_user):
    owner, other = make_user(), make_user()
    first = register(owner)
    for _ in range(9):
        register(owner)
    with pytest.raises(Conflict):
        register(owner)
    with db.session_scope() as session, pytest.raises(NotFound):
        service.get(session, other, first.webhook.id)
    with db.session_scope() as session, pytest.raises(NotFound):
        service.update(session, other, first.webhook.id, WebhookUpdate(is_active=False))


def test_an_event_reaches_subscribers_signed_and_a_second_copy_makes_no_call(
    make_user, sent_messages
):
    # Given an owner with two endpoints, one subscribed to document.ready, one not
    owner, stranger = make_user(), make_user()
    hook = register(owner)
    register(owner, events=("document.deleted",))
    register(stranger)
    # When the owner's document becomes ready
    assert ready_event(owner) == 1
    # Then one delivery was made, and one dispatch queued for it through the outbox
    found = only_delivery(hook.webhook.id)
    assert (found.status, found.attempts) == ("pending", 0)
    assert dispatched(sent_messages, "webhooks") == [{"delivery_id": str(found.id), "attempt": 1}]
    # When the dispatcher gets it (twice: SQS may deliver a message again)
    message = Dispatch(delivery_id=found.id, attempt=1)
    assert delivery.dispatch(message) == "sent"
    assert delivery.dispatch(message) == "duplicate"
    # Then exactly one call was prepared, signed with the endpoint's secret, aimed at the
    # address the check approved
    (call,) = dispatched(sent_messages, "webhook-send")
    request = SendRequest.model_validate(call)
    assert request.address == "127.0.0.1" and request.path == "/hook"
    payload = Webhook(hook.secret).verify(request.body, request.headers)
    assert payload["type"] == "document.ready" and payload["data"]["status"] == "ready"
    assert request.headers["webhook-id"] == str(found.event_id)
    with db.session_scope() as session:
        (attempt,) = session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id == found.id)
        )
        assert attempt.state == "sending"  # recorded before any call


def test_failures_retry_on_the_schedule_until_the_last_disables(make_user, sent_messages):
    owner = make_user()
    hook = register(owner)
    ready_event(owner)
    found = only_delivery(hook.webhook.id)
    for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
        with db.session_scope() as session:  # due now (the test does not wait the delay)
            row = session.get(WebhookDelivery, found.id)
            assert row is not None
            row.next_attempt_at = db_now()
        assert delivery.dispatch(Dispatch(delivery_id=found.id, attempt=attempt)) == "sent"
        outcome = Outcome(delivery_id=found.id, attempt=attempt, status=500)
        expected = "exhausted" if attempt == delivery.MAX_ATTEMPTS else "retry"
        assert delivery.record(outcome) == expected
        assert delivery.record(outcome) == "duplicate"  # a second copy changes nothing
    final = only_delivery(hook.webhook.id)
    assert (final.status, final.attempts, final.response_status) == ("failed", 8, 500)
    with db.session_scope() as session:
        public = service.get(session, owner, hook.webhook.id)
    assert public.is_active is False and "8 attempts" in (public.disabled_reason or "")
    nudges = [b for q, b in sent_messages if q == "notifications"]
    assert [n["kind"] for n in nudges] == ["account_changed"]  # type: ignore[index]
    # The retries were queued with growing delays
    delays = [
        json.loads(json.dumps(b))
        for q, b in sent_messages
        if q == "webhooks" and b["attempt"] > 1  # type: ignore[index]
    ]
    assert len(delays) == delivery.MAX_ATTEMPTS - 1


def db_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_gone_disables_at_once_and_retry_needs_it_enabled(make_user, sent_messages):
    owner = make_user()
    hook = register(owner)
    ready_event(owner)
    found = only_delivery(hook.webhook.id)
    delivery.dispatch(Dispatch(delivery_id=found.id, attempt=1))
    assert delivery.record(Outcome(delivery_id=found.id, attempt=1, status=410)) == "gone"
    with db.session_scope() as session:
        assert service.get(session, owner, hook.webhook.id).disabled_reason == (
            "The endpoint answered 410 Gone."
        )
        with pytest.raises(Conflict, match="disabled"):
            service.retry(session, owner, hook.webhook.id, found.id)
    with db.session_scope() as session:
        service.update(session, owner, hook.webhook.id, WebhookUpdate(is_active=True))
    with db.session_scope() as session:
        retried = service.retry(session, owner, hook.webhook.id, found.id)
    assert retried.status == "pending"
    assert dispatched(sent_messages, "webhooks")[-1] == {"delivery_id": str(found.id), "attempt": 2}
    with db.session_scope() as session, pytest.raises(Conflict, match="pending"):
        service.retry(session, owner, hook.webhook.id, found.id)


def test_rotation_signs_with_both_secrets_during_the_overlap(make_user, sent_messages):
    owner = make_user()
    hook = register(owner)
    with db.session_scope() as session:
        new = service.rotate_secret(session, owner, hook.webhook.id).secret
    ready_event(owner)
    found = only_delivery(hook.webhook.id)
    delivery.dispatch(Dispatch(delivery_id=found.id, attempt=1))
    request = SendRequest.model_validate(dispatched(sent_messages, "webhook-send")[-1])
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (hook.secret, new):  # a receiver holding either verifies it
        Webhook(secret).verify(request.body, request.headers)


def test_an_address_refused_at_delivery_is_a_failed_attempt(make_user, sent_messages):
    owner = make_user()
    hook = register(owner)
    with db.session_scope() as session:  # as if the name now resolved elsewhere
        row = session.get(WebhookEndpoint, hook.webhook.id)
        assert row is not None
        row.url = "http://169.254.169.254/latest/meta-data/"
    ready_event(owner)
    found = only_delivery(hook.webhook.id)
    assert delivery.dispatch(Dispatch(delivery_id=found.id, attempt=1)) == "refused"
    assert dispatched(sent_messages, "webhook-send") == []  # no call was prepared
    after = only_delivery(hook.webhook.id)
    assert (after.status, after.attempts) == ("pending", 1)
    assert (after.last_error or "").startswith("refused")


def test_admin_endpoints_get_every_users_user_events(make_user):
    admin, member = make_user("admin"), make_user()
    admin_hook = register(admin, events=("user.updated",))
    own_hook = register(member, events=("user.updated",))
    register(admin, events=("document.ready",))
    with db.session_scope() as session:
        made = emit(session, "user.updated", owner_id=member.user_id, data={"user_id": "x"})
    assert made == 2
    assert only_delivery(admin_hook.webhook.id).event == "user.updated"
    assert only_delivery(own_hook.webhook.id).event == "user.updated"
    # but a member's endpoint never hears of another member
    with db.session_scope() as session:
        assert emit(session, "user.updated", owner_id=admin.user_id, data={}) == 1


def test_every_non_public_form_is_refused_again_at_delivery(make_user, sent_messages, monkeypatch):
    # Given an endpoint registered on a loopback receiver, then (as after DNS rebinding or a
    # direct change) pointed at each non-public spelling in turn, loopback no longer allowed
    from tests.unit.test_webhook_ssrf import REFUSED_LITERALS, REFUSED_NAMES

    owner = make_user()
    hook = register(owner)
    monkeypatch.setenv("WEBHOOKS_ALLOW_LOOPBACK", "0")
    reset_settings()
    forms = [(url, {}) for url in REFUSED_LITERALS] + [
        (url, {url.split("/")[2]: answer}) for url, answer in REFUSED_NAMES.items()
    ]
    assert len(forms) >= 20
    for url, answers in forms:
        with db.session_scope() as session:
            row = session.get(WebhookEndpoint, hook.webhook.id)
            assert row is not None
            row.url = url
            emit(session, "document.ready", owner_id=owner.user_id, data={})
        with db.session_scope() as session:
            (pending,) = session.scalars(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.endpoint_id == hook.webhook.id,
                    WebhookDelivery.attempts == 0,
                )
            )
        # When the dispatcher takes the attempt, Then it is refused before any call is made
        resolver = lambda host, port, answers=answers: answers.get(host, [])  # noqa: E731
        outcome = delivery.dispatch(Dispatch(delivery_id=pending, attempt=1), resolver=resolver)
        assert outcome == "refused", url
    assert dispatched(sent_messages, "webhook-send") == []


def test_an_attempt_without_an_outcome_is_failed_by_maintenance_and_a_late_send_is_dropped(
    make_user, sent_messages
):
    from datetime import timedelta

    owner = make_user()
    hook = register(owner)
    ready_event(owner)
    found = only_delivery(hook.webhook.id)
    delivery.dispatch(Dispatch(delivery_id=found.id, attempt=1))
    request = SendRequest.model_validate(dispatched(sent_messages, "webhook-send")[-1])
    # Given the call was never made (the sender died), when maintenance runs in time, nothing
    assert delivery.settle_stalled(now=db_now()) == 0
    # When it runs past the stall limit, Then the attempt counts as failed and is retried
    later = db_now() + delivery.STALLED_AFTER + timedelta(seconds=1)
    assert delivery.settle_stalled(now=later) == 1
    after = only_delivery(hook.webhook.id)
    assert (after.status, after.attempts, after.last_error) == (
        "pending",
        1,
        "no outcome reported",
    )
    # And the lost message, if it ever arrives, makes no call (its window has passed)
    late = request.model_copy(update={"not_after": db_now() - timedelta(seconds=1)})
    outcome = delivery.send(late)
    assert outcome.status is None and outcome.error == "expired before it could be sent"


def test_changes_are_checked_like_registration_and_deletion_takes_the_log(make_user, sent_messages):
    owner = make_user()
    hook = register(owner)
    webhook_id = hook.webhook.id
    # A URL refused on change leaves the endpoint as it was
    with db.session_scope() as session, pytest.raises(Unprocessable):
        service.update(session, owner, webhook_id, WebhookUpdate(url="http://10.0.0.1/"))
    with db.session_scope() as session:
        changed = service.update(
            session,
            owner,
            webhook_id,
            WebhookUpdate(events=["user.deleted", "user.deleted"], description="ops"),
        )
        assert (changed.url, changed.events, changed.description) == (URL, ["user.deleted"], "ops")
    with db.session_scope() as session:
        off = service.update(session, owner, webhook_id, WebhookUpdate(is_active=False))
        assert off.disabled_reason == "Disabled by its owner."
    with db.session_scope() as session:  # a disabled endpoint gets no delivery at all
        assert emit(session, "user.deleted", owner_id=owner.user_id, data={}) == 0
    with db.session_scope() as session:
        service.update(session, owner, webhook_id, WebhookUpdate(is_active=True))
        assert emit(session, "user.deleted", owner_id=owner.user_id, data={}) == 1
    with db.session_scope() as session:
        service.delete(session, owner, webhook_id)
    with db.session_scope() as session:
        left = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.endpoint_id == webhook_id)
        ).all()
        assert left == [] and session.get(WebhookEndpoint, webhook_id) is None


def test_after_the_overlap_only_the_new_secret_signs(make_user, sent_messages):
    from datetime import timedelta

    owner = make_user()
    hook = register(owner)
    with db.session_scope() as session:
        new = service.rotate_secret(session, owner, hook.webhook.id).secret
    with db.session_scope() as session:  # 24 hours later
        row = session.get(WebhookEndpoint, hook.webhook.id)
        assert row is not None and row.previous_secret_expires_at is not None
        assert row.previous_secret_expires_at - db_now() > timedelta(hours=23, minutes=59)
        row.previous_secret_expires_at = db_now() - timedelta(seconds=1)
    ready_event(owner)
    delivery.dispatch(Dispatch(delivery_id=only_delivery(hook.webhook.id).id, attempt=1))
    request = SendRequest.model_validate(dispatched(sent_messages, "webhook-send")[-1])
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(request.body, request.headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(hook.secret).verify(request.body, request.headers)


def test_deleting_a_user_tells_the_admins_endpoints_in_the_same_transaction(
    make_user, sent_messages
):
    from shared.users import service as users

    admin, member = make_user("admin"), make_user()
    admin_hook = register(admin, events=("user.deleted",))
    register(member, events=("user.deleted",))  # goes with the account
    with db.session_scope() as session:
        users.delete_user(session, admin, member.user_id)
    found = only_delivery(admin_hook.webhook.id)
    with db.session_scope() as session:
        event = session.get(WebhookEvent, found.event_id)
        assert event is not None
        payload = json.loads(event.payload)
    assert payload["type"] == "user.deleted"
    assert payload["data"] == {"user_id": str(member.user_id), "status": "deleted"}
    with db.session_scope() as session:  # the member's own endpoint is gone with it
        mine = select(WebhookEndpoint).where(WebhookEndpoint.user_id == member.user_id)
        assert session.scalars(mine).all() == []
