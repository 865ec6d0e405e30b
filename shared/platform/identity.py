"""Who is calling: the principal the API Gateway authorizer vouched for.

A plain model, so the domain can take it without knowing any transport: ``shared.platform.http``
builds it from the request context, and the rules of every service receive it.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel

Role = Literal["admin", "member", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "member", "viewer")


class Principal(BaseModel):
    """The authenticated caller, as the API Gateway authorizer put it in the request context."""

    user_id: UUID
    role: Role
    jti: str | None = None  # the access token's id and expiry, for logout
    expires_at: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
