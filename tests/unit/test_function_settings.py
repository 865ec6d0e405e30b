"""Every function's settings validate with exactly the environment its declaration earns it:
the variables the CDK app and the local runner set for its declared needs, nothing else. A
function that reads a resource it did not declare fails here, not in AWS."""

from __future__ import annotations

import os

import pytest

from functions.registry import discover
from shared.platform.settings import reset_settings

REGISTRY = discover()
BASE = {"POWERTOOLS_SERVICE_NAME": "test", "AWS_REGION": "us-east-1"}
#: What the API stack sets besides the grants: the web app's URL for links in emails.
STACK_ENV = {"email": ("APP_URL",)}


# Variables that must parse as something other than a string get a realistic value.
TYPED = {
    "DATABASE_URL": "postgresql+pg8000://stratus@127.0.0.1/stratus",
    "DATABASE_TLS": "true",
    "REDIS_PORT": "6379",
    "VECTOR_STORE": "opensearch",
    "OPENSEARCH_ENDPOINT": "https://abc.us-east-1.aoss.amazonaws.com",
    "OPENSEARCH_SERVICE": "aoss",
    "EMBEDDER": "bedrock",
    "APP_URL": "https://app.example.com",
}


def _earned_env(function, where: str) -> dict[str, str]:
    """The environment the local runner ("local") or the CDK app ("aws") gives ``function``."""
    env = {**BASE, "STAGE": "dev" if where == "aws" else "local"}
    for access in function.needs:
        names = access.aws_env if where == "aws" else (access.env,) if access.env else ()
        if where == "aws":
            names = (*names, *STACK_ENV.get(access.kind, ()))
        for variable in names:
            env[variable] = TYPED.get(variable, f"value-of-{variable.lower()}")
    return env


@pytest.mark.parametrize("where", ["local", "aws"])
@pytest.mark.parametrize("name", [entry.name for entry in REGISTRY])
def test_declared_needs_are_enough_for_the_settings(name, where, monkeypatch):
    # Given only what the declaration earns the function, locally or in AWS
    function = REGISTRY[name].function
    monkeypatch.setattr(os, "environ", _earned_env(function, where))
    reset_settings()
    try:
        # Then its settings, and those its needs imply, validate
        function.validate()
    finally:
        reset_settings()


def test_aws_gets_no_url_with_credentials_for_the_database_or_cache():
    # Given the variables the CDK app sets for the database and the cache
    from shared.platform.declare import CACHE, DATABASE

    # Then none is a URL (which would carry a password): only addresses and secret ARNs
    for access in (DATABASE, CACHE):
        assert access.env not in access.aws_env
        assert any(name.endswith("_SECRET_ARN") for name in access.aws_env)


def test_an_undeclared_need_is_caught(monkeypatch):
    # Given a function whose settings want the database, with no database declared
    from shared.platform.settings import ApiSettings

    monkeypatch.setattr(os, "environ", dict(BASE))
    reset_settings()
    # Then validation fails, naming what is missing
    with pytest.raises(ValueError, match="DATABASE_URL"):
        ApiSettings()
