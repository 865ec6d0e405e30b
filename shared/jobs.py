"""Scheduled jobs: one Lambda function run by an EventBridge schedule.

``ScheduledJob`` is the declaration (the schedule expression) and the transport: the
EventBridge "Scheduled Event" becomes a plain call of the job's function, under the event's id
as request id, and the function's result is logged and returned.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from shared.declare import Access, Function, ScheduleTrigger
from shared.observability import logger, set_request_id
from shared.settings import Observability, Settings

JobResult = dict[str, Any] | None
J = TypeVar("J", bound=Callable[[], JobResult])

# The shape only; the local runner's scheduler (local/schedules.py) and EventBridge itself
# validate the fields.
_EXPRESSION = re.compile(r"^(rate|cron)\(.+\)$")
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class ScheduledJob(Function):
    """A function run on an EventBridge schedule, ``rate(...)`` or ``cron(...)``.

    Declare it in ``handler.py`` and register the job with :meth:`run`::

        function = ScheduledJob(schedule="rate(1 hour)", needs=(DATABASE,))

        @function.run
        def purge_expired() -> dict[str, int]:
            ...

        handler = function.handler
    """

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
        self._job: Callable[[], JobResult] | None = None

    @property
    def schedule(self) -> ScheduleTrigger:
        """The schedule trigger this job declares."""
        assert isinstance(self.trigger, ScheduleTrigger)
        return self.trigger

    def run(self, fn: J) -> J:
        """Register ``fn()`` as the job; it returns a small JSON-able summary, or ``None``."""
        if self._job is not None:
            raise RuntimeError(f"scheduled job {self.schedule.expression!r} already has a function")
        self._job = fn
        self.description = (fn.__doc__ or "").strip().partition("\n")[0]
        return fn

    def invoke(self, event: dict[str, Any], context: Any) -> JobResult:
        """Run the job for one EventBridge Scheduled Event; return (and log) its result."""
        if self._job is None:
            raise RuntimeError(
                f"scheduled job {self.schedule.expression!r} has no function: "
                "decorate one with @function.run"
            )
        event_id = event.get("id")
        request_id = (
            event_id
            if isinstance(event_id, str) and _SANE_REQUEST_ID.match(event_id)
            else str(uuid.uuid4())
        )
        set_request_id(request_id)
        log_keys = {"schedule": self.schedule.expression, "scheduled_time": event.get("time")}
        started = time.perf_counter()
        try:
            result = self._job()
        except Exception:
            logger.exception("Scheduled job failed", extra=log_keys)
            raise
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        logger.info(
            "Scheduled job finished",
            extra={**log_keys, "result": result, "duration_ms": duration_ms},
        )
        return result
