"""API models of the Users service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.platform.identity import Role
from shared.platform.schemas import PublicModel, RequestModel


class UserPublic(PublicModel):
    """What any client may see of a user: never a hash, token or internal field."""

    id: UUID
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime


class UserUpdate(RequestModel):
    name: Annotated[str | None, Field(default=None, min_length=1, max_length=200)] = None
    role: Role | None = None
    is_active: bool | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Ada Lovelace"}]})


class UsersPage(BaseModel):
    items: list[UserPublic]
    next_cursor: str | None
