"""The local runner's scheduler: expressions parsed as EventBridge parses them, events as it
sends them, and a loud refusal of what it cannot emulate."""

from __future__ import annotations

import threading
import time
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.registry import Entry
from local.schedules import (
    Scheduler,
    UnsupportedSchedule,
    parse_rate,
    parse_schedule,
    scheduled_event,
)
from shared.platform.jobs import ScheduledJob
from shared.platform.observability import request_id_var


def job_entry(name: str, schedule: str, fn=None) -> Entry:
    """A registry entry for a job declared in the test (no handler file needed)."""
    job = ScheduledJob(schedule=schedule)
    job.run(fn or (lambda: {"ran": True}))
    module = types.ModuleType(f"test_{name}")
    module.function = job  # type: ignore[attr-defined]
    return Entry(name=name, service="test", folder=Path("."), module=module)


def pairs(*entries: Entry):
    return [(entry, entry.function.trigger) for entry in entries]


# ---- rate expressions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(12 hours)", timedelta(hours=12)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(7 days)", timedelta(days=7)),
    ],
)
def test_every_rate_eventbridge_accepts_parses_to_its_interval(expression, interval):
    assert parse_rate(expression) == interval
    assert parse_schedule(expression) == interval


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        # EventBridge: singular unit for the value 1, plural for any other value
        ("rate(1 minutes)", "requires 'minute' with the value 1"),
        ("rate(1 hours)", "requires 'hour' with the value 1"),
        ("rate(5 hour)", "requires 'hours' with the value 5"),
        ("rate(2 day)", "requires 'days' with the value 2"),
        # a positive integer
        ("rate(0 minutes)", "must be a positive integer, not '0'"),
        ("rate(-5 minutes)", "must be a positive integer"),
        ("rate(1.5 hours)", "must be a positive integer"),
        ("rate(five minutes)", "must be a positive integer"),
        # units EventBridge does not know
        ("rate(2 weeks)", "unit must be minute\\(s\\), hour\\(s\\) or day\\(s\\), not 'weeks'"),
        ("rate(30 seconds)", "not 'seconds'"),
        ("rate(1 Hour)", "not 'Hour'"),
        # not the shape of a rate
        ("rate(5)", "is not a rate expression"),
        ("rate()", "is not a rate expression"),
        ("rate(5 minutes", "is not a rate expression"),
        ("rate(5 minutes) ", "is not a rate expression"),
    ],
)
def test_an_invalid_rate_is_refused_naming_the_expression(expression, complaint):
    with pytest.raises(ValueError, match=complaint) as caught:
        parse_schedule(expression)
    assert repr(expression) in str(caught.value)
    assert not isinstance(caught.value, UnsupportedSchedule)


@pytest.mark.parametrize("expression", ["every 5 minutes", "", "at(2026-01-01T00:00:00)", "5m"])
def test_garbage_is_refused_as_no_schedule_expression(expression):
    with pytest.raises(ValueError, match="is not an EventBridge schedule expression"):
        parse_schedule(expression)


# ---- cron expressions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression", ["cron(0 3 * * ? *)", "cron(0/15 * ? * MON-FRI *)", "cron(0 12 L * ? 2026)"]
)
def test_a_valid_cron_is_refused_loudly_as_not_emulated(expression):
    with pytest.raises(UnsupportedSchedule, match="cannot emulate") as caught:
        parse_schedule(expression)
    assert repr(expression) in str(caught.value)


@pytest.mark.parametrize("expression", ["cron(0 3 * * *)", "cron(* * * * * * *)", "cron()"])
def test_a_cron_without_six_fields_is_malformed(expression):
    with pytest.raises(ValueError, match="six fields") as caught:
        parse_schedule(expression)
    assert not isinstance(caught.value, UnsupportedSchedule)


# ---- the scheduler -------------------------------------------------------------------------------


def test_the_scheduler_refuses_to_start_with_a_schedule_it_cannot_emulate():
    # Given one job on a rate and two it cannot run on their schedules
    entries = pairs(
        job_entry("ok", "rate(1 hour)"),
        job_entry("nightly", "cron(0 3 * * ? *)"),
        job_entry("broken", "rate(1 hours)"),
    )

    # When the scheduler is built, Then it fails naming every offending function and expression
    with pytest.raises(UnsupportedSchedule) as caught:
        Scheduler(entries, threading.Event())
    message = str(caught.value)
    assert "nightly: " in message
    assert "cron(0 3 * * ? *)" in message
    assert "broken: " in message
    assert "rate(1 hours)" in message
    assert "ok: " not in message


def test_with_schedules_disabled_a_cron_job_still_runs_on_demand():
    # Given schedules disabled (nothing runs by itself) and a cron job
    scheduler = Scheduler(
        pairs(job_entry("nightly", "cron(0 3 * * ? *)")),
        threading.Event(),
        enabled=False,
        quiet=True,
    )

    # When it is run on demand, Then it runs
    assert scheduler.run_now("nightly").result == {"ran": True}
    # but a malformed expression is refused even then
    with pytest.raises(ValueError, match="rate\\(0 minutes\\)"):
        Scheduler(pairs(job_entry("zero", "rate(0 minutes)")), threading.Event(), enabled=False)


def test_run_now_invokes_the_job_on_a_scheduled_event():
    # Given a job that records the request id it ran under
    seen = []

    def purge() -> dict[str, Any]:
        seen.append(request_id_var.get())
        return {"purged": 2}

    scheduler = Scheduler(
        pairs(job_entry("system-maintenance", "rate(1 hour)", purge)), threading.Event(), quiet=True
    )

    # When it is run now
    invocation = scheduler.run_now("system-maintenance")

    # Then the real handler ran once and returned the job's result
    assert invocation.error is None
    assert invocation.result == {"purged": 2}
    assert len(seen) == 1
    assert seen[0]  # the Scheduled Event's id


def test_run_now_of_an_unknown_function_names_the_known_ones():
    scheduler = Scheduler(pairs(job_entry("a", "rate(1 day)")), threading.Event(), quiet=True)
    with pytest.raises(KeyError, match="no scheduled function named 'b'; known: \\['a'\\]"):
        scheduler.run_now("b")


def test_run_now_reports_a_failing_job_as_lambda_does():
    def broken() -> None:
        raise RuntimeError("no database")

    scheduler = Scheduler(
        pairs(job_entry("broken", "rate(1 day)", broken)), threading.Event(), quiet=True
    )

    invocation = scheduler.run_now("broken")

    assert isinstance(invocation.error, RuntimeError)
    assert invocation.result is None


def test_the_scheduler_runs_each_job_on_its_rate_until_stopped():
    # Given a job every minute, with time running 600 times faster (one run every 0.1 s)
    runs = []
    stop = threading.Event()
    scheduler = Scheduler(
        pairs(job_entry("tick", "rate(1 minute)", lambda: runs.append(time.monotonic()))),
        stop,
        time_scale=600,
        quiet=True,
    )

    # When it has run for a while and is stopped
    started = time.monotonic()
    scheduler.start()
    time.sleep(0.55)
    scheduler.stop()
    scheduler.join(timeout=2)

    # Then the job ran about once per interval, the first one interval after start
    assert 3 <= len(runs) <= 6
    assert runs[0] - started >= 0.09
    mean_gap = (runs[-1] - runs[0]) / (len(runs) - 1)
    assert 0.07 < mean_gap < 0.16
    # and nothing runs after the stop
    count = len(runs)
    time.sleep(0.25)
    assert len(runs) == count


def test_a_disabled_scheduler_runs_nothing_by_itself():
    runs = []
    scheduler = Scheduler(
        pairs(job_entry("tick", "rate(1 minute)", lambda: runs.append(1))),
        threading.Event(),
        enabled=False,
        time_scale=600,
    )
    scheduler.start()
    time.sleep(0.25)
    assert runs == []


# ---- the event -----------------------------------------------------------------------------------


def test_the_scheduled_event_has_eventbridges_shape():
    entry = job_entry("system-maintenance", "rate(1 hour)")
    at = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)

    event = scheduled_event(entry, at=at)

    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-03-01T12:30:05Z",
        "region": "us-east-1",
        "resources": [
            "arn:aws:events:us-east-1:123456789012:rule/stratus-local-system-maintenance"
        ],
        "detail": {},
    }
    assert event["id"] != scheduled_event(entry, at=at)["id"]  # a fresh id per event
