"""AWS Backup restore testing: validate the restored copy of the database, and report it.

AWS Backup restores the latest recovery point into the isolated subnets every week
(``infra.components.recovery.RestoreTesting``) and emits "Restore Job State Change". This
function connects to the restored instance (its host is the primary's with the restored
identifier: every instance of an account and region shares the endpoint's suffix), checks that
the schema is one of this code's migrations and that the data is there (accounts, documents,
notifications), and calls ``PutRestoreValidationResult``. The restored copy is deleted by AWS
Backup after the validation window.

TLS: the connection is always encrypted. It is verified against the RDS CA bundle when the
layer ships one (``/opt/python/rds-ca.pem``); RDS's CAs are private, so without the bundle the
check says, in its validation message, that the server was not authenticated.
"""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Any

RDS_CA_BUNDLE = Path(os.environ.get("RDS_CA_BUNDLE", "/opt/python/rds-ca.pem"))
MAX_MESSAGE = 500


class CheckFailed(Exception):
    """The restored database is not what a restore must give back."""


def restored_host(created_resource_arn: str, primary_endpoint: str) -> str:
    """The restored instance's host: ``arn:aws:rds:<region>:<account>:db:<identifier>`` and the
    primary's ``<primary>.<suffix>`` give ``<identifier>.<suffix>``."""
    kind, _, identifier = created_resource_arn.rpartition(":")
    _, _, suffix = primary_endpoint.partition(".")
    if not kind.endswith(":db") or not identifier or not suffix:
        raise CheckFailed(f"not a restored DB instance: {created_resource_arn}")
    return f"{identifier}.{suffix}"


def check(connection: Any, *, known_revisions: set[str]) -> str:
    """What was restored, in a line; :class:`CheckFailed` when it is not a usable copy."""
    cursor = connection.cursor()
    cursor.execute("SELECT version_num FROM alembic_version")
    revisions = [row[0] for row in cursor.fetchall()]
    if len(revisions) != 1 or revisions[0] not in known_revisions:
        raise CheckFailed(f"schema revision {revisions} is not one of this code's migrations")
    counts = {}
    for table in ("users", "documents", "notifications"):
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - a fixed table name
        counts[table] = int(cursor.fetchone()[0])
    if counts["users"] < 1:
        raise CheckFailed("no account in the restored database (there is always an admin)")
    return f"schema {revisions[0]}; " + ", ".join(f"{n} {t}" for t, n in counts.items())


def _tls() -> tuple[ssl.SSLContext | None, str]:
    if RDS_CA_BUNDLE.is_file():
        return ssl.create_default_context(cafile=str(RDS_CA_BUNDLE)), ""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context, " (TLS without server authentication: no RDS CA bundle in the layer)"


def _connect(**parameters: Any) -> Any:
    import pg8000.dbapi

    return pg8000.dbapi.connect(**parameters)


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    from shared.platform import aws, secrets
    from shared.platform.migrate import known_revisions
    from shared.platform.observability import logger

    detail = event.get("detail") or {}
    job = str(detail.get("restoreJobId") or "")
    connection = None
    try:
        host = restored_host(
            str(detail.get("createdResourceArn") or ""), os.environ["PRIMARY_HOST"]
        )
        credentials = json.loads(secrets.get(os.environ["DATABASE_SECRET_ARN"], max_age=0))
        # Always TLS in AWS; DATABASE_TLS=false serves the tests' loopback Postgres only.
        tls, caveat = _tls() if os.environ.get("DATABASE_TLS", "true") != "false" else (None, "")
        connection = _connect(
            host=host,
            port=int(os.environ.get("DATABASE_PORT", "5432")),
            database=os.environ["DATABASE_NAME"],
            user=credentials["username"],
            password=credentials["password"],
            ssl_context=tls,
            timeout=30,
        )
        status, message = (
            "SUCCESSFUL",
            check(connection, known_revisions=known_revisions()) + caveat,
        )
    except CheckFailed as exc:
        status, message = "FAILED", str(exc)
    except Exception as exc:  # the copy could not be reached or read: that is a failed restore
        status, message = "FAILED", f"could not check the restored database: {type(exc).__name__}"
    finally:
        if connection is not None:
            connection.close()
    aws.client("backup").put_restore_validation_result(
        RestoreJobId=job, ValidationStatus=status, ValidationStatusMessage=message[:MAX_MESSAGE]
    )
    logger.info(
        "Restore validated", extra={"restore_job": job, "status": status, "detail": message}
    )
    return {"status": status, "message": message}
