"""Invoking a handler as the Lambda runtime would, in the local runner."""

from __future__ import annotations

import time
import types
from pathlib import Path
from typing import Any

from functions.registry import Entry
from local.invoke import invoke
from shared.platform.declare import Function, ScheduleTrigger


class Slow(Function):
    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        time.sleep(event["sleep"])
        return {"done": True}


def entry_of(fn: Function) -> Entry:
    module = types.ModuleType("slow")
    module.function = fn  # type: ignore[attr-defined]
    return Entry(name="demo-slow", service="demo", folder=Path("."), module=module)


def test_an_invocation_within_its_timeout_returns_its_result():
    outcome = invoke(
        entry_of(Slow(trigger=ScheduleTrigger("rate(1 hour)"), timeout_seconds=1)), {"sleep": 0}
    )
    assert outcome.error is None
    assert outcome.result == {"done": True}


def test_an_invocation_past_its_timeout_is_reported_as_lambda_reports_it(capsys):
    # Given a function with a 1 s timeout that runs longer
    fn = Slow(trigger=ScheduleTrigger("rate(1 hour)"), timeout_seconds=1)
    # When invoked
    outcome = invoke(entry_of(fn), {"sleep": 1.05})
    # Then its result is discarded and the error is Lambda's timeout, said loudly
    assert outcome.result is None
    assert isinstance(outcome.error, TimeoutError)
    assert "Task timed out after 1.00 seconds" in str(outcome.error)
    assert "over its timeout" in capsys.readouterr().err
