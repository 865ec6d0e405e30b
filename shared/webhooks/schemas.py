"""API models of webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.platform.schemas import PublicModel, RequestModel
from shared.webhooks.ssrf import MAX_URL_LENGTH

EventType = Literal[
    "document.ready", "document.failed", "document.deleted", "user.updated", "user.deleted"
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]
DeliveryStatus = Literal["pending", "sending", "succeeded", "failed"]

Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)]
Events = Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES))]
Description = Annotated[str, Field(max_length=500)]


class WebhookCreate(RequestModel):
    url: Url
    events: Events
    description: Description | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/stratus",
                    "events": ["document.ready", "document.failed"],
                    "description": "Our indexer",
                }
            ]
        }
    )


class WebhookUpdate(RequestModel):
    url: Url | None = None
    events: Events | None = None
    description: Description | None = None
    is_active: bool | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{"is_active": True}]})


class WebhookPublic(PublicModel):
    id: UUID
    url: str
    events: list[EventType]
    description: str | None
    is_active: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(BaseModel):
    webhook: WebhookPublic
    secret: str = Field(description="The signing secret (whsec_...): shown this once only.")


class WebhookSecret(BaseModel):
    secret: str = Field(
        description="The new signing secret: for 24 hours the old one signs deliveries too."
    )


class WebhooksPage(BaseModel):
    items: list[WebhookPublic]
    next_cursor: str | None


class DeliveryPublic(PublicModel):
    id: UUID
    event_id: UUID
    event: EventType
    status: DeliveryStatus
    attempts: int
    response_status: int | None
    next_attempt_at: datetime | None
    created_at: datetime


class DeliveriesPage(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None
