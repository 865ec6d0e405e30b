"""The deployer's context values (``-c key=value`` or cdk.json), read the one way."""

from __future__ import annotations

from pathlib import Path

from constructs import Construct

from infra.config import ConfigurationError


def value(scope: Construct, key: str) -> str | None:
    """A string from the app's context, None when unset or empty."""
    found = scope.node.try_get_context(key)
    return str(found) if found else None


def frontend_origin(scope: Construct) -> str | None:
    """``-c frontend_origin=``, checked as the functions will check it (an origin a browser
    sends: no path, no trailing slash), so a typo fails the synth, not every request."""
    from pydantic import ValidationError

    from shared.platform.settings import Cors

    given = value(scope, "frontend_origin")
    try:
        return Cors.model_validate({"FRONTEND_ORIGIN": given}).frontend_origin
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
        raise ConfigurationError(f"-c frontend_origin={given}: {message}") from None


def site_dir(scope: Construct) -> Path:
    """``-c site_dir=``: the exported web app to deploy (default ``web/out``, relative paths
    from the repository's root)."""
    from infra.config import REPO_ROOT
    from infra.web import SITE_DIR

    given = value(scope, "site_dir")
    if given is None:
        return SITE_DIR
    path = Path(given)
    return path if path.is_absolute() else REPO_ROOT / path
