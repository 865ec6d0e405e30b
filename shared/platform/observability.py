"""The one place that creates the logger, the metrics and the tracer.

Logger and Metrics are cheap and created at import; ``Tracer()`` costs about half a second of
cold start (it imports aws-xray-sdk), so it is created lazily and only where tracing is on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import traceback
import warnings
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, TypeGuard

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "stratus"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Stratus"))

#: The header that carries the request id on every response (and, when sane, on the request).
#: On a response API Gateway makes by itself, it is API Gateway's own request id.
REQUEST_ID_HEADER = "X-Request-Id"

#: The request id of the invocation being served (HTTP request or queue record).
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def tracing_enabled() -> bool:
    """True inside Lambda unless ``POWERTOOLS_TRACE_DISABLED`` says otherwise."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in {"1", "true", "yes"}
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and not disabled


@lru_cache(maxsize=1)
def get_tracer(patch_modules: tuple[str, ...] = ()) -> Tracer | None:
    """The X-Ray tracer, created on first use; ``None`` where tracing is off.

    It patches ``patch_modules`` only (``shared.platform.declare.Function.traced_modules``: the
    libraries the function's needs use), not every library it supports: Powertools' default
    would import each one that is installed."""
    if not tracing_enabled():
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=list(patch_modules))


#: What the contract accepts as a caller's request id; anything else is replaced.
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def is_sane_request_id(value: object) -> TypeGuard[str]:
    """True when ``value`` may be used as a request id as it is (1-128 of ``[A-Za-z0-9._-]``)."""
    return isinstance(value, str) and SANE_REQUEST_ID.match(value) is not None


def failure_keys(exc: BaseException) -> dict[str, str]:
    """What a log line says of a failure: the error's type, its cause's type and where it was
    raised. Never its message nor a traceback: a database error's message quotes the values of
    the statement (an email in a unique violation), and a traceback the code's locals."""
    keys = {"error": type(exc).__name__}
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        keys["error_cause"] = type(cause).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        keys["error_at"] = f"{os.path.basename(last.filename)}:{last.lineno} in {last.name}"
    return keys


def log_failure(message: str, exc: BaseException, **extra: object) -> None:
    """Log ``exc`` at ERROR with :func:`failure_keys`, correlated by the request id."""
    logger.error(message, extra={**extra, **failure_keys(exc)})


#: The business metrics (EMF, namespace ``Stratus/<stage>``): what each counts and where.
#: The ones with an alarm (infra/components/monitoring.py) page; docs/operations/ has the table.
SIGN_UPS = "SignUps"  # accounts created (shared.auth.service.register)
LOGINS = "Logins"  # successful sign-ins
FAILED_LOGINS = "FailedLogins"  # refused sign-ins: wrong credentials (not throttled ones)
RATE_LIMITED = "RateLimited"  # requests refused with 429 by the per-caller limit
DOCUMENTS_INGESTED = "DocumentsIngested"  # documents that became ready
INGEST_FAILURES = "IngestFailures"  # documents that failed (unreadable, or an error raised)
INGEST_DURATION = "IngestDuration"  # milliseconds from claim to ready
SEARCH_LATENCY = "SearchLatency"  # milliseconds per search, embedding included
NOTIFICATIONS_SENT = "NotificationsSent"  # notification emails sent
#: The outbox relay's backlog age (shared.platform.outbox): the outbox lag, in seconds.
OUTBOX_LAG = "OutboxOldestPendingAge"


def count(name: str, value: float = 1) -> None:
    """Add ``value`` to the business metric ``name`` (a count), flushed with the invocation."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def milliseconds(name: str, value: float) -> None:
    """Record one duration of the business metric ``name``, in milliseconds."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=round(value, 3))


def set_user_id(user_id: str | None) -> None:
    """Make ``user_id`` a key of every log line of this invocation (None: no user known)."""
    if user_id:
        logger.thread_safe_append_keys(user_id=user_id)
    else:
        logger.thread_safe_remove_keys(["user_id"])


class TypeOnlyErrors(logging.Filter):
    """Rewrites a library's record that carries an exception (SQLAlchemy's pool logs one when
    it fails to close a dead connection) to its message and the error's type: no traceback,
    no error message, whoever handles it (in Lambda, the runtime's root handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info or record.exc_text or record.stack_info:
            error = record.exc_info[1] if record.exc_info else None
            message = record.getMessage()
            record.msg = f"{message} ({type(error).__name__})" if error else message
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True


_TYPE_ONLY = TypeOnlyErrors()


def without_tracebacks(*logger_names: str) -> None:
    """Let the loggers ``logger_names`` (a library's) log no traceback nor error message."""
    for name in logger_names:
        library = logging.getLogger(name)
        if _TYPE_ONLY not in library.filters:
            library.addFilter(_TYPE_ONLY)


def set_request_id(request_id: str) -> None:
    """Make ``request_id`` the correlation id of every log line and of outgoing messages.

    Kept per thread and per context (not process-wide), so concurrent invocations in the local
    runner never log each other's ids."""
    request_id_var.set(request_id)
    logger.thread_safe_append_keys(correlation_id=request_id)
    if tracing_enabled():  # the trace is found by it: annotation.request_id = "..."
        from aws_xray_sdk.core import xray_recorder

        # Lambda's own (facade) segment takes no annotation: only a subsegment does.
        with contextlib.suppress(Exception):
            xray_recorder.put_annotation("request_id", request_id)


# A function that emits no metric of its own on a warm invocation is normal, not a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish")
