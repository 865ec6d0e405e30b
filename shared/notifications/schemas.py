"""API models of notifications."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from shared.notifications.messages import Kind
from shared.platform.schemas import PublicModel


class NotificationPublic(PublicModel):
    id: UUID
    kind: Kind
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None


class NotificationsPage(BaseModel):
    items: list[NotificationPublic]
    next_cursor: str | None
