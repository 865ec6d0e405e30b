"""The local runner's telemetry: the function logs in a file, and the EMF metrics the functions
print, served in Prometheus' text format at ``/__local/metrics``.

In Lambda, CloudWatch turns every Embedded Metric Format document a function prints into
metrics. Here :func:`collect` hands each document Powertools serializes for printing to an
:class:`EmfCollector` too, which keeps counters and summaries; :class:`EmfTee` keeps the EMF
lines off the runner's console (every other line passes through unchanged).
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

#: Prometheus' metric and label name grammar.
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


#: Where the functions' own processes (``local.isolation``) append the EMF documents they
#: print, for the runner's collector to read: they cannot reach its memory.
METRICS_NAME = "metrics.jsonl"

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


def start_log_file(path: Path, *, fresh: bool = True) -> logging.Handler:
    """Write every log line of the functions' logger (INFO and up) to ``path`` as JSON, keeping
    the console at the level it had (``FUNCTION_LOG_LEVEL``): a new file (``fresh``, the
    runner's, once per run), or appended to (a function's own process: its lines join the
    runner's whole, O_APPEND)."""
    from shared.platform.observability import logger

    console = logger.registered_handler
    if console.level == logging.NOTSET:
        console.setLevel(logger.log_level)
    if not any(isinstance(f, InvocationKeys) for f in console.filters):
        console.addFilter(InvocationKeys())
    handler = logging.FileHandler(path, mode="w" if fresh else "a", encoding="utf-8")
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
    _followed: Path | None = field(default=None, repr=False)
    _offset: int = field(default=0, repr=False)

    def follow(self, path: Path) -> None:
        """Also read the EMF documents appended to ``path`` (by the functions' own processes),
        from its current end, before each :meth:`prometheus`."""
        self._followed = path
        self._offset = path.stat().st_size if path.exists() else 0

    def _drain(self) -> None:
        path = self._followed
        if path is None or not path.exists():
            return
        with path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        self._offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            self.add_line(line)

    def add_line(self, line: str) -> bool:
        """Record ``line`` if it is an EMF document; return whether it was one."""
        if not is_emf(line):
            return False
        try:
            document = json.loads(line)
        except ValueError:
            return False
        return self.add(document)

    def add(self, document: dict[str, Any]) -> bool:
        """Record one EMF document; return whether it was one."""
        try:
            directives = document["_aws"]["CloudWatchMetrics"]
        except (KeyError, TypeError):
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

    def prometheus(
        self, gauges: dict[str, dict[tuple[tuple[str, str], ...], float]] | None = None
    ) -> str:
        """The metrics in Prometheus' text exposition format (``prometheus_client`` renders
        it): ``stratus_<name>`` in snake case, with the namespace and the EMF dimensions as
        labels; a count as a counter (``_total``), anything else as a summary (``_count`` and
        ``_sum``); ``gauges`` (name -> labels -> value) as gauges."""
        from prometheus_client import CollectorRegistry, generate_latest

        self._drain()
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            Metric,
            SummaryMetricFamily,
        )

        grouped: dict[str, list[tuple[dict[str, str], Series]]] = defaultdict(list)
        with self._lock:
            for (namespace, name, dims), entry in sorted(self.series.items()):
                grouped[name].append(({"namespace": namespace, **dict(dims)}, replace(entry)))
        families: list[Metric] = []
        for name, entries in sorted(grouped.items()):
            base = "stratus_" + _snake(name)
            keys = sorted({k for labels, _ in entries for k in labels})
            family: CounterMetricFamily | SummaryMetricFamily
            if all(e.unit == "Count" for _, e in entries):
                family = CounterMetricFamily(base, f"{name} (EMF, Count)", labels=keys)
                for labels, e in entries:
                    family.add_metric([labels.get(k, "") for k in keys], e.total)
            else:
                unit = entries[0][1].unit
                family = SummaryMetricFamily(base, f"{name} (EMF, {unit})", labels=keys)
                for labels, e in entries:
                    family.add_metric([labels.get(k, "") for k in keys], e.count, e.total)
            families.append(family)
        for name, values in sorted((gauges or {}).items()):
            keys = sorted({k for pairs in values for k, _ in pairs})
            gauge = GaugeMetricFamily(name, name.replace("_", " "), labels=keys)
            for pairs, value in sorted(values.items()):
                gauge.add_metric([dict(pairs).get(k, "") for k in keys], value)
            families.append(gauge)

        class _Families:
            def collect(self) -> list[Metric]:
                return families

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families())
        return generate_latest(registry).decode()


def _snake(name: str) -> str:
    """``SignUps`` -> ``sign_ups``, ``OutboxOldestPendingAge`` -> ``outbox_oldest_pending_age``."""
    return _INVALID.sub("_", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)).lower()


def is_emf(line: str) -> bool:
    return line.startswith("{") and '"_aws"' in line


def collect(collector: EmfCollector) -> Any:
    """Hand every EMF document the functions' metrics serialize (to print) to ``collector``;
    returns what :func:`stop_collecting` needs to undo it."""
    from shared.platform.observability import metrics

    provider = metrics.provider
    original = provider.serialize_metric_set

    def serialize(*args: Any, **kwargs: Any) -> Any:
        document = original(*args, **kwargs)
        collector.add(dict(document))
        return document

    provider.serialize_metric_set = serialize  # type: ignore[method-assign]
    return provider, original


def stop_collecting(hook: Any) -> None:
    if hook is not None:
        provider, original = hook
        provider.serialize_metric_set = original


class EmfTee(io.TextIOBase):
    """A stdout that drops EMF lines (the runner collects them) and passes the rest through."""

    def __init__(self, wrapped: TextIO) -> None:
        self.wrapped = wrapped
        self._pending = threading.local()

    def write(self, text: str) -> int:
        buffer = getattr(self._pending, "text", "") + text
        *complete, rest = buffer.split("\n")
        self._pending.text = rest
        for line in complete:
            if not is_emf(line):
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


def install() -> EmfTee:
    """Put a tee in front of ``sys.stdout``; :func:`uninstall` takes it away."""
    tee = EmfTee(sys.stdout)
    sys.stdout = tee
    return tee


def uninstall(tee: EmfTee | None) -> None:
    if tee is not None and sys.stdout is tee:
        sys.stdout = tee.wrapped


@dataclass(frozen=True)
class ChildTelemetry:
    """What a function's own process (``local.isolation``) needs to report as the runner's
    threads do: its log lines into the runner's function log, its EMF documents where the
    runner's collector reads them, and the runner's console level."""

    log_path: str
    metrics_path: str
    console_level: str


def start_in_child(telemetry: ChildTelemetry) -> None:
    """In a function's own process, before its first invocation: the namespace of its
    environment, the console at the runner's level, every log line (INFO and up) in the
    function log, the EMF lines off the console and appended to the metrics file."""
    import os

    from shared.platform.observability import logger, metrics

    metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", metrics.namespace)
    logger.registered_handler.setLevel(telemetry.console_level)
    start_log_file(Path(telemetry.log_path), fresh=False)
    install()
    sink = open(telemetry.metrics_path, "a", encoding="utf-8")  # noqa: SIM115 - the process's life
    lock = threading.Lock()
    provider = metrics.provider
    original = provider.serialize_metric_set

    def serialize(*args: Any, **kwargs: Any) -> Any:
        document = original(*args, **kwargs)
        line = json.dumps(document, separators=(",", ":"), default=str) + "\n"
        with lock:  # one write per document: O_APPEND keeps the processes' lines whole
            sink.write(line)
            sink.flush()
        return document

    provider.serialize_metric_set = serialize  # type: ignore[method-assign]
