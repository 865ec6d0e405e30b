"""FastAPI's own models are built on first use in a function, and nothing it serves changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from functions.openapi import DOC_PATH
from functions.registry import REPO_ROOT

#: A fresh interpreter importing a handler file as the Lambda runtime does, serving its event,
#: then generating the whole OpenAPI document.
COLD_PROCESS = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from fastapi.openapi import models
from shared.platform import framework
loaded = {"deferred": framework.DEFERRED, "built": models.OpenAPI.__pydantic_complete__}
from local.lambda_context import LambdaContext
with open(sys.argv[2]) as fh:
    response = module.handler(json.load(fh), LambdaContext(function_name="system-health"))
served = {"status": response["statusCode"], "built": models.OpenAPI.__pydantic_complete__}
from functions.openapi import build_openapi, render
from functions.registry import discover
doc = render(build_openapi(discover()))
print(json.dumps({"loaded": loaded, "served": served, "doc": doc}))
"""


def test_a_cold_function_defers_fastapis_models_and_generates_the_same_openapi_document():
    # Given a fresh process that loads /health's handler as Lambda does
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "STAGE": "local"}
    handler = REPO_ROOT / "functions" / "system" / "health" / "handler.py"
    event = REPO_ROOT / "events" / "system-health.json"
    out = subprocess.run(
        [sys.executable, "-c", COLD_PROCESS, str(handler), str(event)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])

    # Then FastAPI's OpenAPI models were not built by the import, nor by serving a request
    assert result["loaded"] == {"deferred": True, "built": False}
    assert result["served"] == {"status": 200, "built": False}
    # And the OpenAPI document generated afterwards is the committed one, byte for byte
    assert result["doc"] == DOC_PATH.read_text()
