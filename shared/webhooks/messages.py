"""What travels on the webhook queues.

``webhooks`` (in the VPC): :class:`Dispatch`, one attempt of one delivery, due at its time;
the dispatcher claims it, checks the address, signs and hands it to the sender.
``webhook-send`` (the sender, outside the VPC): :class:`SendRequest`, everything the call needs
(the approved address, the signed headers, the body); no secret, no database.
``webhook-outcomes`` (in the VPC): :class:`Outcome`, what the receiver answered.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

DISPATCH_QUEUE = "webhooks"
SEND_QUEUE = "webhook-send"
OUTCOME_QUEUE = "webhook-outcomes"

_DELIVERY = "00000000-0000-4000-8000-0000000000d1"


class Dispatch(BaseModel):
    """Make attempt ``attempt`` of delivery ``delivery_id`` once it is due."""

    delivery_id: uuid.UUID
    attempt: int = Field(ge=1)

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"delivery_id": _DELIVERY, "attempt": 1}]}
    )


class SendRequest(BaseModel):
    """One HTTP call, fully prepared: connect to ``address`` (checked public, or loopback where
    the local stage allows it), send ``body`` with ``headers`` to ``path`` on ``host``, before
    ``not_after``."""

    delivery_id: uuid.UUID
    attempt: int = Field(ge=1)
    scheme: str
    host: str
    port: int = Field(ge=1, le=65535)
    path: str
    address: str
    headers: dict[str, str]
    body: str
    timeout_seconds: float = Field(gt=0, le=15)
    #: Past this, the call is not made (its signature's timestamp would be refused anyway):
    #: a message delivered late cannot make a call after the attempt was given up.
    not_after: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "delivery_id": _DELIVERY,
                    "attempt": 1,
                    "scheme": "http",
                    "host": "127.0.0.1",
                    "port": 9,
                    "path": "/hook",
                    "address": "127.0.0.1",
                    "headers": {
                        "webhook-id": "00000000-0000-4000-8000-0000000000e1",
                        "webhook-timestamp": "1764640000",
                        "webhook-signature": "v1,AAAA",
                        "content-type": "application/json",
                    },
                    "body": '{"type":"document.ready","timestamp":"","data":{}}',
                    "timeout_seconds": 1,
                    "not_after": "2026-12-02T00:05:00Z",
                }
            ]
        }
    )


class Outcome(BaseModel):
    """What attempt ``attempt`` got: an HTTP status, or an error (timeout, refused, ...)."""

    delivery_id: uuid.UUID
    attempt: int = Field(ge=1)
    status: int | None = None
    error: str | None = Field(default=None, max_length=200)
    duration_ms: float = 0

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"delivery_id": _DELIVERY, "attempt": 1, "status": 200, "duration_ms": 12}]
        }
    )
