"""Events that take each function's success path, on data made for them.

The benchmark's requests must do the work a user's would: a valid token (the authorizer's own
context for it), ids that exist and belong to the caller, a fresh email to register, a refresh
token not spent yet. :class:`Fixtures` makes that data through the real handlers (in process,
against the runner's moto, Postgres and Redis); :data:`SCENARIOS` builds one event per call.
Routes that consume what they are given (delete, logout, refresh, a password change, a reset)
get fresh data for every event. Webhooks are sent to a receiver the bench runs on loopback
(:attr:`Fixtures.receiver`).
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.registry import REPO_ROOT, Registry
from local.events import authorizer_event, http_event, queue_event, schedule_event
from local.invoke import invoke

PASSWORD = "correct horse battery staple"


@dataclass
class Account:
    id: str
    email: str
    access_token: str
    refresh_token: str
    authorizer: dict[str, Any]  # requestContext.authorizer, as the authorizer returned it


class Fixtures:
    """Data for the success paths, made through the real handlers."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._member: Account | None = None
        self._admin: Account | None = None
        self._document: str | None = None
        self._notification: str | None = None
        self._password_hash: str | None = None
        self._receiver: str | None = None
        self._shared_webhook: tuple[Account, str] | None = None
        self._delivery_owner: Account | None = None
        self._prepared_call: dict[str, Any] | None = None

    # ---- calls ------------------------------------------------------------------------------

    def call(self, name: str, event: dict[str, Any]) -> Any:
        outcome = invoke(self.registry[name], event, quiet=True)
        if outcome.error is not None:
            raise RuntimeError(f"{name}: {outcome.error}")
        result = outcome.result
        if isinstance(result, dict) and int(result.get("statusCode", 200)) >= 400:
            raise RuntimeError(f"{name}: {result['statusCode']} {result.get('body')}")
        return result

    def http(
        self,
        name: str,
        *,
        account: Account | None = None,
        params: dict[str, str] | None = None,
        body: Any = None,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The event of route ``name`` as API Gateway would send it for ``account``."""
        event = http_event(self.registry[name])
        path = self.registry[name].function.route.path  # type: ignore[attr-defined]
        for key, value in (params or {}).items():
            path = path.replace("{" + key + "}", value)
        event["path"] = path
        event["requestContext"]["path"] = f"/local{path}"
        event["pathParameters"] = params or None
        event["body"] = None if body is None else json.dumps(body)
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = (
            {k: [v] for k, v in query.items()} if query else None
        )
        event["headers"].pop("Authorization", None)
        event["multiValueHeaders"].pop("Authorization", None)
        event["requestContext"].pop("authorizer", None)
        if account is not None:
            event["headers"]["Authorization"] = f"Bearer {account.access_token}"
            event["multiValueHeaders"]["Authorization"] = [f"Bearer {account.access_token}"]
            event["requestContext"]["authorizer"] = dict(account.authorizer)
        event["requestContext"]["requestId"] = str(uuid.uuid4())
        return event

    def _body(self, result: dict[str, Any]) -> Any:
        return json.loads(result["body"]) if result.get("body") else None

    # ---- accounts -------------------------------------------------------------------------------

    def account(self, role: str = "member") -> Account:
        """A new account with ``role``, logged in, with the authorizer's context for its token.

        Made in the database as registering makes it, with one password hash computed once for
        every account (an Argon2 hash costs a tenth of a second and more: making hundreds of
        fresh accounts that way was the run's largest cost, and none of it is measured)."""
        from shared.platform import db
        from shared.users import repository
        from shared.users.models import User

        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        with db.session_scope() as session:
            user = User(email=email, name="B", password_hash=self.password_hash, role=role)
            repository.add(session, user)
            session.flush()
            user_id = str(user.id)
        return self.login(email, user_id)

    @property
    def password_hash(self) -> str:
        if self._password_hash is None:
            from shared.auth.passwords import hash_password

            self._password_hash = hash_password(PASSWORD)
        return self._password_hash

    def login(self, email: str, user_id: str) -> Account:
        """A new session of the account, as the login route issues it (without verifying the
        password again: the login route's own calls are measured, these only need tokens)."""
        from shared.auth.service import issue_session
        from shared.platform import db
        from shared.users.models import User

        with db.session_scope() as session:
            user = session.get(User, uuid.UUID(user_id))
            assert user is not None and user.email == email
            pair = issue_session(session, user)
        return Account(
            user_id,
            email,
            pair.access_token,
            pair.refresh_token,
            self.authorize(pair.access_token),
        )

    def authorize(self, token: str) -> dict[str, Any]:
        event = authorizer_event(self.registry["auth-authorizer"])
        event["authorizationToken"] = f"Bearer {token}"
        policy = self.call("auth-authorizer", event)
        return {"principalId": policy["principalId"], **policy["context"]}

    @property
    def admin(self) -> Account:
        """The first admin (made in the database directly: registering makes members)."""
        if self._admin is None:
            from shared.platform import db
            from shared.users.service import ensure_admin

            email = f"bench-admin-{uuid.uuid4().hex[:8]}@example.com"
            with db.session_scope() as session:
                ensure_admin(session, email=email, password=PASSWORD)
            from shared.users import repository

            with db.session_scope() as session:
                user = repository.by_email(session, email)
                assert user is not None
                user_id = str(user.id)
            self._admin = self.login(email, user_id)
        return self._admin

    @property
    def member(self) -> Account:
        if self._member is None:
            self._member = self.account()
        return self._member

    # ---- documents and notifications -----------------------------------------------------------

    def document(self, owner: Account | None = None) -> str:
        """A new text document of ``owner`` (its object is in S3)."""
        created = self.call(
            "documents-create-text",
            self.http(
                "documents-create-text",
                account=owner or self.member,
                body={"title": "Bench", "text": "The invoice is overdue and unpaid."},
            ),
        )
        return str(self._body(created)["id"])

    @property
    def shared_document(self) -> str:
        if self._document is None:
            self._document = self.document()
        return self._document

    def notification(self, owner: Account | None = None) -> str:
        from shared.notifications.messages import Notify
        from shared.notifications.service import deliver

        account = owner or self.member
        deliver(Notify(id=uuid.uuid4(), user_id=uuid.UUID(account.id), kind="welcome"))
        listed = self.call("notifications-list", self.http("notifications-list", account=account))
        return str(self._body(listed)["items"][0]["id"])

    @property
    def shared_notification(self) -> str:
        if self._notification is None:
            self._notification = self.notification()
        return self._notification

    # ---- webhooks ------------------------------------------------------------------------------

    @property
    def receiver(self) -> str:
        """The URL of the bench's webhook receiver: ``make webhook-listen``'s, in a process of
        its own (the fixtures' work does not delay its answers) on a free loopback port,
        answering 200 to every call.

        The probes may connect to loopback only, and a loopback URL is what the local stage
        allows with ``WEBHOOKS_ALLOW_LOOPBACK=1``, as ``make local`` and the end-to-end tests
        turn it on. It is set here, before the first webhook call (the fixtures' own, in this
        process, and every probe's: they inherit this environment)."""
        if self._receiver is None:
            from local.runner import free_port
            from shared.platform.settings import reset_settings

            port = free_port()
            env = {k: v for k, v in os.environ.items() if k != "WEBHOOK_SECRET"}
            listener = subprocess.Popen(
                [sys.executable, "-m", "local.webhook_listen"],
                env={**env, "WEBHOOK_PORT": str(port), "PYTHONPATH": str(REPO_ROOT)},
                cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL,  # one line per call: never read, never full
            )
            atexit.register(_stop, listener)
            _wait_for_port(port, listener)
            os.environ["WEBHOOKS_ALLOW_LOOPBACK"] = "1"
            reset_settings()
            self._receiver = f"http://127.0.0.1:{port}/hook"
        return self._receiver

    def webhook(self, owner: Account) -> str:
        """A new endpoint of ``owner`` for ``user.updated`` on :attr:`receiver` (registered
        through the real handler): its id."""
        created = self.call(
            "webhooks-create",
            self.http(
                "webhooks-create",
                account=owner,
                body={"url": self.receiver, "events": ["user.updated"], "description": "Bench"},
            ),
        )
        return str(self._body(created)["webhook"]["id"])

    def _shared(self) -> tuple[Account, str]:
        if self._shared_webhook is None:
            owner = self.account()
            webhook = self.webhook(owner)
            for _ in range(3):
                self.delivery(owner)
            self._shared_webhook = owner, webhook
        return self._shared_webhook

    @property
    def webhook_owner(self) -> Account:
        """The owner of :attr:`shared_webhook`, made with it; not :attr:`member`, whose
        changes (measured by other routes) would then emit events to it."""
        return self._shared()[0]

    @property
    def shared_webhook(self) -> str:
        """An endpoint of :attr:`webhook_owner` with three deliveries in its log."""
        return self._shared()[1]

    @property
    def delivery_owner(self) -> Account:
        """The account whose one endpoint receives the workers' deliveries (apart from
        :attr:`shared_webhook`: the dispatcher locks its endpoint as the routes do)."""
        if self._delivery_owner is None:
            account = self.account()
            self.webhook(account)
            self._delivery_owner = account
        return self._delivery_owner

    def delivery(self, owner: Account) -> str:
        """A new delivery to ``owner``'s endpoint, its first attempt due, as a change of the
        account emits it (``shared.users.service``, in the change's transaction): its id."""
        from sqlalchemy import select

        from shared.platform import db
        from shared.webhooks.events import emit
        from shared.webhooks.models import WebhookDelivery, WebhookEndpoint

        user_id = uuid.UUID(owner.id)
        data = {"user_id": owner.id, "role": "member", "is_active": True, "status": "updated"}
        with db.session_scope() as session:
            if emit(session, "user.updated", owner_id=user_id, data=data) != 1:
                raise RuntimeError(f"the account {owner.id} has not exactly one webhook")
            newest = session.scalars(
                select(WebhookDelivery.id)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookEndpoint.user_id == user_id)
                .order_by(WebhookDelivery.created_at.desc())
                .limit(1)
            ).one()
        return str(newest)

    def dispatched(self, owner: Account) -> str:
        """A new delivery to ``owner``'s endpoint whose first attempt the real dispatcher
        claimed, signed and handed to the sender (``sending``): its id."""
        from shared.webhooks import delivery
        from shared.webhooks.messages import Dispatch

        delivery_id = self.delivery(owner)
        what = delivery.dispatch(Dispatch(delivery_id=uuid.UUID(delivery_id), attempt=1))
        if what != "sent":
            raise RuntimeError(f"webhooks-dispatch of {delivery_id}: {what}")
        return delivery_id

    @property
    def prepared_call(self) -> dict[str, Any]:
        """The call the dispatcher prepared for the sender (its outbox row for
        ``webhook-send``: the approved loopback address, the signed headers, the body), valid
        for an hour rather than the dispatcher's five minutes: the bench makes its events long
        before it sends them, and the sender makes no call past ``not_after``."""
        if self._prepared_call is None:
            from sqlalchemy import select

            from shared.platform import db
            from shared.platform.outbox import OutboxRow, QueueMessage
            from shared.webhooks.messages import SEND_QUEUE, SendRequest

            delivery_id = self.dispatched(self.delivery_owner)
            with db.session_scope() as session:
                row = session.scalars(
                    select(OutboxRow.payload).where(OutboxRow.payload.contains(f"{delivery_id}:1"))
                ).one()
            message = QueueMessage.model_validate_json(row)
            assert message.queue == SEND_QUEUE
            request = SendRequest.model_validate_json(message.body).model_copy(
                update={"not_after": datetime.now(UTC) + timedelta(hours=1)}
            )
            self._prepared_call = request.model_dump(mode="json")
        return self._prepared_call

    def failed_delivery(self) -> tuple[Account, str, str]:
        """A fresh account, its endpoint and a delivery to it that failed (the receiver's 410
        Gone, recorded by the real recorder, disabled the endpoint; its owner enabled it again
        since): what a retry is for."""
        from shared.webhooks import delivery
        from shared.webhooks.messages import Outcome

        owner = self.account()
        endpoint_id = self.webhook(owner)
        delivery_id = self.dispatched(owner)
        gone = Outcome(delivery_id=uuid.UUID(delivery_id), attempt=1, status=410)
        if (what := delivery.record(gone)) != "gone":
            raise RuntimeError(f"webhooks-record of {delivery_id}: {what}")
        self.call(
            "webhooks-update",
            self.http(
                "webhooks-update",
                account=owner,
                params={"id": endpoint_id},
                body={"is_active": True},
            ),
        )
        return owner, endpoint_id, delivery_id

    def reset_token(self, account: Account) -> str:
        from shared.auth.service import issue_reset_token
        from shared.platform import db

        with db.session_scope() as session:
            issued = issue_reset_token(session, email=account.email, token_id=uuid.uuid4())
        assert issued is not None
        return issued[1]

    def s3_key(self, document_id: str) -> str:
        from shared.documents.models import Document
        from shared.platform import db

        with db.session_scope() as session:
            document = session.get(Document, uuid.UUID(document_id))
            assert document is not None
            return str(document.s3_key)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 15.0) -> None:
    """Return once something accepts connections on ``port`` of 127.0.0.1."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the webhook receiver did not listen on {port}") from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)


# ---- one event per call, per function ---------------------------------------------------------

Scenario = Callable[[Fixtures], dict[str, Any]]


def _queue(fx: Fixtures, name: str, body: dict[str, Any]) -> dict[str, Any]:
    event = queue_event(fx.registry[name])
    event["Records"][0]["body"] = json.dumps(body)
    event["Records"][0]["messageId"] = str(uuid.uuid4())
    return event


def _ingest(fx: Fixtures) -> dict[str, Any]:
    import os

    key = fx.s3_key(fx.document())
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": os.environ["UPLOADS_BUCKET"]},
            "object": {"key": key, "size": 34},
        },
    }
    return _queue(fx, "documents-ingest", {"Records": [record]})


def _purge(fx: Fixtures) -> dict[str, Any]:
    victim = fx.account()
    fx.document(victim)
    fx.call(
        "users-delete",
        fx.http("users-delete", account=fx.admin, params={"id": victim.id}),
    )
    return _queue(fx, "users-purge", {"user_id": victim.id})


def _reset_confirm(fx: Fixtures) -> dict[str, Any]:
    account = fx.account()
    return fx.http(
        "auth-password-reset-confirm",
        body={"token": fx.reset_token(account), "new_password": PASSWORD + " again"},
    )


def _webhook_delete(fx: Fixtures) -> dict[str, Any]:
    owner = fx.account()  # a fresh account: at most 10 webhooks each
    return fx.http("webhooks-delete", account=owner, params={"id": fx.webhook(owner)})


def _webhook_retry(fx: Fixtures) -> dict[str, Any]:
    owner, endpoint_id, delivery_id = fx.failed_delivery()
    return fx.http(
        "webhooks-retry", account=owner, params={"id": endpoint_id, "delivery_id": delivery_id}
    )


SCENARIOS: dict[str, Scenario] = {
    "system-health": lambda fx: fx.http("system-health"),
    "auth-authorizer": lambda fx: {
        **authorizer_event(fx.registry["auth-authorizer"]),
        "authorizationToken": f"Bearer {fx.member.access_token}",
    },
    "auth-register": lambda fx: fx.http(
        "auth-register",
        body={"email": f"bench-{uuid.uuid4().hex}@example.com", "password": PASSWORD, "name": "B"},
    ),
    "auth-login": lambda fx: fx.http(
        "auth-login", body={"email": fx.member.email, "password": PASSWORD}
    ),
    "auth-refresh": lambda fx: fx.http(
        "auth-refresh",
        body={"refresh_token": fx.login(fx.member.email, fx.member.id).refresh_token},
    ),
    "auth-logout": lambda fx: (
        lambda account: fx.http(
            "auth-logout", account=account, body={"refresh_token": account.refresh_token}
        )
    )(fx.login(fx.member.email, fx.member.id)),
    "auth-me": lambda fx: fx.http("auth-me", account=fx.member),
    "auth-password": lambda fx: fx.http(
        "auth-password",
        account=fx.account(),
        body={"current_password": PASSWORD, "new_password": PASSWORD + " new"},
    ),
    "auth-password-reset": lambda fx: fx.http(
        "auth-password-reset", body={"email": fx.member.email}
    ),
    "auth-password-reset-confirm": _reset_confirm,
    "users-get": lambda fx: fx.http("users-get", account=fx.member, params={"id": fx.member.id}),
    "users-list": lambda fx: fx.http("users-list", account=fx.admin, query={"limit": "5"}),
    "users-update": lambda fx: fx.http(
        "users-update", account=fx.member, params={"id": fx.member.id}, body={"name": "Bench"}
    ),
    "users-delete": lambda fx: (
        lambda victim: fx.http("users-delete", account=victim, params={"id": victim.id})
    )(fx.account()),
    "documents-create": lambda fx: fx.http(
        "documents-create",
        account=fx.member,
        body={
            "title": "Bench",
            "filename": "bench.txt",
            "content_type": "text/plain",
            "size_bytes": 42,
        },
    ),
    "documents-create-text": lambda fx: fx.http(
        "documents-create-text",
        account=fx.member,
        body={"title": "Bench", "text": "The invoice is overdue and unpaid."},
    ),
    "documents-get": lambda fx: fx.http(
        "documents-get", account=fx.member, params={"id": fx.shared_document}
    ),
    "documents-list": lambda fx: fx.http("documents-list", account=fx.member, query={"limit": "5"}),
    "documents-update": lambda fx: fx.http(
        "documents-update",
        account=fx.member,
        params={"id": fx.shared_document},
        body={"title": "Renamed"},
    ),
    "documents-download": lambda fx: fx.http(
        "documents-download", account=fx.member, params={"id": fx.shared_document}
    ),
    "documents-delete": lambda fx: fx.http(
        "documents-delete", account=fx.member, params={"id": fx.document()}
    ),
    "documents-search": lambda fx: fx.http(
        "documents-search", account=fx.member, body={"query": "unpaid invoice"}
    ),
    "notifications-list": lambda fx: fx.http(
        "notifications-list", account=fx.member, query={"limit": "5"}
    ),
    "notifications-read": lambda fx: fx.http(
        "notifications-read", account=fx.member, params={"id": fx.shared_notification}
    ),
    "notifications-deliver": lambda fx: _queue(
        fx,
        "notifications-deliver",
        {"type": "notify", "id": str(uuid.uuid4()), "user_id": fx.member.id, "kind": "welcome"},
    ),
    "webhooks-create": lambda fx: fx.http(
        "webhooks-create",
        account=fx.account(),  # a fresh account: at most 10 webhooks each
        body={"url": fx.receiver, "events": ["user.updated"], "description": "Bench"},
    ),
    "webhooks-list": lambda fx: fx.http(
        "webhooks-list", account=fx.webhook_owner, query={"limit": "5"}
    ),
    "webhooks-get": lambda fx: fx.http(
        "webhooks-get", account=fx.webhook_owner, params={"id": fx.shared_webhook}
    ),
    "webhooks-update": lambda fx: fx.http(
        "webhooks-update",
        account=fx.webhook_owner,
        params={"id": fx.shared_webhook},
        body={"url": fx.receiver, "description": "Renamed"},  # the URL checked again
    ),
    "webhooks-rotate-secret": lambda fx: fx.http(
        "webhooks-rotate-secret", account=fx.webhook_owner, params={"id": fx.shared_webhook}
    ),
    "webhooks-deliveries": lambda fx: fx.http(
        "webhooks-deliveries",
        account=fx.webhook_owner,
        params={"id": fx.shared_webhook},
        query={"limit": "5"},
    ),
    "webhooks-delete": _webhook_delete,
    "webhooks-retry": _webhook_retry,
    "webhooks-dispatch": lambda fx: _queue(
        fx, "webhooks-dispatch", {"delivery_id": fx.delivery(fx.delivery_owner), "attempt": 1}
    ),
    "webhooks-send": lambda fx: _queue(fx, "webhooks-send", fx.prepared_call),
    "webhooks-record": lambda fx: _queue(
        fx,
        "webhooks-record",
        {
            "delivery_id": fx.dispatched(fx.delivery_owner),
            "attempt": 1,
            "status": 200,
            "duration_ms": 3.0,
        },
    ),
    "documents-ingest": _ingest,
    "users-purge": _purge,
    "system-maintenance": lambda fx: schedule_event(fx.registry["system-maintenance"]),
    # what the other calls' changes left undelivered, usually nothing: a relay run that finds
    # the outbox up to date (its index scan and the backlog gauge) is its common case
    "system-outbox-relay": lambda fx: schedule_event(fx.registry["system-outbox-relay"]),
}

#: Functions whose event is spent by the call: a fresh one for every call.
CONSUMING = frozenset(
    {
        "auth-register",
        "auth-refresh",
        "auth-logout",
        "auth-password",
        "auth-password-reset-confirm",
        "users-delete",
        "documents-delete",
        "documents-ingest",
        "users-purge",
        "notifications-deliver",
        "webhooks-create",
        "webhooks-delete",
        "webhooks-retry",
        "webhooks-dispatch",
        "webhooks-record",
    }
)
