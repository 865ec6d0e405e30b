"""The restore check validates a restored copy of the database for real (here: a fresh
database on the loopback Postgres, migrated as a deploy would), and reports to AWS Backup."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import pytest
from botocore.stub import Stubber
from sqlalchemy import create_engine, text

from infra.lambdas.restore_check import handler as restore_check
from shared.platform.db import normalize_url
from shared.platform.migrate import known_revisions, upgrade
from tests.support.services import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def restored(pg_url):
    """A database as a restore gives it back: migrated, with the given rows."""
    with fresh_database() as url:
        upgrade(url)
        engine = create_engine(normalize_url(url))
        yield url, engine
        engine.dispose()


def _connect(engine):
    """A DBAPI (pg8000) connection, as the restore check opens one."""
    return engine.raw_connection().driver_connection


def _add_admin(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, email, name, password_hash, role, is_active,"
                " token_version, created_at, updated_at) VALUES (:id, 'a@example.com', 'A',"
                " 'x', 'admin', true, 0, now(), now())"
            ),
            {"id": uuid.uuid4()},
        )


def test_a_good_copy_passes_and_says_what_it_holds(restored):
    _url, engine = restored
    _add_admin(engine)
    connection = _connect(engine)
    try:
        summary = restore_check.check(connection, known_revisions=known_revisions())
    finally:
        connection.close()
    assert summary.startswith("schema ")
    assert "1 users, 0 documents, 0 notifications" in summary


def test_a_copy_without_accounts_fails(restored):
    _, engine = restored
    connection = _connect(engine)
    try:
        with pytest.raises(restore_check.CheckFailed, match="no account"):
            restore_check.check(connection, known_revisions=known_revisions())
    finally:
        connection.close()


def test_a_copy_at_an_unknown_schema_fails(restored):
    _url, engine = restored
    _add_admin(engine)
    connection = _connect(engine)
    try:
        with pytest.raises(restore_check.CheckFailed, match="not one of this code's migrations"):
            restore_check.check(connection, known_revisions={"some-other-revision"})
    finally:
        connection.close()


def test_the_restored_host_shares_the_primary_endpoint_suffix():
    host = restore_check.restored_host(
        "arn:aws:rds:us-east-1:123456789012:db:awsbackup-restore-test-abc",
        "stratus-prod-db.c9xyz.us-east-1.rds.amazonaws.com",
    )
    assert host == "awsbackup-restore-test-abc.c9xyz.us-east-1.rds.amazonaws.com"
    with pytest.raises(restore_check.CheckFailed):
        restore_check.restored_host("arn:aws:s3:::bucket", "primary.c9xyz.rds.amazonaws.com")


@pytest.mark.parametrize("good", [True, False])
def test_the_handler_reports_the_verdict_to_aws_backup(restored, monkeypatch, good):
    # Given a restored copy on loopback (the host derivation is tested above), its credentials
    # in Secrets Manager, and AWS Backup expecting the verdict
    url, engine = restored
    if good:
        _add_admin(engine)
    # The connection parameters the handler derives, applied to the test's server (which may
    # listen on a Unix socket only): everything but the socket is the handler's own.
    opened: list[dict] = []

    def connect(**parameters):
        opened.append(parameters)
        return engine.raw_connection().driver_connection

    monkeypatch.setattr(restore_check, "_connect", connect)
    parts = urlsplit(url)
    monkeypatch.setenv("PRIMARY_HOST", "primary.c9xyz.us-east-1.rds.amazonaws.com")
    monkeypatch.setenv("DATABASE_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:0:secret:db")
    monkeypatch.setenv("DATABASE_NAME", parts.path.lstrip("/"))
    monkeypatch.setenv("DATABASE_PORT", "5432")
    monkeypatch.setenv("DATABASE_TLS", "false")  # the loopback Postgres; AWS is always TLS
    from shared.platform import aws, secrets

    monkeypatch.setattr(
        secrets, "get", lambda *_, **__: json.dumps({"username": "postgres", "password": ""})
    )
    backup = aws.session().client("backup", endpoint_url="http://127.0.0.1:9")
    monkeypatch.setattr(aws, "client", lambda service, **_: backup)
    status = "SUCCESSFUL" if good else "FAILED"
    with Stubber(backup) as stub:
        stub.add_response(
            "put_restore_validation_result",
            {},
            {
                "RestoreJobId": "job-1",
                "ValidationStatus": status,
                "ValidationStatusMessage": stub_any_message(),
            },
        )
        # When AWS Backup announces the completed restore test
        result = restore_check.handler(
            {
                "detail": {
                    "restoreJobId": "job-1",
                    "status": "COMPLETED",
                    "createdResourceArn": "arn:aws:rds:us-east-1:0:db:awsbackup-restore-test-1",
                }
            },
            None,
        )
        stub.assert_no_pending_responses()
    # Then it connected to the restored copy's host, as the master user
    (parameters,) = opened
    assert parameters["host"] == "awsbackup-restore-test-1.c9xyz.us-east-1.rds.amazonaws.com"
    assert parameters["user"] == "postgres"
    # And the verdict is the check's, with its reason
    assert result["status"] == status
    assert ("1 users" in result["message"]) if good else ("no account" in result["message"])


def stub_any_message():
    from botocore.stub import ANY

    return ANY
