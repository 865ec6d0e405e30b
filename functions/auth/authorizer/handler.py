"""The API Gateway Lambda authorizer: bearer token in, principal (user id, role) out."""

from shared.auth import access
from shared.platform.authorizer import AuthorizerFunction
from shared.platform.declare import CACHE, DATABASE, secret
from shared.platform.identity import Principal
from shared.platform.settings import AuthorizerSettings

function = AuthorizerFunction(
    needs=(secret("signing-keys"), CACHE, DATABASE),
    settings=AuthorizerSettings,
)


@function.verify
def verify(token: str) -> Principal:
    """Verify the bearer token and its revocation state."""
    return access.principal_for_token(token)


handler = function.handler
