"""Invoke one function's real handler as the Lambda runtime would, and log one line for it."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
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
    _ensure_event_loop()
    _log_keys(entry, context)
    started = time.perf_counter()
    error: BaseException | None = None
    result: Any = None
    try:
        result = fn.handler(event, context)
    except Exception as exc:
        error = exc
    duration_ms = (time.perf_counter() - started) * 1000
    if duration_ms > fn.timeout_seconds * 1000:
        # Lambda would have killed the invocation; the runner cannot stop a thread, so it lets
        # it finish and then reports what Lambda would have: a timeout, whatever it returned.
        error = TimeoutError(f"Task timed out after {fn.timeout_seconds:.2f} seconds")
        result = None
        print(f"! [{entry.name}] ran {duration_ms:.0f} ms, over its timeout", file=sys.stderr)
    outcome = Invocation(result, error, duration_ms)
    if not quiet:
        report(entry, outcome)
    return outcome


#: How the gateway, the pollers and the scheduler invoke a function: :func:`invoke` (in this
#: process, on the caller's thread) or the runner's ``local.isolation.IsolatedInvoker``.
Invoker = Callable[..., Invocation]


def report(entry: Entry, outcome: Invocation) -> None:
    """The runner's one line per invocation."""
    line = f"[{entry.name}] {_outcome(outcome.result, outcome.error)} {outcome.duration_ms:.1f} ms"
    print(line, file=sys.stderr)


def _log_keys(entry: Entry, context: LambdaContext) -> None:
    """The keys Lambda gives each function's log lines by its own environment (its service, its
    name, this invocation's id), per thread: the runner's threads share one logger."""
    from local.telemetry import invocation
    from shared.platform.observability import logger

    logger.thread_safe_remove_keys(["user_id", "correlation_id"])
    invocation.keys = {
        "service": entry.service,
        "function_name": entry.name,
        "function_request_id": context.aws_request_id,
        "function_arn": context.invoked_function_arn,
        "function_memory_size": context.memory_limit_in_mb,
    }


def _ensure_event_loop() -> None:
    """Lambda runs a handler on one thread with an event loop; the runner's threads need one
    each (Mangum runs the ASGI app on the current thread's loop)."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def _outcome(result: Any, error: BaseException | None) -> str:
    if error is not None:
        return f"error {type(error).__name__}"
    if isinstance(result, dict) and "statusCode" in result:
        return str(result["statusCode"])
    if isinstance(result, dict) and result.get("batchItemFailures"):
        return f"partial ({len(result['batchItemFailures'])} failed)"
    return "ok"


def main(argv: list[str]) -> int:
    """``make invoke FN=<function> EVENT=events/<file>.json``: one handler, against moto."""
    import contextlib
    import json
    import os

    from local.runner import LocalRunner, RunnerConfig, runtime_environment

    if len(argv) != 2:
        print("usage: python -m local.invoke <function-name> <event.json>", file=sys.stderr)
        return 2
    name, event_file = argv
    for key, value in runtime_environment().items():
        os.environ.setdefault(key, value)
    from functions.registry import discover

    registry = discover()
    try:
        entry = registry[name]
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    with open(event_file) as fh:
        event = json.load(fh)
    runner = LocalRunner(registry, RunnerConfig.from_env(), serve=False)
    # stdout carries the response only: the deploy job's and the handler's logs go to stderr
    from shared.platform.observability import logger

    logger.registered_handler.setStream(sys.stderr)  # type: ignore[attr-defined]
    with contextlib.redirect_stdout(sys.stderr):
        try:
            runner.start()
            outcome = runner.invoke(entry, event)
        finally:
            runner.stop()
    if outcome.error is not None:
        print(
            json.dumps(
                {"errorType": type(outcome.error).__name__, "errorMessage": str(outcome.error)}
            )
        )
        return 1
    print(json.dumps(outcome.result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
