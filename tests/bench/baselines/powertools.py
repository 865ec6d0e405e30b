"""Baseline for the benchmark only: each function's work as a lean Powertools handler.

The same work as the Stratus function: the same rate limit (Redis), the principal from the
authorizer's context, the role check, pydantic validation of the path, query and body, the
same domain call (``shared.<domain>.service``) in one unit of work, the problem documents, the
request id, and the same logger, metrics and tracer (patching the same libraries); but an
``APIGatewayRestResolver`` instead of FastAPI and Mangum. ``build(name)`` imports what that
one route needs and nothing else, as its own handler file would. Workers get a Powertools
``BatchProcessor`` handler, the scheduled job and the authorizer a plain one.

Never deployed; nothing outside ``tests/bench`` imports it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from shared.platform.declare import instrument
from shared.platform.errors import AppError, FieldError, Forbidden, Problem, Unauthorized
from shared.platform.identity import Principal
from shared.platform.observability import REQUEST_ID_HEADER, is_sane_request_id, set_request_id

Work = Callable[[Any, Principal | None, dict[str, Any]], tuple[int, Any]]


def _uuid(value: str, where: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise _invalid(where, "Input should be a valid UUID.") from None


def _invalid(where: str, msg: str) -> AppError:
    from shared.platform.errors import Unprocessable

    return Unprocessable("The request is not valid.", errors=[FieldError(loc=(where,), msg=msg)])


def _body(model: type[Any], raw: str | None) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate_json(raw or "")
    except ValidationError as exc:
        from shared.platform.errors import Unprocessable

        errors = [FieldError(loc=("body", *e["loc"]), msg=e["msg"]) for e in exc.errors()]
        raise Unprocessable("The request is not valid.", errors=errors) from None


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise _invalid("limit", "Input should be between 1 and 100.")
    return int(raw)


def _cursor(query: dict[str, str]) -> str | None:
    value = query.get("cursor")
    if value is not None and len(value) > 1024:
        raise _invalid("cursor", "At most 1024 characters.")
    return value


def _session_call(call: Callable[[Any], Any], status: int = 200) -> tuple[int, Any]:
    from shared.platform import db

    with db.session_scope() as session:
        return status, call(session)


# ---- the work of each route -------------------------------------------------------------------


def auth_register(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.auth import service
    from shared.auth.schemas import RegisterRequest
    from shared.users.schemas import UserPublic

    body = _body(RegisterRequest, app.current_event.body)
    return _session_call(lambda s: UserPublic.model_validate(service.register(s, body)), 201)


def auth_login(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.auth import service
    from shared.auth.schemas import LoginRequest

    body = _body(LoginRequest, app.current_event.body)
    return _session_call(lambda s: service.login(s, body))


def auth_refresh(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.auth import service
    from shared.auth.schemas import RefreshRequest

    body = _body(RefreshRequest, app.current_event.body)
    return _session_call(lambda s: service.refresh(s, body.refresh_token))


def auth_logout(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.auth import service
    from shared.auth.schemas import LogoutRequest

    raw = app.current_event.body
    body = _body(LogoutRequest, raw) if raw else None
    token = body.refresh_token if body else None
    return _session_call(lambda s: service.logout(s, p, token), 204)


def auth_me(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.users import service

    assert p is not None
    return _session_call(lambda s: service.get_user(s, p, p.user_id))


def auth_password(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.auth import service
    from shared.auth.schemas import PasswordChange

    body = _body(PasswordChange, app.current_event.body)
    return _session_call(lambda s: service.change_password(s, p, body), 204)


def auth_password_reset(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.auth import service
    from shared.auth.schemas import PasswordResetRequest

    body = _body(PasswordResetRequest, app.current_event.body)
    status, _ = _session_call(lambda s: service.request_password_reset(s, body.email), 202)
    return status, None


def auth_password_reset_confirm(
    app: Any, p: Principal | None, params: dict[str, Any]
) -> tuple[int, Any]:
    from shared.auth import service
    from shared.auth.schemas import PasswordResetConfirm

    body = _body(PasswordResetConfirm, app.current_event.body)
    return _session_call(
        lambda s: service.confirm_password_reset(s, body.token, body.new_password), 204
    )


def users_get(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.users import service

    user_id = _uuid(params["id"], "id")
    return _session_call(lambda s: service.get_user(s, p, user_id))


def users_list(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.users import service

    query = app.current_event.query_string_parameters or {}
    limit, cursor = _limit(query), _cursor(query)
    return _session_call(lambda s: service.list_users(s, p, limit=limit, after=cursor))


def users_update(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.users import service
    from shared.users.schemas import UserUpdate

    user_id = _uuid(params["id"], "id")
    body = _body(UserUpdate, app.current_event.body)
    return _session_call(lambda s: service.update_user(s, p, user_id, body))


def users_delete(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.users import service

    user_id = _uuid(params["id"], "id")
    return _session_call(lambda s: service.delete_user(s, p, user_id), 204)


def documents_create(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.documents import service
    from shared.documents.schemas import DocumentCreate

    body = _body(DocumentCreate, app.current_event.body)
    return _session_call(lambda s: service.create(s, p, body), 201)


def documents_create_text(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.documents import service
    from shared.documents.schemas import TextDocumentCreate

    body = _body(TextDocumentCreate, app.current_event.body)
    return _session_call(lambda s: service.create_text(s, p, body), 201)


def documents_get(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.documents import service

    document_id = _uuid(params["id"], "id")
    return _session_call(lambda s: service.get(s, p, document_id))


def documents_list(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.documents import service

    query = app.current_event.query_string_parameters or {}
    limit, cursor = _limit(query), _cursor(query)
    status = query.get("status")
    return _session_call(
        lambda s: service.list_documents(s, p, status=status, limit=limit, after=cursor)
    )


def documents_update(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.documents import service
    from shared.documents.schemas import DocumentUpdate

    document_id = _uuid(params["id"], "id")
    body = _body(DocumentUpdate, app.current_event.body)
    return _session_call(lambda s: service.rename(s, p, document_id, body))


def documents_download(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.documents import service

    document_id = _uuid(params["id"], "id")
    return _session_call(lambda s: service.download(s, p, document_id))


def documents_delete(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.documents import service

    document_id = _uuid(params["id"], "id")
    return _session_call(lambda s: service.delete(s, p, document_id), 204)


def documents_search(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.documents import service
    from shared.documents.schemas import SearchRequest

    body = _body(SearchRequest, app.current_event.body)
    return _session_call(lambda s: service.search(s, p, body))


def notifications_list(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.notifications import service

    query = app.current_event.query_string_parameters or {}
    limit, cursor = _limit(query), _cursor(query)
    return _session_call(lambda s: service.list_notifications(s, p, limit=limit, after=cursor))


def notifications_read(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.notifications import service

    notification_id = _uuid(params["id"], "id")
    return _session_call(lambda s: service.mark_read(s, p, notification_id), 204)


def webhooks_create(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.webhooks import service
    from shared.webhooks.schemas import WebhookCreate

    body = _body(WebhookCreate, app.current_event.body)
    return _session_call(lambda s: service.create(s, p, body), 201)


def webhooks_list(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.webhooks import service

    query = app.current_event.query_string_parameters or {}
    limit, cursor = _limit(query), _cursor(query)
    return _session_call(lambda s: service.list_endpoints(s, p, limit=limit, after=cursor))


def webhooks_get(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.webhooks import service

    endpoint_id = _uuid(params["id"], "id")
    return _session_call(lambda s: service.get(s, p, endpoint_id))


def webhooks_update(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.webhooks import service
    from shared.webhooks.schemas import WebhookUpdate

    endpoint_id = _uuid(params["id"], "id")
    body = _body(WebhookUpdate, app.current_event.body)
    return _session_call(lambda s: service.update(s, p, endpoint_id, body))


def webhooks_delete(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.webhooks import service

    endpoint_id = _uuid(params["id"], "id")
    return _session_call(lambda s: service.delete(s, p, endpoint_id), 204)


def webhooks_rotate_secret(
    app: Any, p: Principal | None, params: dict[str, Any]
) -> tuple[int, Any]:
    from shared.webhooks import service

    endpoint_id = _uuid(params["id"], "id")
    return _session_call(lambda s: service.rotate_secret(s, p, endpoint_id))


def webhooks_deliveries(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.webhooks import service

    endpoint_id = _uuid(params["id"], "id")
    query = app.current_event.query_string_parameters or {}
    limit, cursor = _limit(query), _cursor(query)
    return _session_call(
        lambda s: service.list_deliveries(s, p, endpoint_id, limit=limit, after=cursor)
    )


def webhooks_retry(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.webhooks import service

    endpoint_id = _uuid(params["id"], "id")
    delivery_id = _uuid(params["delivery_id"], "delivery_id")
    return _session_call(lambda s: service.retry(s, p, endpoint_id, delivery_id), 202)


def system_health(app: Any, p: Principal | None, params: dict[str, Any]) -> tuple[int, Any]:
    from shared.platform.settings import Observability, get_settings

    return 200, {"status": "ok", "version": get_settings(Observability).version}


# (method, path, auth, roles, rate limited, work)
ROUTES: dict[str, tuple[str, str, bool, tuple[str, ...], bool, Work]] = {
    "auth-register": ("POST", "/auth/register", False, (), True, auth_register),
    "auth-login": ("POST", "/auth/login", False, (), True, auth_login),
    "auth-refresh": ("POST", "/auth/refresh", False, (), True, auth_refresh),
    "auth-logout": ("POST", "/auth/logout", True, (), True, auth_logout),
    "auth-me": ("GET", "/auth/me", True, (), True, auth_me),
    "auth-password": ("POST", "/auth/password", True, (), True, auth_password),
    "auth-password-reset": ("POST", "/auth/password-reset", False, (), True, auth_password_reset),
    "auth-password-reset-confirm": (
        "POST",
        "/auth/password-reset/confirm",
        False,
        (),
        True,
        auth_password_reset_confirm,
    ),
    "users-get": ("GET", "/users/<id>", True, (), True, users_get),
    "users-list": ("GET", "/users", True, ("admin",), True, users_list),
    "users-update": ("PATCH", "/users/<id>", True, (), True, users_update),
    "users-delete": ("DELETE", "/users/<id>", True, (), True, users_delete),
    "documents-create": (
        "POST",
        "/documents",
        True,
        ("admin", "member"),
        True,
        documents_create,
    ),
    "documents-create-text": (
        "POST",
        "/documents/text",
        True,
        ("admin", "member"),
        True,
        documents_create_text,
    ),
    "documents-get": ("GET", "/documents/<id>", True, (), True, documents_get),
    "documents-list": ("GET", "/documents", True, (), True, documents_list),
    "documents-update": (
        "PATCH",
        "/documents/<id>",
        True,
        ("admin", "member"),
        True,
        documents_update,
    ),
    "documents-download": ("GET", "/documents/<id>/download", True, (), True, documents_download),
    "documents-delete": (
        "DELETE",
        "/documents/<id>",
        True,
        ("admin", "member"),
        True,
        documents_delete,
    ),
    "documents-search": ("POST", "/search", True, (), True, documents_search),
    "notifications-list": ("GET", "/notifications", True, (), True, notifications_list),
    "notifications-read": (
        "POST",
        "/notifications/<id>/read",
        True,
        (),
        True,
        notifications_read,
    ),
    "webhooks-create": ("POST", "/webhooks", True, ("admin", "member"), True, webhooks_create),
    "webhooks-list": ("GET", "/webhooks", True, (), True, webhooks_list),
    "webhooks-get": ("GET", "/webhooks/<id>", True, (), True, webhooks_get),
    "webhooks-update": (
        "PATCH",
        "/webhooks/<id>",
        True,
        ("admin", "member"),
        True,
        webhooks_update,
    ),
    "webhooks-delete": (
        "DELETE",
        "/webhooks/<id>",
        True,
        ("admin", "member"),
        True,
        webhooks_delete,
    ),
    "webhooks-rotate-secret": (
        "POST",
        "/webhooks/<id>/rotate-secret",
        True,
        ("admin", "member"),
        True,
        webhooks_rotate_secret,
    ),
    "webhooks-deliveries": (
        "GET",
        "/webhooks/<id>/deliveries",
        True,
        (),
        True,
        webhooks_deliveries,
    ),
    "webhooks-retry": (
        "POST",
        "/webhooks/<id>/deliveries/<delivery_id>/retry",
        True,
        ("admin", "member"),
        True,
        webhooks_retry,
    ),
    "system-health": ("GET", "/health", False, (), False, system_health),
}


def _problem(problem: Problem, request_id: str, headers: dict[str, str]) -> Any:
    from aws_lambda_powertools.event_handler import Response

    return Response(
        status_code=problem.status,
        content_type="application/problem+json",
        body=json.dumps(problem.body()),
        headers={**problem.headers, **headers, REQUEST_ID_HEADER: request_id},
    )


def http_handler(name: str, traced: tuple[str, ...]) -> Callable[[dict[str, Any], Any], Any]:
    """The Lambda handler of route ``name`` as a Powertools resolver."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

    method, path, auth, roles, rate_limited, work = ROUTES[name]
    app = APIGatewayRestResolver()

    def serve(**params: Any) -> Any:
        event = app.current_event
        header = (event.headers or {}).get("X-Request-Id")
        request_id = header if is_sane_request_id(header) else event.request_context.request_id
        set_request_id(request_id)
        limit_headers: dict[str, str] = {}
        try:
            if rate_limited:
                from shared.platform import cache, ratelimit
                from shared.platform.settings import Limits, get_settings

                context = event.raw_event.get("requestContext") or {}
                key = ratelimit.key_for(
                    user_id=(context.get("authorizer") or {}).get("sub"),
                    client_ip=(context.get("identity") or {}).get("sourceIp"),
                )
                try:
                    decision = ratelimit.hit(
                        cache.redis(), key, limit=get_settings(Limits).rate_limit_per_minute
                    )
                    limit_headers = decision.headers()
                except ratelimit.RateLimitUnavailable:
                    pass
            principal = None
            if auth:
                context = event.raw_event["requestContext"].get("authorizer") or {}
                try:
                    principal = Principal(user_id=context.get("sub"), role=context.get("role"))
                except ValueError:
                    raise Unauthorized() from None
                if roles and principal.role not in roles:
                    raise Forbidden("Your role may not do this.")
            status, result = work(app, principal, params)
        except AppError as exc:
            from shared.platform.errors import problem_for

            return _problem(problem_for(exc, request_id), request_id, limit_headers)
        headers = {**limit_headers, REQUEST_ID_HEADER: request_id}
        if result is None:
            return Response(status_code=status, headers=headers)
        body = (
            result.model_dump_json() if hasattr(result, "model_dump_json") else json.dumps(result)
        )
        return Response(
            status_code=status, content_type="application/json", body=body, headers=headers
        )

    app.route(path, method=method)(serve)
    return instrument(app.resolve, traced)


def worker_handler(name: str, traced: tuple[str, ...]) -> Callable[[dict[str, Any], Any], Any]:
    """A worker as a Powertools batch handler calling the same domain function per record."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    if name == "documents-ingest":
        from shared.documents.ingest import S3Notification, ingest_notification

        def record(record: Any) -> None:
            ingest_notification(S3Notification.model_validate_json(record.body))

    elif name == "notifications-deliver":
        from shared.notifications.messages import NotificationJob, Notify
        from shared.notifications.service import deliver, handle_reset_request

        def record(record: Any) -> None:
            message = NotificationJob.model_validate_json(record.body).root
            if isinstance(message, Notify):
                deliver(message)
            else:
                handle_reset_request(message)

    elif name == "webhooks-dispatch":
        from shared.webhooks.delivery import dispatch
        from shared.webhooks.messages import Dispatch

        def record(record: Any) -> None:
            dispatch(Dispatch.model_validate_json(record.body))

    elif name == "webhooks-send":
        from shared.webhooks.delivery import report, send
        from shared.webhooks.messages import SendRequest

        def record(record: Any) -> None:
            report(send(SendRequest.model_validate_json(record.body)))

    elif name == "webhooks-record":
        from shared.webhooks.delivery import record as record_outcome
        from shared.webhooks.messages import Outcome

        def record(record: Any) -> None:
            record_outcome(Outcome.model_validate_json(record.body))

    else:
        from shared.users.purge import PurgeUser, purge

        def record(record: Any) -> None:
            purge(PurgeUser.model_validate_json(record.body).user_id)

    def handler(event: dict[str, Any], context: Any) -> Any:
        processor = BatchProcessor(event_type=EventType.SQS)
        return process_partial_response(
            event=event, record_handler=record, processor=processor, context=context
        )

    return instrument(handler, traced)


def other_handler(name: str, traced: tuple[str, ...]) -> Callable[[dict[str, Any], Any], Any]:
    """The authorizer and the scheduled jobs as plain handlers."""
    if name == "auth-authorizer":
        from shared.auth import access

        def authorize(event: dict[str, Any], context: Any) -> Any:
            _, _, token = str(event.get("authorizationToken") or "").partition(" ")
            try:
                principal = access.principal_for_token(token.strip())
            except Unauthorized:
                raise Exception("Unauthorized") from None
            arn = str(event.get("methodArn", ""))
            return {
                "principalId": str(principal.user_id),
                "policyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}
                    ],
                },
                "context": {"sub": str(principal.user_id), "role": principal.role},
            }

        return instrument(authorize, traced)
    if name == "system-outbox-relay":
        from shared.platform import outbox

        def relay(event: dict[str, Any], context: Any) -> Any:
            return outbox.relay()

        return instrument(relay, traced)
    from datetime import UTC, datetime

    from shared.auth import service as auth
    from shared.documents import ingest
    from shared.documents import service as documents
    from shared.platform import db

    def maintenance(event: dict[str, Any], context: Any) -> Any:
        # the job's work: expired tokens, abandoned uploads, stuck documents, stalled attempts
        now = datetime.now(UTC)
        with db.session_scope() as session:
            removed = auth.remove_expired_tokens(session, now=now)
            removed["abandoned_documents"] = documents.remove_abandoned(session, now=now)
        with db.session_scope() as session:
            removed |= ingest.requeue_stuck(session, now=now)
        from shared.webhooks import delivery as webhooks

        removed["stalled_webhook_attempts"] = webhooks.settle_stalled(now=now)
        return removed

    return instrument(maintenance, traced)


def build(name: str, kind: str, traced: tuple[str, ...]) -> Callable[[dict[str, Any], Any], Any]:
    """The baseline handler of function ``name`` (of ``kind``), tracing ``traced``."""
    if kind == "http":
        return http_handler(name, traced)
    if kind == "queue":
        return worker_handler(name, traced)
    return other_handler(name, traced)
