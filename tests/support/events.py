"""Sample events for tests: the committed ones in events/, and variations built the same way."""

from __future__ import annotations

import copy
import json
from typing import Any

from functions.registry import REPO_ROOT


def load_event(name: str) -> dict[str, Any]:
    """The committed sample event of function ``name`` (a fresh copy each call)."""
    with open(REPO_ROOT / "events" / f"{name}.json") as fh:
        event: dict[str, Any] = json.load(fh)
    return copy.deepcopy(event)


def with_headers(event: dict[str, Any], **headers: str) -> dict[str, Any]:
    """``event`` with ``headers`` set (underscores in names become dashes)."""
    for name, value in headers.items():
        header = name.replace("_", "-")
        event.setdefault("headers", {})
        event["headers"] = event["headers"] or {}
        event["headers"][header] = value
        event["multiValueHeaders"] = event.get("multiValueHeaders") or {}
        event["multiValueHeaders"][header] = [value]
    return event


def body_json(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def sqs_event(*bodies: str, queue: str = "queue") -> dict[str, Any]:
    """An SQS batch as Lambda delivers it, one record per body."""
    import uuid

    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "r",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:stratus-local-{queue}",
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }
