"""POST /auth/register: create a member account."""

from shared.auth import service
from shared.auth.schemas import RegisterRequest
from shared.platform import db
from shared.platform.declare import DATABASE, queue
from shared.platform.http import HttpFunction
from shared.platform.settings import ApiSettings
from shared.users.schemas import UserPublic

function = HttpFunction(
    method="POST",
    path="/auth/register",
    auth=False,
    status_code=201,
    needs=(DATABASE, queue("notifications")),
    settings=ApiSettings,
    errors=(409,),
)


@function.endpoint
async def register(body: RegisterRequest) -> UserPublic:
    """Create an account with the member role."""
    with db.session_scope() as session:
        return UserPublic.model_validate(service.register(session, body))


handler = function.handler
