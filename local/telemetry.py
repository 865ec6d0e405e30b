"""The local runner's telemetry: the function logs in a file, and the EMF metrics the functions
print, served in Prometheus' text format at ``/__local/metrics``.

In Lambda, CloudWatch turns every Embedded Metric Format line a function prints into metrics.
Here :class:`EmfCollector` sits in front of the runner's stdout: an EMF line (a JSON object with
an ``_aws`` key) is parsed into counters and summaries instead of being printed; every other
line passes through unchanged.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

#: Prometheus' metric and label name grammar.
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


#: The invocation the current thread runs (``local.invoke`` sets its keys).
invocation = threading.local()


class InvocationKeys(logging.Filter):
    """Stamp each record with the keys of the invocation of its thread (service, function
    name, invocation id): in Lambda each function's environment gives them; in the runner the
    functions share one logger, whose own keys are process-wide."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in getattr(invocation, "keys", {}).items():
            setattr(record, key, value)
        return True


def start_log_file(path: Path) -> logging.Handler:
    """Write every log line of the functions' logger (INFO and up) to ``path`` as JSON, keeping
    the console at the level it had (``FUNCTION_LOG_LEVEL``)."""
    from shared.platform.observability import logger

    console = logger.registered_handler
    if console.level == logging.NOTSET:
        console.setLevel(logger.log_level)
    if not any(isinstance(f, InvocationKeys) for f in console.filters):
        console.addFilter(InvocationKeys())
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.addFilter(InvocationKeys())
    handler.setFormatter(logger.registered_formatter)
    handler.setLevel(logging.INFO)
    logger.addHandler(handler)
    if logger.log_level > logging.INFO:
        logger.setLevel(logging.INFO)
    return handler


def stop_log_file(handler: logging.Handler | None) -> None:
    if handler is None:
        return
    from shared.platform.observability import logger

    logger._logger.removeHandler(handler)
    handler.close()


@dataclass
class Series:
    """One metric with one set of labels: how many values, their sum (and for counts, the
    total is the sum)."""

    unit: str
    count: int = 0
    total: float = 0.0


@dataclass
class EmfCollector:
    """Metrics from EMF lines, by (namespace, metric, labels)."""

    series: dict[tuple[str, str, tuple[tuple[str, str], ...]], Series] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_line(self, line: str) -> bool:
        """Record ``line`` if it is an EMF document; return whether it was one."""
        if not line.startswith("{") or '"_aws"' not in line:
            return False
        try:
            document = json.loads(line)
            directives = document["_aws"]["CloudWatchMetrics"]
        except (ValueError, KeyError, TypeError):
            return False
        with self._lock:
            for directive in directives:
                namespace = str(directive.get("Namespace", ""))
                names = {d for dims in directive.get("Dimensions", []) for d in dims}
                labels = tuple(sorted((d, str(document.get(d, ""))) for d in names))
                for definition in directive.get("Metrics", []):
                    name = definition["Name"]
                    values = document.get(name)
                    values = values if isinstance(values, list) else [values]
                    key = (namespace, name, labels)
                    entry = self.series.setdefault(key, Series(definition.get("Unit", "None")))
                    for value in values:
                        if isinstance(value, (int, float)):
                            entry.count += 1
                            entry.total += float(value)
        return True

    def prometheus(self) -> str:
        """The metrics in Prometheus' text exposition format (0.0.4): ``stratus_<name>`` in
        snake case, the namespace and the EMF dimensions as labels; a count as a counter
        (``_total``), anything else as a summary (``_count`` and ``_sum``)."""
        lines: list[str] = []
        by_name: dict[str, list[tuple[tuple[tuple[str, str], ...], Series]]] = defaultdict(list)
        with self._lock:
            for (namespace, name, labels), entry in sorted(self.series.items()):
                base = "stratus_" + _snake(name)
                by_name[base].append(((("namespace", namespace), *labels), entry))
        for base, entries in sorted(by_name.items()):
            counter = all(e.unit == "Count" for _, e in entries)
            lines.append(
                f"# TYPE {base}{'_total' if counter else ''} {'counter' if counter else 'summary'}"
            )
            for labels, entry in entries:
                label_text = _labels(labels)
                if counter:
                    lines.append(f"{base}_total{label_text} {_number(entry.total)}")
                else:
                    lines.append(f"{base}_count{label_text} {entry.count}")
                    lines.append(f"{base}_sum{label_text} {_number(entry.total)}")
        return "\n".join(lines) + "\n"


def _snake(name: str) -> str:
    """``SignUps`` -> ``sign_ups``, ``OutboxOldestPendingAge`` -> ``outbox_oldest_pending_age``."""
    return _INVALID.sub("_", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)).lower()


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    body = ",".join(
        f'{_INVALID.sub("_", k)}="' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for k, v in labels
    )
    return "{" + body + "}"


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


class EmfTee(io.TextIOBase):
    """A stdout that hands EMF lines to a collector and passes every other line through."""

    def __init__(self, wrapped: TextIO, collector: EmfCollector) -> None:
        self.wrapped = wrapped
        self.collector = collector
        self._pending = threading.local()

    def write(self, text: str) -> int:
        buffer = getattr(self._pending, "text", "") + text
        *complete, rest = buffer.split("\n")
        self._pending.text = rest
        for line in complete:
            if not self.collector.add_line(line):
                self.wrapped.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.wrapped.flush()

    def isatty(self) -> bool:
        return self.wrapped.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.wrapped, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.wrapped.fileno()


def install(collector: EmfCollector) -> EmfTee:
    """Put a tee in front of ``sys.stdout``; :func:`uninstall` takes it away."""
    tee = EmfTee(sys.stdout, collector)
    sys.stdout = tee
    return tee


def uninstall(tee: EmfTee | None) -> None:
    if tee is not None and sys.stdout is tee:
        sys.stdout = tee.wrapped
