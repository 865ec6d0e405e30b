"""In a deployed stage nothing falls back to a local implementation: every setting a function's
declaration needs must be given, local-only values are refused, and in Lambda the function
fails its initialisation, with a message naming the setting and no value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from functions.registry import REPO_ROOT, discover
from shared.platform.declare import EMBEDDINGS, VECTORS, Function, ScheduleTrigger
from shared.platform.settings import SettingsError, reset_settings
from tests.unit.test_function_settings import _earned_env

REGISTRY = discover()

#: Variables the CDK app sets that have a default fit for AWS (the rest must be given).
SAFE_DEFAULTS = {"DATABASE_TLS", "REDIS_PORT", "OPENSEARCH_SERVICE", "BEDROCK_MODEL_ID"}
#: A removed variable of a group is reported by the group's message.
GROUP_MESSAGES = {
    "DATABASE_SECRET_ARN": "DATABASE_SECRET_ARN",
    "DATABASE_HOST": "DATABASE_HOST",
    "DATABASE_NAME": "DATABASE_NAME",
    "REDIS_HOST": "REDIS_HOST",
    "REDIS_AUTH_SECRET_ARN": "REDIS_AUTH_SECRET_ARN",
}


def _cases() -> list[tuple[str, str]]:
    cases = []
    for entry in REGISTRY:
        env = _earned_env(entry.function, "aws")
        for variable in sorted(env):
            if variable not in SAFE_DEFAULTS | {"POWERTOOLS_SERVICE_NAME", "AWS_REGION", "STAGE"}:
                cases.append((entry.name, variable))
    return cases


@pytest.fixture
def environ(monkeypatch):
    def use(env: dict[str, str]) -> None:
        monkeypatch.setattr(os, "environ", env)
        reset_settings()

    yield use
    reset_settings()


@pytest.mark.parametrize(("name", "variable"), _cases())
def test_each_missing_setting_stops_a_deployed_function(name, variable, environ):
    # Given everything the CDK app sets for the function, but one variable
    function = REGISTRY[name].function
    env = _earned_env(function, "aws")
    secret_values = {v for k, v in env.items() if k.endswith("_ARN")}
    del env[variable]
    environ(env)
    # Then validation fails, naming what is missing, and echoing no value
    with pytest.raises(SettingsError) as failure:
        function.validate()
    message = str(failure.value)
    assert GROUP_MESSAGES.get(variable, variable) in message
    assert not any(value in message for value in secret_values)


@pytest.mark.parametrize(
    ("need", "variable", "local_value"),
    [(EMBEDDINGS, "EMBEDDER", "local")],
)
def test_a_local_implementation_is_refused_in_a_deployed_stage(
    need, variable, local_value, environ
):
    function = Function(trigger=ScheduleTrigger("rate(1 hour)"), needs=(need,))
    base = {"AWS_REGION": "us-east-1"}
    # Given the local stage, with nothing chosen: the local implementation is the default
    environ({**base, "STAGE": "local"})
    function.validate()
    # When the same function runs in a deployed stage with nothing chosen, or the local value
    for env in ({**base, "STAGE": "dev"}, {**base, "STAGE": "dev", variable: local_value}):
        environ(env)
        # Then it is refused, naming the setting
        with pytest.raises(SettingsError, match=variable):
            function.validate()


@pytest.mark.parametrize("stage", ["local", "prod"])
def test_a_database_url_that_is_not_postgres_is_refused(stage, environ):
    from shared.platform.declare import DATABASE

    # Given a SQLite URL, once a supported local database
    function = Function(trigger=ScheduleTrigger("rate(1 hour)"), needs=(DATABASE,))
    environ({"STAGE": stage, "DATABASE_URL": "sqlite:///x.db"})
    # Then every stage refuses it: PostgreSQL everywhere
    with pytest.raises(SettingsError, match="PostgreSQL URL"):
        function.validate()


@pytest.mark.parametrize(
    ("need", "variable", "choices"),
    [
        (VECTORS, "VECTOR_STORE", ("pgvector", "opensearch")),
        (EMBEDDINGS, "EMBEDDER", ("static", "bedrock")),
    ],
)
def test_deployable_choices_are_accepted_but_must_be_made(need, variable, choices, environ):
    function = Function(trigger=ScheduleTrigger("rate(1 hour)"), needs=(need,))
    base = {"AWS_REGION": "us-east-1", "STAGE": "dev", "OPENSEARCH_ENDPOINT": "https://x.aoss"}
    # Given a deployed stage that names one of the implementations AWS can run: accepted
    for choice in choices:
        environ({**base, variable: choice})
        function.validate()
    # And one that names none is refused, naming the setting
    environ(base)
    with pytest.raises(SettingsError, match=variable):
        function.validate()


def test_a_function_in_lambda_must_say_its_stage(environ):
    function = Function(trigger=ScheduleTrigger("rate(1 hour)"))
    environ({"AWS_LAMBDA_FUNCTION_NAME": "stratus-dev-x"})
    with pytest.raises(SettingsError, match="STAGE is not set"):
        function.validate()


def test_a_misconfigured_function_fails_its_lambda_initialisation():
    # Given the search function's AWS environment without VECTOR_STORE, inside Lambda
    entry = REGISTRY["documents-search"]
    env = _earned_env(entry.function, "aws")
    del env["VECTOR_STORE"]
    env |= {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "PYTHONPATH": str(REPO_ROOT)}
    env |= {"AWS_LAMBDA_FUNCTION_NAME": "stratus-dev-documents-search", "PATH": os.defpath}
    # When the runtime imports its handler
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, sys; runpy.run_path(sys.argv[1])",
            str(entry.folder / "handler.py"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then the import itself fails, saying why
    assert imported.returncode != 0
    assert "VECTOR_STORE is not set: stage 'dev' must choose one" in imported.stderr
