"""The local runner's stand-in for EventBridge scheduled rules.

Each declared :class:`~shared.platform.declare.ScheduleTrigger` runs its job's real handler on the
same "Scheduled Event" EventBridge sends, on its own daemon thread, every interval of its
``rate(...)`` expression (the first run one interval after start, as a new rule does).

``cron(...)`` expressions are refused at startup: EventBridge's six-field dialect (year field,
``?``, ``L``, ``W``, ``#``, day-of-week 1-7 from Sunday) is not what the cron libraries at hand
parse, and emulating it approximately would hide a wrong schedule. A job declared with cron can
still be run on demand with :meth:`Scheduler.run_now` when schedules are disabled.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.registry import Entry, Registry
from local.aws import physical_name
from local.invoke import Invocation, Invoker, invoke
from local.lambda_context import ACCOUNT_ID, REGION
from shared.platform.declare import ScheduleTrigger

_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_RATE = re.compile(r"^rate\((?P<value>[^\s()]+)\s+(?P<unit>[^\s()]+)\)$")
_CRON = re.compile(r"^cron\((?P<fields>[^()]*)\)$")


class UnsupportedSchedule(ValueError):
    """A valid EventBridge expression that the local runner cannot emulate."""


def parse_rate(expression: str) -> timedelta:
    """The interval of ``rate(value unit)``, validated as EventBridge validates it.

    ``value`` is a positive integer; ``unit`` is ``minute``, ``hour`` or ``day`` when the value
    is 1 and ``minutes``, ``hours`` or ``days`` otherwise. Raises ``ValueError`` naming the
    expression and what is wrong with it.
    """
    match = _RATE.match(expression)
    if match is None:
        raise ValueError(
            f"{expression!r} is not a rate expression: write rate(<value> <unit>), "
            "for example rate(5 minutes) or rate(1 hour)"
        )
    value_text, unit = match["value"], match["unit"]
    if not value_text.isdigit() or int(value_text) < 1:
        raise ValueError(
            f"{expression!r}: the value must be a positive integer, not {value_text!r}"
        )
    value = int(value_text)
    singular = unit.removesuffix("s")
    if singular not in _UNITS:
        raise ValueError(
            f"{expression!r}: the unit must be minute(s), hour(s) or day(s), not {unit!r}"
        )
    expected = singular if value == 1 else f"{singular}s"
    if unit != expected:
        raise ValueError(
            f"{expression!r}: EventBridge requires {expected!r} with the value {value} "
            "(singular for 1, plural otherwise)"
        )
    return value * _UNITS[singular]


def check_cron(expression: str) -> None:
    """Check the shape of ``cron(...)``: six fields. It is never emulated (see the module)."""
    match = _CRON.match(expression)
    if match is None:
        raise ValueError(f"{expression!r} is not a cron expression: write cron(<six fields>)")
    fields = match["fields"].split()
    if len(fields) != 6:
        raise ValueError(
            f"{expression!r}: EventBridge cron takes six fields "
            f"(minutes hours day-of-month month day-of-week year), not {len(fields)}"
        )


def parse_schedule(expression: str) -> timedelta:
    """The interval between runs of the schedule ``expression``.

    Supports every ``rate(...)`` expression EventBridge accepts. Raises
    :class:`UnsupportedSchedule` for a well-formed ``cron(...)`` expression (the local runner
    does not emulate cron) and ``ValueError`` for anything malformed; both name the expression.
    """
    if expression.startswith("rate("):
        return parse_rate(expression)
    if expression.startswith("cron("):
        check_cron(expression)
        raise UnsupportedSchedule(
            f"the local runner cannot emulate the schedule {expression!r}: only rate(...) "
            "expressions run on their schedule locally. Declare a rate(...) schedule, or start "
            "the runner with schedules disabled and run the job on demand."
        )
    raise ValueError(
        f"{expression!r} is not an EventBridge schedule expression: "
        "write rate(<value> <unit>) or cron(<six fields>)"
    )


def rule_arn(entry: Entry, *, region: str = REGION, account: str = ACCOUNT_ID) -> str:
    """The ARN of the (emulated) EventBridge rule that runs ``entry``."""
    return f"arn:aws:events:{region}:{account}:rule/{physical_name(entry.name)}"


def scheduled_event(
    entry: Entry,
    *,
    at: datetime | None = None,
    region: str = REGION,
    account: str = ACCOUNT_ID,
) -> dict[str, Any]:
    """The "Scheduled Event" EventBridge sends ``entry``'s function at ``at`` (default: now)."""
    when = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn(entry, region=region, account=account)],
        "detail": {},
    }


@dataclass(frozen=True)
class ScheduledJobRun:
    """One declared schedule: its function, its expression and its interval (if emulated)."""

    entry: Entry
    trigger: ScheduleTrigger
    interval: timedelta | None


class Scheduler:
    """Run every declared schedule on its interval, on one daemon thread per schedule.

    The constructor checks every expression and fails loudly, naming each one it cannot
    emulate; with ``enabled=False`` nothing runs by itself (so cron is accepted) and
    :meth:`run_now` still works. ``time_scale`` divides every interval (demos and tests).
    """

    def __init__(
        self,
        schedules: Registry | Iterable[tuple[Entry, ScheduleTrigger]],
        stop: threading.Event,
        *,
        enabled: bool = True,
        time_scale: float = 1.0,
        quiet: bool = False,
        invoker: Invoker = invoke,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale}")
        pairs = schedules.schedules if isinstance(schedules, Registry) else list(schedules)
        self.enabled = enabled
        self.stop_event = stop
        self.time_scale = time_scale
        self.quiet = quiet
        self.invoker = invoker
        self.jobs: dict[str, ScheduledJobRun] = {}
        problems = []
        for entry, trigger in pairs:
            try:
                interval: timedelta | None = parse_schedule(trigger.expression)
            except UnsupportedSchedule as exc:
                if enabled:
                    problems.append(f"{entry.name}: {exc}")
                interval = None
            except ValueError as exc:
                problems.append(f"{entry.name}: {exc}")
                interval = None
            self.jobs[entry.name] = ScheduledJobRun(entry, trigger, interval)
        if problems:
            raise UnsupportedSchedule("; ".join(problems))
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start one thread per schedule (none when disabled)."""
        if not self.enabled:
            return
        if self._threads:
            raise RuntimeError("the scheduler is already started")
        for job in self.jobs.values():
            thread = threading.Thread(
                target=self._run, args=(job,), name=f"schedule-{job.entry.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Set the stop event (shared with whoever passed it in); no new run starts."""
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the schedule threads to end (a run in progress finishes first)."""
        for thread in self._threads:
            thread.join(timeout)

    def run_now(self, name: str) -> Invocation:
        """Run the job of function ``name`` once, now, on a fresh Scheduled Event."""
        job = self.jobs.get(name)
        if job is None:
            raise KeyError(f"no scheduled function named {name!r}; known: {sorted(self.jobs)}")
        return self.invoker(job.entry, scheduled_event(job.entry), quiet=self.quiet)

    def _run(self, job: ScheduledJobRun) -> None:
        assert job.interval is not None
        period = job.interval.total_seconds() / self.time_scale
        due = time.monotonic() + period
        # A fixed rate, as EventBridge keeps it: a slow run delays nothing but itself, and runs
        # missed while one was in progress are skipped rather than bunched up.
        while not self.stop_event.wait(max(0.0, due - time.monotonic())):
            invocation = self.invoker(job.entry, scheduled_event(job.entry), quiet=self.quiet)
            if invocation.error is not None:
                # Not retried: EventBridge invokes asynchronously and Lambda would retry twice.
                print(
                    f"[{job.entry.name}] scheduled run failed: "
                    f"{type(invocation.error).__name__}: {invocation.error}",
                    file=sys.stderr,
                )
            due += period
            now = time.monotonic()
            if due <= now:
                due += period * ((now - due) // period + 1)
