"""Sample events, one per function, derived from the registry (``make events`` writes them).

Each is the event AWS would deliver to that function: an API Gateway REST proxy event for a
route (with the authorizer's context where the route needs auth), an SQS batch for a worker, an
EventBridge scheduled event for a job, a TOKEN authorizer event for the authorizer. Events are
deterministic, so ``tests/unit/test_events.py`` can tell when a committed file has drifted.
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel

from functions.registry import REPO_ROOT, Entry, Registry, discover
from local.gateway import build_event, method_arn
from local.lambda_context import ACCOUNT_ID, REGION

EVENTS_DIR = REPO_ROOT / "events"
SAMPLE_ID = "00000000-0000-4000-8000-000000000001"
SAMPLE_USER = "00000000-0000-4000-8000-0000000000aa"
SAMPLE_REQUEST_ID = "sample-request-0001"
SAMPLE_TIME_MS = 1767225600000  # 2026-01-01T00:00:00Z


def model_example(model: type[BaseModel]) -> dict[str, Any]:
    """The first example a model declares (``json_schema_extra={"examples": [...]}``)."""
    extra: Any = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if not examples:
        raise ValueError(f"{model.__name__} declares no example; sample events need one")
    example: dict[str, Any] = examples[0]
    return example


def http_event(entry: Entry) -> dict[str, Any]:
    from shared.platform.http import HttpFunction

    fn = entry.function
    assert isinstance(fn, HttpFunction)
    route = fn.route
    params = {name: SAMPLE_ID for name in route.path_params}
    path = route.path.format(**params)
    body = b""
    headers = [("Accept", "application/json"), ("X-Request-Id", SAMPLE_REQUEST_ID)]
    api_route = next(r for r in fn.router.routes if isinstance(r, APIRoute))
    if api_route.body_field is not None:
        model = api_route.body_field.field_info.annotation
        options = [a for a in typing.get_args(model) if a is not type(None)] or [model]
        model = options[0]  # an optional body (``Model | None``) gets the model's example
        assert isinstance(model, type) and issubclass(model, BaseModel)
        body = json.dumps(model_example(model)).encode()
        headers.append(("Content-Type", "application/json"))
    authorizer = None
    if route.auth:
        headers.append(("Authorization", "Bearer <access token>"))
        role = route.roles[0] if route.roles else "member"
        authorizer = {"principalId": SAMPLE_USER, "sub": SAMPLE_USER, "role": role}
    event = build_event(
        method=route.method,
        path=path,
        resource=route.path,
        path_params=params,
        query=[],
        headers=headers,
        body=body,
        source_ip="127.0.0.1",
        request_id=SAMPLE_REQUEST_ID,
        authorizer=authorizer,
    )
    event["requestContext"]["requestTimeEpoch"] = SAMPLE_TIME_MS
    event["requestContext"]["requestTime"] = "01/Jan/2026:00:00:00 +0000"
    return event


def queue_event(entry: Entry) -> dict[str, Any]:
    fn = entry.function
    trigger = fn.trigger
    model = getattr(fn, "model", None)
    body = model_example(model) if model is not None else {}
    queue = getattr(trigger, "queue", entry.name)
    return {
        "Records": [
            {
                "messageId": SAMPLE_ID,
                "receiptHandle": "sample-receipt-handle",
                "body": json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(SAMPLE_TIME_MS),
                    "SenderId": ACCOUNT_ID,
                    "ApproximateFirstReceiveTimestamp": str(SAMPLE_TIME_MS),
                },
                "messageAttributes": {
                    "request_id": {
                        "stringValue": SAMPLE_REQUEST_ID,
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String",
                    }
                },
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:stratus-local-{queue}",
                "awsRegion": REGION,
            }
        ]
    }


def schedule_event(entry: Entry) -> dict[str, Any]:
    return {
        "version": "0",
        "id": SAMPLE_ID,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/stratus-local-{entry.name}"],
        "detail": {},
    }


def deploy_event(entry: Entry) -> dict[str, Any]:
    """What the CDK trigger sends: it invokes the function without a payload."""
    return {}


def authorizer_event(entry: Entry) -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "authorizationToken": "Bearer <access token>",
        "methodArn": method_arn("GET", "/auth/me"),
    }


def sample_event(entry: Entry) -> dict[str, Any]:
    """The sample event of ``entry``'s kind."""
    build = {
        "http": http_event,
        "queue": queue_event,
        "schedule": schedule_event,
        "deploy": deploy_event,
        "authorizer": authorizer_event,
    }[entry.kind]
    return build(entry)


def render(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2, sort_keys=True) + "\n"


def event_path(entry: Entry, root: Path = EVENTS_DIR) -> Path:
    return root / f"{entry.name}.json"


def write_all(registry: Registry, root: Path = EVENTS_DIR) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in registry:
        path = event_path(entry, root)
        path.write_text(render(sample_event(entry)))
        written.append(path)
    for stale in set(root.glob("*.json")) - set(written):
        stale.unlink()
    return written


if __name__ == "__main__":
    for path in write_all(discover()):
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    sys.exit(0)
