"""One declaration, every consumer: a route added to the registry appears in the CDK template,
the local runner and the OpenAPI document, with nothing else edited."""

from __future__ import annotations

import httpx
import pytest

from functions.openapi import build_openapi
from functions.registry import FUNCTIONS_DIR, discover
from local.runner import RunnerConfig
from tests.e2e.conftest import start_runner
from tests.infra.synth import synthesize
from tests.support.registries import make_registry
from tests.support.services import server_folder

pytestmark = [pytest.mark.infra, pytest.mark.e2e]

PING = """
    from shared.platform.http import HttpFunction

    function = HttpFunction(method="GET", path="/ping/{name}", auth=False)


    @function.endpoint
    async def ping(name: str) -> dict[str, str]:
        \"\"\"Answer a ping.\"\"\"
        return {"pong": name}


    handler = function.handler
"""


def test_a_route_added_to_the_registry_reaches_cdk_the_runner_and_openapi(tmp_path, layer_dir):
    # Given the real functions plus one new declaration, and nothing else changed
    health = (FUNCTIONS_DIR / "system" / "health" / "handler.py").read_text()
    registry = make_registry(tmp_path, {"system/health": health, "demo/ping": PING})
    assert "/ping/{name}" not in build_openapi(discover())["paths"]  # not there before

    # Then the CDK template has a function and a GET method for it, behind the REST API
    synthesized = synthesize(registry, layer_dir=layer_dir, outdir=tmp_path / "cdk.out")
    logical_id, function = synthesized.function("demo-ping")
    assert function["Properties"]["Handler"] == "handler.handler"
    parts = synthesized.resources(synthesized.api, "AWS::ApiGateway::Resource")
    assert {"ping", "{name}"} <= {r["Properties"]["PathPart"] for r in parts.values()}
    methods = synthesized.resources(synthesized.api, "AWS::ApiGateway::Method")
    integrations = [
        m["Properties"]["Integration"]
        for m in methods.values()
        if m["Properties"]["HttpMethod"] == "GET"
    ]
    assert any(synthesized.invoked(i["Uri"]) == logical_id for i in integrations if "Uri" in i)

    # And the OpenAPI document describes it
    assert "get" in build_openapi(registry)["paths"]["/ping/{name}"]

    # And the local runner serves it through its real handler
    runner = start_runner(
        registry, RunnerConfig(port=0, state_dir=server_folder("stratus-single-source-"))
    )
    try:
        response = httpx.get(f"{runner.url}/ping/abc", timeout=10)
        assert response.status_code == 200
        assert response.json() == {"pong": "abc"}
    finally:
        runner.stop()
