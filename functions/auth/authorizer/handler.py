"""The API Gateway Lambda authorizer: bearer token in, principal (user id, role) out."""

from shared.platform.authorizer import TokenAuthorizer

function = TokenAuthorizer()
handler = function.handler
