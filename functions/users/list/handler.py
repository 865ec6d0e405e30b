"""GET /users: every user, a page at a time (admins only)."""

from shared.platform import db
from shared.platform.declare import DATABASE, secret
from shared.platform.http import CurrentPrincipal, HttpFunction, PageCursor, PageLimit
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
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> UsersPage:
    """List users, newest first."""
    with db.read_scope() as session:  # lists and search tolerate the replica's lag
        return service.list_users(session, principal, limit=limit, after=cursor)


handler = function.handler
