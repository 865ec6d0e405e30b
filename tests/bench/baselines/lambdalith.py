"""Baseline for the benchmark only: one FastAPI app holding every route, behind one Mangum (a
"lambdalith"). It imports every HTTP handler, as one function serving the whole API would, and
does per request what each Stratus function does (request id, rate limit, problems), with the
logger, metrics and tracer (patching every library any route uses). Never deployed.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from mangum import Mangum

from shared.platform.declare import instrument
from shared.platform.errors import PROBLEM_CONTENT_TYPE
from shared.platform.http import HttpFunction, build_app


def _load(path: str, index: int) -> Any:
    spec = importlib.util.spec_from_file_location(f"lambdalith_route_{index}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.function


#: Every HTTP handler file (the benchmark passes them: workers are not part of an HTTP app).
ROUTE_FILES = os.environ["STRATUS_BENCH_ROUTES"].split(os.pathsep)
FUNCTIONS = [_load(path, i) for i, path in enumerate(ROUTE_FILES)]
APP = build_app(*(f.router for f in FUNCTIONS))
TRACED = tuple(sorted({m for f in FUNCTIONS for m in f.traced_modules}))


class _Lambdalith(HttpFunction):
    """The transport of one Stratus function, serving the app of all of them."""

    @property
    def app(self) -> Any:
        return APP


_ONE = _Lambdalith(method="GET", path="/", auth=False)
_ONE._mangum = Mangum(
    APP, lifespan="off", text_mime_types=["application/json", PROBLEM_CONTENT_TYPE, "text/"]
)


RATE_LIMITED = {(f.route.method, f.route.path): f.rate_limited for f in FUNCTIONS}


def _serve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # as the function serving this route would: /health is not rate limited
    _ONE.rate_limited = RATE_LIMITED.get((event["httpMethod"], event["resource"]), True)
    return _ONE.invoke(event, context)


handler = instrument(_serve, TRACED)
