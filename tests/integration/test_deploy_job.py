"""The deploy job (``system-migrate``), as the CDK trigger runs it before the API takes traffic:
the migrations on a real, empty Postgres, then the first admin from the admin secret (moto)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from moto import mock_aws
from sqlalchemy import create_engine, text

from functions.registry import discover
from shared.platform import aws, db
from shared.platform.db import normalize_url
from shared.platform.settings import reset_settings
from tests.support.services import fresh_database

JOB = discover()["system-migrate"].function
PASSWORD = "a strong admin password"


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """A brand-new database, as RDS hands it over on the first deploy."""
    with fresh_database() as url:
        yield url


@pytest.fixture
def deploy(empty_pg, monkeypatch):
    """Run the job as the trigger does (an empty event), with the admin secret set to ``value``."""
    with mock_aws():
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("DATABASE_URL", empty_pg)
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "system")
        aws.reset()
        db.reset()
        arn = aws.client("secretsmanager").create_secret(
            Name="stratus/test/admin", SecretString="{}"
        )["ARN"]
        monkeypatch.setenv("ADMIN_SECRET_ARN", arn)
        reset_settings()

        def run(secret: dict | str, context):  # type: ignore[no-untyped-def]
            value = secret if isinstance(secret, str) else json.dumps(secret)
            aws.client("secretsmanager").put_secret_value(SecretId=arn, SecretString=value)
            return JOB.handler({}, context)

        yield run
        aws.reset()
        db.reset()


def _users(url: str) -> list[tuple[str, str]]:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT email, role FROM users"))]
    finally:
        engine.dispose()


def test_the_first_deploy_migrates_an_empty_database_and_creates_the_admin(
    deploy, empty_pg, lambda_context
):
    from alembic.script import ScriptDirectory

    from shared.platform.migrate import alembic_config

    # Given an empty database and the admin secret as `cdk deploy -c admin_email=...` makes it
    # When the trigger invokes the job
    result = deploy({"email": "Ops@Example.com", "password": PASSWORD}, lambda_context)
    # Then the schema is at the newest revision, and the admin exists (email normalized)
    head = ScriptDirectory.from_config(alembic_config(empty_pg)).get_current_head()
    assert result == {"revision": head, "admin": "created"}
    assert _users(empty_pg) == [("ops@example.com", "admin")]


def test_a_later_deploy_is_a_no_op_that_never_touches_the_existing_admin(
    deploy, empty_pg, lambda_context
):
    deploy({"email": "ops@example.com", "password": PASSWORD}, lambda_context)
    # When the job runs again (a later deploy), even with another password in the secret
    result = deploy(
        {"email": "ops@example.com", "password": "another long password"}, lambda_context
    )
    # Then nothing changes: one admin, and the job says it exists
    assert result["admin"] == "exists"
    assert _users(empty_pg) == [("ops@example.com", "admin")]


def test_without_an_admin_email_the_migrations_still_run(
    deploy, empty_pg, lambda_context, log_lines
):
    # Given the secret as deployed without -c admin_email (an empty email)
    result = deploy({"email": "", "password": PASSWORD}, lambda_context)
    # Then the schema is migrated, no account is made, and the log says why
    assert result["admin"] == "unset" and result["revision"]
    assert _users(empty_pg) == []
    assert any("No admin email" in line.get("message", "") for line in log_lines())


@pytest.mark.parametrize(
    ("secret", "error"),
    [
        ("not json", "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ({"email": "ops@example.com", "password": "short"}, "12-128 characters"),
        ({"email": "not an address", "password": PASSWORD}, "admin email is not valid"),
    ],
)
def test_a_bad_admin_secret_fails_the_deploy_without_leaking_it(
    deploy, empty_pg, lambda_context, log_lines, secret, error
):
    # When the secret is malformed, Then the job raises (the trigger fails the deploy) naming
    # the problem, and no log line carries the password
    with pytest.raises(ValueError, match=error):
        deploy(secret, lambda_context)
    assert _users(empty_pg) == []
    assert PASSWORD not in json.dumps(log_lines())


def test_two_deploy_jobs_at_once_both_succeed_one_after_the_other(empty_pg):
    # Given two runs racing on an empty database (a retried trigger, or an engineer by hand)
    from shared.platform.migrate import apply

    engines = [create_engine(normalize_url(empty_pg)) for _ in range(2)]
    results: list[object] = []

    def run(engine) -> None:  # type: ignore[no-untyped-def]
        try:
            results.append(apply(engine=engine))
        except Exception as exc:  # the assertion below shows it
            results.append(exc)

    # When both apply the migrations at once, each on its own connection (as two Lambdas would)
    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    # Then the advisory lock serializes them: both end at the same revision, no error
    assert len(results) == 2 and results[0] == results[1] and isinstance(results[0], str), results


def test_a_rollback_runs_the_older_job_on_a_newer_database_and_succeeds(
    deploy, empty_pg, lambda_context, log_lines
):
    # Given a database migrated by a newer deploy than this code (its revision unknown here)
    deploy({"email": "ops@example.com", "password": PASSWORD}, lambda_context)
    engine = create_engine(normalize_url(empty_pg))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    engine.dispose()
    # When CloudFormation rolls back and runs this (older) job
    result = deploy({"email": "ops@example.com", "password": PASSWORD}, lambda_context)
    # Then it leaves the schema alone and succeeds, so the rollback completes
    assert result == {"revision": "0099_from_the_future", "admin": "exists"}
    assert any("does not know" in line.get("message", "") for line in log_lines())


def test_a_blanked_password_does_not_fail_later_deploys_once_the_admin_exists(
    deploy, empty_pg, lambda_context
):
    deploy({"email": "ops@example.com", "password": PASSWORD}, lambda_context)
    # When an operator blanks the password in the secret after the first deploy
    result = deploy({"email": "ops@example.com", "password": ""}, lambda_context)
    # Then the next deploy still succeeds: the password only ever creates the account
    assert result["admin"] == "exists"
