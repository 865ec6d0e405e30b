"""On every deploy, before the API takes traffic: the database migrations, then the first admin.

A CDK trigger runs this function (a failure fails the deploy); the local runner runs it when it
starts. Migrations must be expand-then-contract: the functions of the previous deploy keep
serving while they run.
"""

from shared.platform import db, migrate, secrets
from shared.platform.declare import DATABASE, secret
from shared.platform.jobs import DeployJob
from shared.platform.observability import logger
from shared.platform.settings import DeploySettings
from shared.users.service import ensure_admin_from_secret

function = DeployJob(
    needs=(DATABASE, secret("admin")),
    settings=DeploySettings,
    timeout_seconds=300,
)


@function.run
def run() -> dict[str, str | None]:
    """Apply the database migrations, then create the admin named in the admin secret."""
    from shared.platform.settings import get_settings

    revision = migrate.apply()
    settings = get_settings(DeploySettings)
    with db.session_scope() as session:
        admin = ensure_admin_from_secret(session, secrets.get(settings.admin_secret_arn, max_age=0))
    if admin == "unset":
        logger.warning("No admin email in the admin secret: no admin bootstrapped")
    return {"revision": revision, "admin": admin}


handler = function.handler
