"""Every function answers its committed sample event, as `make invoke` runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from functions.registry import REPO_ROOT, discover
from local.invoke import invoke
from local.runner import RunnerConfig
from tests.support.events import load_event
from tests.support.services import server_folder

pytestmark = pytest.mark.e2e

REGISTRY = discover()


@pytest.fixture(scope="module")
def environment():
    """moto, the resources, the migrated database and Redis, without the HTTP server."""
    from local.runner import LocalRunner

    config = RunnerConfig(state_dir=server_folder("stratus-sample-events-"))
    runner = LocalRunner(REGISTRY, config, serve=False)
    runner.start()
    yield runner
    runner.stop()


@pytest.mark.parametrize("name", [entry.name for entry in REGISTRY])
def test_every_function_handles_its_sample_event(environment, name):
    outcome = invoke(REGISTRY[name], load_event(name))
    if REGISTRY[name].kind == "authorizer":
        # the sample carries a placeholder token: refused the way API Gateway understands
        assert str(outcome.error) == "Unauthorized"
        return
    assert outcome.error is None, outcome.error
    if isinstance(outcome.result, dict) and "statusCode" in outcome.result:
        assert outcome.result["statusCode"] < 500, outcome.result
    if isinstance(outcome.result, dict) and "batchItemFailures" in outcome.result:
        assert outcome.result["batchItemFailures"] == []


def test_make_invoke_prints_the_handlers_response(tmp_path):
    # When `make invoke FN=system-health EVENT=events/system-health.json` runs
    done = make_invoke("system-health", "events/system-health.json", state_dir=tmp_path)
    # Then it prints the proxy response and exits 0
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["status"] == "ok"
    assert response["headers"]["X-Request-Id"] == "sample-request-0001"


def test_make_invoke_names_the_known_functions_for_an_unknown_one(tmp_path):
    done = make_invoke("no-such-fn", "events/system-health.json", state_dir=tmp_path)
    assert done.returncode != 0
    assert "system-health" in done.stderr


def make_invoke(name: str, event: str, *, state_dir) -> subprocess.CompletedProcess[str]:
    """`make invoke FN=<name> EVENT=<event>` on the embedded defaults, state under state_dir."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "-m", "local.invoke", name, event],
        cwd=REPO_ROOT,
        env={**env, "LOCAL_STATE_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
