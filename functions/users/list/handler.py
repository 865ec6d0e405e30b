"""GET /users: every user, a page at a time (admins only)."""

from typing import Annotated

from fastapi import Query

from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.http import CurrentPrincipal, HttpFunction
from shared.platform.settings import ListSettings
from shared.users import service
from shared.users.schemas import UsersPage

function = HttpFunction(
    method="GET",
    path="/users",
    roles=("admin",),
    needs=(DATABASE, secret("cursor-keys")),
    settings=ListSettings,
    errors=(422,),
)


@function.endpoint
async def list_users(
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> UsersPage:
    """List users, newest first."""
    with db.read_scope() as session:  # lists and search tolerate the replica's lag
        return service.list_users(session, principal, limit=limit, after=cursor)


handler = function.handler
