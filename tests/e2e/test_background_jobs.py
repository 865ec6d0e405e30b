"""Issue 5's background jobs as users meet them, through the local runner over HTTP on real
Postgres and Redis: notifications in-app and by email (SES under moto), the password reset,
`account_changed`, the purge of a deleted user, the hourly maintenance and one request id
from the HTTP request to the worker's log lines.

moto keeps the email SES accepted (``sent_messages``) but only one body of each (the HTML one
when there is one), so the ``mailbox`` fixture also records every ``SendEmail`` moto receives,
text body included, before moto handles it as usual.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
import httpx
import pytest
from sqlalchemy import func, select, update

from local.invoke import invoke
from local.lambda_context import ACCOUNT_ID, REGION
from tests.support.api import PASSWORD, Account, admin, login, unique_email

pytestmark = pytest.mark.e2e

T = TypeVar("T")

NEW_PASSWORD = "a brand new passphrase for tests"
RESET_SUBJECT = "Reset your Stratus password"
TOKEN_LINE = re.compile(r"^([A-Za-z0-9_-]{32,})$", re.MULTILINE)
NOTIFICATION_FIELDS = {"id", "kind", "subject", "body", "created_at", "read_at"}


# ---- helpers ------------------------------------------------------------------------------


def eventually(probe: Callable[[], T], *, what: str, timeout: float = 10.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {value!r}")
        time.sleep(0.1)


@dataclass(frozen=True)
class Email:
    to: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None


class Mailbox:
    """Every email the SES of the stack (moto) was asked to send during the test."""

    def __init__(self) -> None:
        self.sent: list[Email] = []

    def to(self, address: str, subject: str | None = None) -> list[Email]:
        return [
            mail
            for mail in list(self.sent)
            if address in mail.to and (subject is None or mail.subject == subject)
        ]

    def wait_for(self, address: str, subject: str | None = None, count: int = 1) -> list[Email]:
        return eventually(
            lambda: (mails := self.to(address, subject)) and len(mails) >= count and mails,
            what=f"{count} email(s) {subject or ''!r} to {address}",
        )


def ses_backend() -> Any:
    """moto's SES backend of the stack's account and region (the runner's moto is in-process)."""
    from moto.ses.models import ses_backends

    return ses_backends[ACCOUNT_ID][REGION]


def held_by_ses(address: str) -> list[Any]:
    """The messages moto's SES accepted for ``address``."""
    return [
        message
        for message in list(ses_backend().sent_messages)
        if address in (getattr(message, "destinations", None) or {}).get("ToAddresses", [])
    ]


@pytest.fixture
def mailbox(stack, monkeypatch) -> Mailbox:
    from moto.ses.responses import EmailResponse

    box = Mailbox()
    original = EmailResponse.send_email

    def recording(self: EmailResponse) -> Any:
        result = original(self)  # moto accepted it (an unverified sender raises here)
        destination = self._get_param("Destination", {}) or {}
        box.sent.append(
            Email(
                to=tuple(destination.get("ToAddresses", [])),
                subject=self._get_param("Message.Subject.Data"),
                text=self._get_param("Message.Body.Text.Data"),
                html=self._get_param("Message.Body.Html.Data"),
            )
        )
        return result

    monkeypatch.setattr(EmailResponse, "send_email", recording)
    return box


def register(client: httpx.Client, *, name: str = "Ada Lovelace", **headers: str) -> Account:
    email = unique_email("jobs")
    created = client.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "name": name},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    tokens = login(client, email, PASSWORD)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(
        created.json()["id"], email, PASSWORD, body["access_token"], body["refresh_token"]
    )


def notifications(client: httpx.Client, account: Account, **params: Any) -> dict:
    response = client.get("/notifications", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_notification(client: httpx.Client, account: Account, kind: str, count: int = 1):
    def found() -> list[dict]:
        items = [n for n in notifications(client, account, limit=100)["items"] if n["kind"] == kind]
        return items if len(items) >= count else []

    return eventually(found, what=f"{count} {kind} notification(s) of {account.email}")


def rows(model: Any, *where: Any) -> int:
    """How many rows of ``model`` match ``where``, in the stack's database (same process)."""
    from shared.platform import db

    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def queue_drained(stack, queue: str) -> bool:
    sqs = boto3.Session().client("sqs", endpoint_url=stack.moto.endpoint, region_name=REGION)
    attributes = sqs.get_queue_attributes(
        QueueUrl=stack.provisioned.queue_urls[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(value == "0" for value in attributes.values())


def wait_until_idle(stack, *queues: str) -> None:
    for queue in queues:
        eventually(lambda q=queue: queue_drained(stack, q), what=f"the {queue} queue to drain")


def s3_client(stack):
    return boto3.Session().client("s3", endpoint_url=stack.moto.endpoint, region_name=REGION)


def object_keys(stack, prefix: str) -> list[str]:
    listed = s3_client(stack).list_objects_v2(
        Bucket=stack.provisioned.buckets["uploads"], Prefix=prefix
    )
    return [item["Key"] for item in listed.get("Contents", [])]


def reset_token_from(mail: Email) -> str:
    assert mail.text is not None
    found = TOKEN_LINE.findall(mail.text)
    assert len(found) == 1, mail.text
    return found[0]


def is_problem(response: httpx.Response, status: int) -> bool:
    return (
        response.status_code == status
        and response.headers["content-type"].startswith("application/problem+json")
        and response.json()["status"] == status
    )


# ---- 1. notifications in-app and by email -------------------------------------------------


def test_registering_brings_a_welcome_notification_in_the_app_and_by_email(client, mailbox):
    # Given a new user who registers
    account = register(client, name="Ada Lovelace")

    # When the notification worker has had its turn
    welcome = wait_for_notification(client, account, "welcome")

    # Then the app lists exactly one unread welcome notification addressed to the user
    page = notifications(client, account)
    assert page["next_cursor"] is None
    assert page["items"] == welcome
    item = welcome[0]
    assert set(item) == NOTIFICATION_FIELDS
    assert uuid.UUID(item["id"])
    assert item["read_at"] is None
    assert item["subject"]
    assert "Ada Lovelace" in item["body"]
    assert datetime.fromisoformat(item["created_at"]) > datetime.now(UTC) - timedelta(minutes=1)

    # And SES holds one email to that address, with the same subject, a text and an HTML body
    [mail] = mailbox.wait_for(account.email)
    assert mail.to == (account.email,)
    assert mail.subject == item["subject"]
    # the in-app text, then a link to the web app on the runner's origin (APP_URL)
    sign_in = f"{str(client.base_url).rstrip('/')}/login"
    assert mail.text == f"{item['body']}\n\nSign in to Stratus: {sign_in}"
    assert mail.html is not None
    assert mail.html.lower().startswith("<!doctype html>")
    assert "Ada Lovelace" in mail.html
    assert f'<a href="{sign_in}">Sign in to Stratus</a>' in mail.html
    [held] = held_by_ses(account.email)
    assert held.subject == item["subject"]
    assert held.body == mail.html  # moto keeps the HTML body of a two-body email


def test_a_notification_is_marked_read_only_by_its_owner(client):
    # Given two users, each with a welcome notification
    owner, other = register(client), register(client)
    [mine] = wait_for_notification(client, owner, "welcome")
    [theirs] = wait_for_notification(client, other, "welcome")

    # When the owner marks its notification read
    read = client.post(f"/notifications/{mine['id']}/read", headers=owner.headers)

    # Then it is 204 and the notification now has read_at
    assert read.status_code == 204, read.text
    [after] = notifications(client, owner)["items"]
    assert after["id"] == mine["id"]
    assert after["read_at"] is not None
    assert datetime.fromisoformat(after["read_at"]) >= datetime.fromisoformat(after["created_at"])

    # And reading it again is 204 and changes nothing
    again = client.post(f"/notifications/{mine['id']}/read", headers=owner.headers)
    assert again.status_code == 204
    assert notifications(client, owner)["items"] == [after]

    # When the owner tries another user's notification, an unknown id, or no token at all
    foreign = client.post(f"/notifications/{theirs['id']}/read", headers=owner.headers)
    unknown = client.post(f"/notifications/{uuid.uuid4()}/read", headers=owner.headers)
    anonymous = client.post(f"/notifications/{mine['id']}/read")
    anonymous_list = client.get("/notifications")

    # Then: 404, 404 (no enumeration) and 401 with WWW-Authenticate
    assert is_problem(foreign, 404), foreign.text
    assert is_problem(unknown, 404), unknown.text
    for response in (anonymous, anonymous_list):
        assert is_problem(response, 401), response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
    # And the other user's notification is still unread
    assert notifications(client, other)["items"][0]["read_at"] is None


def test_notifications_page_newest_first_and_refuse_a_foreign_cursor(client):
    # Given a user with two notifications (welcome, then a password reset) and another user
    owner, other = register(client), register(client)
    wait_for_notification(client, owner, "welcome")
    assert client.post("/auth/password-reset", json={"email": owner.email}).status_code == 202
    wait_for_notification(client, owner, "password_reset")

    # When the owner pages one at a time
    first = notifications(client, owner, limit=1)
    second = notifications(client, owner, limit=1, cursor=first["next_cursor"])

    # Then it gets both, newest first, and the last page says so
    assert [n["kind"] for n in first["items"] + second["items"]] == ["password_reset", "welcome"]
    assert first["next_cursor"]
    assert second["next_cursor"] is None

    # When another user presents the owner's cursor, or a forged one, or a limit out of range
    foreign = client.get(
        "/notifications", params={"limit": 1, "cursor": first["next_cursor"]}, headers=other.headers
    )
    forged = client.get(
        "/notifications",
        params={"cursor": first["next_cursor"][:-4] + "AAAA"},
        headers=owner.headers,
    )
    too_small = client.get("/notifications", params={"limit": 0}, headers=owner.headers)
    too_big = client.get("/notifications", params={"limit": 101}, headers=owner.headers)

    # Then every one is a 422 problem
    for response in (foreign, forged, too_small, too_big):
        assert is_problem(response, 422), response.text


# ---- 2. the password reset ----------------------------------------------------------------


def test_the_whole_password_reset_flow_with_the_token_from_the_email(client, mailbox):
    # Given a user signed in on one device
    account = register(client)

    # When it asks for a password reset
    asked = client.post("/auth/password-reset", json={"email": account.email})

    # Then it is 202, and an email with a one-time token arrives
    assert asked.status_code == 202, asked.text
    [mail] = mailbox.wait_for(account.email, RESET_SUBJECT)
    token = reset_token_from(mail)
    assert mail.html is not None and token in mail.html
    # And it links to the web app's reset page on the runner's origin, the token in the fragment
    link = f"{str(client.base_url).rstrip('/')}/reset-password#token={token}"
    assert f"Choose a new password: {link}" in mail.text
    assert f'<a href="{link}">Choose a new password</a>' in mail.html

    # And the in-app notification says the same, but without the token
    [in_app] = wait_for_notification(client, account, "password_reset")
    assert in_app["subject"] == RESET_SUBJECT
    assert token not in in_app["body"]
    assert token not in in_app["subject"]

    # When the token and a new password are confirmed
    confirmed = client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    # Then it is 204: the new password works, the old one does not
    assert confirmed.status_code == 204, confirmed.text
    assert login(client, account.email, NEW_PASSWORD).status_code == 200
    assert login(client, account.email, PASSWORD).status_code == 401
    # And the sessions from before are over
    assert client.get("/auth/me", headers=account.headers).status_code == 401
    spent = client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert spent.status_code == 401
    # And the token cannot be used twice
    reused = client.post(
        "/auth/password-reset/confirm",
        json={"token": token, "new_password": "yet another password"},
    )
    assert is_problem(reused, 400), reused.text
    assert login(client, account.email, NEW_PASSWORD).status_code == 200
    # And the user is told its account changed, in the app and by email
    fresh = login(client, account.email, NEW_PASSWORD).json()
    account.access_token = fresh["access_token"]
    [changed] = wait_for_notification(client, account, "account_changed")
    assert "reset" in changed["body"]
    mailbox.wait_for(account.email, changed["subject"])


def test_an_expired_or_unknown_reset_token_is_refused(client, mailbox):
    from shared.auth.models import PasswordResetToken
    from shared.auth.tokens import hash_token
    from shared.platform import db

    # Given a user whose emailed reset token has expired
    account = register(client)
    assert client.post("/auth/password-reset", json={"email": account.email}).status_code == 202
    token = reset_token_from(mailbox.wait_for(account.email, RESET_SUBJECT)[0])
    with db.session_scope() as session:
        expired = session.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.token_hash == hash_token(token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        assert expired.rowcount == 1  # type: ignore[attr-defined]

    # When it confirms with the expired token, or with a token nobody issued
    late = client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    unknown = client.post(
        "/auth/password-reset/confirm",
        json={"token": "x" * 43, "new_password": NEW_PASSWORD},
    )

    # Then both are 400, and the password has not changed
    assert is_problem(late, 400), late.text
    assert is_problem(unknown, 400), unknown.text
    assert login(client, account.email, PASSWORD).status_code == 200
    assert login(client, account.email, NEW_PASSWORD).status_code == 401


def test_a_reset_for_an_unknown_email_sends_nothing_and_takes_as_long(client, stack, mailbox):
    from shared.auth.models import PasswordResetToken

    # Given a quiet stack and an email that has no account
    ghost = unique_email("ghost")
    wait_until_idle(stack, "ingest", "notifications")
    sent_before = ses_backend().sent_message_count
    tokens_before = rows(PasswordResetToken)

    # When someone asks for a reset of that email
    asked = client.post("/auth/password-reset", json={"email": ghost})

    # Then it is 202 like any other, and once the worker is done no email went anywhere
    assert asked.status_code == 202, asked.text
    assert asked.content == b""
    wait_until_idle(stack, "notifications")
    assert ses_backend().sent_message_count == sent_before
    assert mailbox.to(ghost) == []
    assert rows(PasswordResetToken) == tokens_before

    # And the answer takes about as long as for an existing account (median of 5 each)
    account = register(client)
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(5):
        for label, email in (("known", account.email), ("unknown", unique_email("ghost"))):
            started = time.perf_counter()
            response = client.post("/auth/password-reset", json={"email": email})
            timings[label].append(time.perf_counter() - started)
            assert response.status_code == 202
    ratio = statistics.median(timings["known"]) / statistics.median(timings["unknown"])
    assert 0.5 <= ratio <= 2, timings


def test_password_reset_mails_are_throttled_to_three_an_hour_per_address(client, mailbox, stack):
    from shared.auth.models import PasswordResetToken
    from shared.platform import db

    # Given an account
    account = register(client)
    mine = PasswordResetToken.user_id == uuid.UUID(account.id)

    # When someone asks for its password reset five times in a row
    answers = [client.post("/auth/password-reset", json={"email": account.email}) for _ in range(5)]

    # Then every answer is the same 202, but only three emails (and tokens) were issued
    assert [(a.status_code, a.content) for a in answers] == [(202, b"")] * 5
    wait_until_idle(stack, "notifications")
    assert len(mailbox.to(account.email, RESET_SUBJECT)) == 3
    assert rows(PasswordResetToken, mine) == 3

    # And the count is kept in Postgres: a Redis that lost everything changes nothing
    import redis as redis_py

    redis_py.Redis.from_url(stack.config.redis_url).flushdb()  # the test's own logical db
    assert client.post("/auth/password-reset", json={"email": account.email}).status_code == 202
    wait_until_idle(stack, "notifications")
    assert len(mailbox.to(account.email, RESET_SUBJECT)) == 3

    # And once the hour has passed since those three, a request mails again
    with db.session_scope() as session:
        session.execute(
            update(PasswordResetToken)
            .where(mine)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=61))
        )
    assert client.post("/auth/password-reset", json={"email": account.email}).status_code == 202
    mailbox.wait_for(account.email, RESET_SUBJECT, count=4)


# ---- 3. account_changed -------------------------------------------------------------------


def test_account_changes_are_notified_even_to_a_deactivated_user(client, mailbox):
    from shared.notifications.models import Notification

    boss = admin(client)
    # Given a user who changes its own password
    account = register(client)
    changed = client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=account.headers,
    )
    assert changed.status_code == 204, changed.text
    account.access_token = login(client, account.email, NEW_PASSWORD).json()["access_token"]

    # Then an account_changed notification says so, in the app and by email
    [password] = wait_for_notification(client, account, "account_changed")
    assert "password was changed" in password["body"]
    mailbox.wait_for(account.email, password["subject"])

    # When an admin makes the user a viewer
    demoted = client.patch(f"/users/{account.id}", json={"role": "viewer"}, headers=boss.headers)
    assert demoted.status_code == 200, demoted.text

    # Then the user, signed in again, is told of its new role
    account.access_token = login(client, account.email, NEW_PASSWORD).json()["access_token"]
    role = wait_for_notification(client, account, "account_changed", count=2)
    assert "viewer" in role[0]["body"]
    assert [n["id"] for n in role[1:]] == [password["id"]]

    # When the admin deactivates the user
    deactivated = client.patch(
        f"/users/{account.id}", json={"is_active": False}, headers=boss.headers
    )
    assert deactivated.status_code == 200, deactivated.text

    # Then the user can no longer read anything
    assert client.get("/notifications", headers=account.headers).status_code == 401
    assert login(client, account.email, NEW_PASSWORD).status_code == 401
    # But the notification is stored for it, and emailed
    user_id = uuid.UUID(account.id)
    eventually(
        lambda: (
            rows(
                Notification,
                Notification.user_id == user_id,
                Notification.kind == "account_changed",
            )
            == 3
        ),
        what="the third account_changed record",
    )
    from shared.platform import db

    with db.session_scope() as session:
        newest = session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at.desc())
        ).first()
        assert newest is not None
        assert newest.kind == "account_changed"
        assert "deactivated" in newest.body
        subject = newest.subject
    mails = mailbox.wait_for(account.email, subject, count=3)
    assert any(mail.text and "deactivated" in mail.text for mail in mails)


# ---- 4. deleting a user purges its data ---------------------------------------------------


def ready_document(client: httpx.Client, account: Account, title: str, text: str) -> dict:
    created = client.post(
        "/documents/text", json={"title": title, "text": text}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    document_id = created.json()["id"]

    def ready() -> dict | None:
        body = client.get(f"/documents/{document_id}", headers=account.headers).json()
        assert body["status"] != "failed", body
        return body if body["status"] == "ready" else None

    return eventually(ready, what=f"document {title!r} to be ready", timeout=30)


def footprint(stack, user_id: str) -> dict[str, int]:
    """Everything of ``user_id`` in the database and S3."""
    from shared.auth.models import PasswordResetToken, RefreshToken
    from shared.documents.models import Chunk, Document
    from shared.notifications.models import Notification
    from tests.support.services import stored_vectors

    owner = uuid.UUID(user_id)
    return {
        "documents": rows(Document, Document.owner_id == owner),
        "chunks": rows(Chunk, Chunk.owner_id == owner),
        "chunk_vectors": stored_vectors(user_id),
        "notifications": rows(Notification, Notification.user_id == owner),
        "refresh_tokens": rows(RefreshToken, RefreshToken.user_id == owner),
        "password_reset_tokens": rows(PasswordResetToken, PasswordResetToken.user_id == owner),
        "objects": len(object_keys(stack, f"uploads/{owner}/")),
    }


def search(client: httpx.Client, account: Account, query: str) -> list[dict]:
    response = client.post("/search", json={"query": query}, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_deleting_a_user_leaves_nothing_of_it(client, stack):
    # Given a user with two ready documents and its notifications, and a neighbour with one
    leaving, staying = register(client), register(client)
    ready_document(client, leaving, "Invoice", "Invoice 1042 from Northwind Traders is overdue.")
    ready_document(client, leaving, "Hiking", "The ridge trail above the glacier lake at dawn.")
    kept = ready_document(client, staying, "Budget", "The quarterly budget review of travel costs.")
    wait_for_notification(client, leaving, "document_ready", count=2)
    assert client.post("/auth/password-reset", json={"email": leaving.email}).status_code == 202
    wait_for_notification(client, leaving, "password_reset")
    before = footprint(stack, leaving.id)
    assert before["documents"] == 2 and before["objects"] == 2, before
    assert before["chunks"] > 0 and before["chunk_vectors"] > 0, before
    assert before["notifications"] == 4 and before["refresh_tokens"] >= 1, before
    neighbour = footprint(stack, staying.id)
    found = search(client, staying, "quarterly budget travel")
    assert [r["document_id"] for r in found] == [kept["id"]]

    # When the user deletes itself
    deleted = client.delete(f"/users/{leaving.id}", headers=leaving.headers)

    # Then it is 204, and within seconds nothing of it is left in the database or S3
    assert deleted.status_code == 204, deleted.text
    empty = dict.fromkeys(before, 0)
    eventually(lambda: footprint(stack, leaving.id) == empty, what="the purge")
    assert client.get("/auth/me", headers=leaving.headers).status_code == 401
    # And the neighbour keeps everything, and its search finds the same
    assert footprint(stack, staying.id) == neighbour
    assert search(client, staying, "quarterly budget travel") == found

    # When the purge message is delivered again
    event = {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "again",
                "body": f'{{"user_id": "{leaving.id}"}}',
                "attributes": {"ApproximateReceiveCount": "2"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:purge",
                "awsRegion": REGION,
            }
        ]
    }
    again = invoke(stack.registry["users-purge"], event, quiet=True)

    # Then it succeeds and changes nothing
    assert again.error is None, again.error
    assert again.result == {"batchItemFailures": []}
    assert footprint(stack, leaving.id) == empty
    assert footprint(stack, staying.id) == neighbour
    assert search(client, staying, "quarterly budget travel") == found


# ---- 5. the maintenance job ---------------------------------------------------------------


def run_maintenance(client: httpx.Client) -> dict:
    response = client.post("/__local/jobs/system-maintenance")
    assert response.status_code == 200, response.text
    return response.json()["result"]


CLEANED = (
    "refresh_tokens",
    "reset_tokens",
    "revoked_tokens",
    "abandoned_documents",
    "stalled_webhook_attempts",
)


def test_maintenance_removes_exactly_what_expired_or_was_abandoned(client, stack):
    from shared.auth.models import PasswordResetToken, RefreshToken, RevokedToken
    from shared.documents.models import Document
    from shared.platform import db

    account = register(client)
    owner = uuid.UUID(account.id)
    now = datetime.now(UTC)
    run_maintenance(client)  # what earlier tests left behind goes first

    # Given objects uploaded for two documents (the ingest worker ignores them: no row yet)
    old_doc, young_doc = uuid.uuid4(), uuid.uuid4()
    old_key, young_key = f"uploads/{owner}/{old_doc}", f"uploads/{owner}/{young_doc}"
    for key in (old_key, young_key):
        s3_client(stack).put_object(
            Bucket=stack.provisioned.buckets["uploads"], Key=key, Body=b"late upload"
        )
    wait_until_idle(stack, "ingest")
    # And tokens and pending uploads of every age
    ids: dict[str, uuid.UUID] = {
        name: uuid.uuid4()
        for name in (
            "refresh_expired",
            "refresh_valid",
            "reset_expired",
            "reset_used",
            "reset_valid",
            "reset_recent",
        )
    }

    def refresh(name: str, expires: datetime) -> RefreshToken:
        return RefreshToken(
            id=ids[name],
            user_id=owner,
            family_id=uuid.uuid4(),
            token_hash=uuid.uuid4().hex * 2,
            expires_at=expires,
        )

    def reset(
        name: str, expires: datetime, used: datetime | None = None, issued: datetime | None = None
    ) -> PasswordResetToken:
        return PasswordResetToken(
            id=ids[name],
            user_id=owner,
            token_hash=uuid.uuid4().hex * 2,
            created_at=issued or now - timedelta(minutes=10),
            expires_at=expires,
            used_at=used,
        )

    def pending(document_id: uuid.UUID, key: str, age: timedelta) -> Document:
        return Document(
            id=document_id,
            owner_id=owner,
            title="Never uploaded",
            filename="late.txt",
            content_type="text/plain",
            size_bytes=11,
            s3_key=key,
            status="pending_upload",
            created_at=now - age,
            updated_at=now - age,
        )

    with db.session_scope() as session:
        session.add_all(
            [
                refresh("refresh_expired", now - timedelta(minutes=1)),
                refresh("refresh_valid", now + timedelta(days=1)),
                # reset tokens issued over an hour ago (the reset throttle's window), expired
                # or used; one that expired recently is kept: the throttle still counts it
                reset(
                    "reset_expired", now - timedelta(minutes=31), issued=now - timedelta(minutes=61)
                ),
                reset(
                    "reset_used",
                    now - timedelta(minutes=31),
                    used=now - timedelta(minutes=50),
                    issued=now - timedelta(minutes=61),
                ),
                reset("reset_valid", now + timedelta(minutes=20)),
                reset("reset_recent", now - timedelta(minutes=1)),
                pending(old_doc, old_key, timedelta(hours=25)),
                pending(young_doc, young_key, timedelta(hours=1)),
                # logged-out access tokens: one expired (past the leeway), one still live
                RevokedToken(
                    jti="denied-expired", user_id=owner, expires_at=now - timedelta(minutes=2)
                ),
                RevokedToken(
                    jti="denied-live", user_id=owner, expires_at=now + timedelta(minutes=10)
                ),
            ]
        )

    # When the hourly job runs
    counts = run_maintenance(client)

    # Then it reports what it removed
    # (and the stuck documents it queued again or failed: tests/e2e/test_ingest_recovery.py;
    # other modules' documents on this database may count there)
    assert {"requeued_documents", "failed_documents"} <= set(counts)
    assert {k: counts[k] for k in CLEANED} == {
        "refresh_tokens": 1,
        "reset_tokens": 2,
        "revoked_tokens": 1,
        "abandoned_documents": 1,
        "stalled_webhook_attempts": 0,
    }

    # And exactly those are gone, with the abandoned document's object
    def exists(model: Any, key: Any) -> bool:
        with db.session_scope() as session:
            return session.get(model, key) is not None

    assert not exists(RefreshToken, ids["refresh_expired"])
    assert exists(RefreshToken, ids["refresh_valid"])
    assert not exists(PasswordResetToken, ids["reset_expired"])
    assert not exists(PasswordResetToken, ids["reset_used"])
    assert exists(PasswordResetToken, ids["reset_valid"])
    assert exists(PasswordResetToken, ids["reset_recent"])  # the throttle counts it still
    assert not exists(RevokedToken, "denied-expired")
    assert exists(RevokedToken, "denied-live")
    assert not exists(Document, old_doc)
    assert exists(Document, young_doc)
    assert object_keys(stack, old_key) == []
    assert object_keys(stack, young_key) == [young_key]
    # And the user's own session is untouched
    assert client.get("/auth/me", headers=account.headers).status_code == 200
    # And a second run finds nothing more to do
    again = run_maintenance(client)
    assert {k: again[k] for k in CLEANED} == {
        "refresh_tokens": 0,
        "reset_tokens": 0,
        "revoked_tokens": 0,
        "abandoned_documents": 0,
        "stalled_webhook_attempts": 0,
    }


# ---- 6. one request id end to end ---------------------------------------------------------


@pytest.fixture
def info_logs(stack) -> Callable[[], list[dict]]:
    """The functions' JSON log lines from INFO up: the runner's function log, where each
    function's own process writes them (local/telemetry.py)."""
    import json

    from local import outputs

    path = stack.config.state_dir / outputs.LOG_NAME

    def lines() -> list[dict]:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    return lines


def test_one_request_id_from_the_request_to_the_worker(client, info_logs):
    from shared.notifications.models import Notification
    from shared.platform import db

    # Given a client that names its request
    trace = f"trace-{uuid.uuid4()}"

    # When it registers with that X-Request-Id
    created = client.post(
        "/auth/register",
        json={"email": unique_email("trace"), "password": PASSWORD, "name": "Trace"},
        headers={"X-Request-Id": trace},
    )

    # Then the answer carries the id
    assert created.status_code == 201, created.text
    assert created.headers["x-request-id"] == trace
    user_id = uuid.UUID(created.json()["id"])

    # And the welcome notification stored by the worker records it
    def stored() -> str | None:
        with db.session_scope() as session:
            notification = session.scalars(
                select(Notification).where(Notification.user_id == user_id)
            ).first()
            return notification.request_id if notification else None

    assert eventually(stored, what="the welcome notification") == trace

    # And the worker logged that message under the same correlation id
    def worker_line() -> dict | None:
        return next(
            (
                line
                for line in info_logs()
                if line.get("message") == "Record processed" and line.get("correlation_id") == trace
            ),
            None,
        )

    processed = eventually(worker_line, what="the worker's log line for the message")
    # And it was the message the request queued, carrying the id as an attribute (the worker
    # falls back to the message id when the attribute is missing)
    queued = [
        line
        for line in info_logs()
        if line.get("message") == "Message queued" and line.get("correlation_id") == trace
    ]
    assert [(q["queue"], q["message_id"]) for q in queued] == [
        ("notifications", processed["message_id"])
    ]
    assert processed["message_id"] != trace
    assert all(
        line["correlation_id"] == trace
        for line in info_logs()
        if line.get("message_id") == processed["message_id"]
    )
