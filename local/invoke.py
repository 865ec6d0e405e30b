"""Invoke one function's real handler as the Lambda runtime would, and log one line for it."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from functions.registry import Entry
from local.lambda_context import LambdaContext


@dataclass
class Invocation:
    result: Any
    error: BaseException | None
    duration_ms: float


def invoke(entry: Entry, event: dict[str, Any], *, quiet: bool = False) -> Invocation:
    """Run ``entry``'s handler on ``event``; a raised error is returned, as Lambda reports it."""
    fn = entry.function
    context = LambdaContext(
        function_name=entry.name,
        timeout_seconds=fn.timeout_seconds,
        memory_limit_in_mb=fn.memory_mb,
    )
    started = time.perf_counter()
    error: BaseException | None = None
    result: Any = None
    try:
        result = fn.handler(event, context)
    except Exception as exc:  # noqa: BLE001 - Lambda reports a function error; so do we
        error = exc
    duration_ms = (time.perf_counter() - started) * 1000
    if not quiet:
        print(f"[{entry.name}] {_outcome(result, error)} {duration_ms:.1f} ms", file=sys.stderr)
    return Invocation(result, error, duration_ms)


def _outcome(result: Any, error: BaseException | None) -> str:
    if error is not None:
        return f"error {type(error).__name__}"
    if isinstance(result, dict) and "statusCode" in result:
        return str(result["statusCode"])
    if isinstance(result, dict) and result.get("batchItemFailures"):
        return f"partial ({len(result['batchItemFailures'])} failed)"
    return "ok"
