"""Jobs: a Lambda function that runs one plain Python function, on a schedule or on deploy.

``ScheduledJob`` runs on an EventBridge schedule; ``DeployJob`` runs once per deploy, from a
CDK trigger, before the API takes traffic (the local runner runs it when it starts). Both turn
their event into a plain call of the job's function, under the event's id (or a fresh one) as
request id; the function's result is logged and returned, and a failure is logged and raised
(a failed deploy job fails the deploy).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from shared.platform.declare import Access, DeployTrigger, Function, ScheduleTrigger, Trigger
from shared.platform.observability import is_sane_request_id, log_failure, logger, set_request_id
from shared.platform.settings import Observability, Settings

JobResult = dict[str, Any] | None
J = TypeVar("J", bound=Callable[[], JobResult])

# The shape only; the local runner's scheduler (local/schedules.py) and EventBridge itself
# validate the fields.
_EXPRESSION = re.compile(r"^(rate|cron)\(.+\)$")


class JobFailed(RuntimeError):
    """A scheduled job failed; what failed where is in its log line (``log_failure``)."""


class _Job(Function):
    """What scheduled and deploy jobs share: one registered function, run per event."""

    _label = "Job"
    #: Whether the error that reaches the Lambda runtime (which logs it, traceback included)
    #: is the job's own, or one naming only its type. The deploy job's names the problem on
    #: purpose: the failed deploy shows it.
    _raises_own_error = False

    def __init__(
        self,
        *,
        trigger: Trigger,
        needs: tuple[Access, ...],
        settings: type[Settings],
        timeout_seconds: int,
        memory_mb: int,
    ) -> None:
        super().__init__(
            trigger=trigger,
            needs=needs,
            settings=settings,
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
        )
        self._job: Callable[[], JobResult] | None = None

    def run(self, fn: J) -> J:
        """Register ``fn()`` as the job; it returns a small JSON-able summary, or ``None``."""
        if self._job is not None:
            raise RuntimeError(f"{self._describe()} already has a function")
        self._job = fn
        self.description = (fn.__doc__ or "").strip().partition("\n")[0]
        return fn

    def _describe(self) -> str:
        return self._label.lower()

    def _log_keys(self, event: dict[str, Any]) -> dict[str, Any]:
        return {}

    def invoke(self, event: dict[str, Any], context: Any) -> JobResult:
        """Run the job for one event; return (and log) its result."""
        if self._job is None:
            raise RuntimeError(
                f"{self._describe()} has no function: decorate one with @function.run"
            )
        event = event if isinstance(event, dict) else {}
        event_id = event.get("id")
        request_id = event_id if is_sane_request_id(event_id) else str(uuid.uuid4())
        set_request_id(request_id)
        log_keys = self._log_keys(event)
        started = time.perf_counter()
        try:
            result = self._job()
        except Exception as exc:
            log_failure(f"{self._label} failed", exc, **log_keys)
            if self._raises_own_error:
                raise
            raise JobFailed(f"{self._label} failed: {type(exc).__name__}") from None
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        logger.info(
            f"{self._label} finished",
            extra={**log_keys, "result": result, "duration_ms": duration_ms},
        )
        return result


class ScheduledJob(_Job):
    """A function run on an EventBridge schedule, ``rate(...)`` or ``cron(...)``.

    Declare it in ``handler.py`` and register the job with :meth:`run`::

        function = ScheduledJob(schedule="rate(1 hour)", needs=(DATABASE,))

        @function.run
        def purge_expired() -> dict[str, int]:
            ...

        handler = function.handler
    """

    _label = "Scheduled job"

    def __init__(
        self,
        *,
        schedule: str,
        needs: tuple[Access, ...] = (),
        settings: type[Settings] = Observability,
        timeout_seconds: int = 60,
        memory_mb: int = 512,
    ) -> None:
        if not _EXPRESSION.match(schedule):
            raise ValueError(
                f"schedule {schedule!r} is not an EventBridge schedule expression: "
                "write rate(<value> <unit>) or cron(<six fields>)"
            )
        super().__init__(
            trigger=ScheduleTrigger(schedule),
            needs=needs,
            settings=settings,
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
        )

    @property
    def schedule(self) -> ScheduleTrigger:
        """The schedule trigger this job declares."""
        assert isinstance(self.trigger, ScheduleTrigger)
        return self.trigger

    def _describe(self) -> str:
        return f"scheduled job {self.schedule.expression!r}"

    def _log_keys(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"schedule": self.schedule.expression, "scheduled_time": event.get("time")}


class DeployJob(_Job):
    """A function run once per deploy, before the API takes traffic (database migrations).

    The CDK trigger invokes it with an empty event and fails the deploy when it raises; it runs
    again on every deploy that changes the function or its layer, so it must be idempotent."""

    _label = "Deploy job"
    _raises_own_error = True

    def __init__(
        self,
        *,
        needs: tuple[Access, ...] = (),
        settings: type[Settings] = Observability,
        timeout_seconds: int = 300,
        memory_mb: int = 512,
    ) -> None:
        super().__init__(
            trigger=DeployTrigger(),
            needs=needs,
            settings=settings,
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
        )
