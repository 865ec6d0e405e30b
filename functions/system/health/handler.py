"""GET /health: liveness, no auth and no dependency calls."""

from typing import Annotated, Literal

from pydantic import BaseModel

from shared.platform.http import Depends, HttpFunction
from shared.platform.settings import Observability, get_settings

# No dependency calls, as the contract says: so no rate limiting (it lives in Redis) either.
function = HttpFunction(method="GET", path="/health", auth=False, memory_mb=256, rate_limited=False)


class Health(BaseModel):
    status: Literal["ok"]
    version: str


async def _settings() -> Observability:
    return get_settings(Observability)


@function.endpoint
async def health(settings: Annotated[Observability, Depends(_settings)]) -> Health:
    """Report that the API is up, and its version."""
    return Health(status="ok", version=settings.version)


handler = function.handler
