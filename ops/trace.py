"""``make trace REQUEST_ID=...``: every log line, queue message and row one request caused, in
order.

A request's id is the correlation id of every log line it writes, and travels with each queue
message it sends (the ``request_id`` attribute), so the workers log under it too; the outbox
relay logs each effect it delivers under the request that decided it. One hop is not carried by
an id: S3 wakes the ingest worker with an event of its own. So the trace also follows the
entities the request's lines name (a document id): a queue worker's invocation that names one
is part of the trace, with everything logged under its own id (the notification it queued, and
that notification's delivery).

Locally the lines come from the runner's log file and the rows from its database; in a stage,
from each function's CloudWatch log group (the names from the stack outputs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from infra import outputs
from ops.target import OpsError, Target

#: The log keys that name an entity a request created or changed.
ENTITY_KEYS = ("document_id", "notification_id", "outbox_id")
#: How many hops of entity following (request -> ingest -> notification delivery ...).
MAX_HOPS = 4


@dataclass
class Trace:
    request_id: str
    ids: set[str] = field(default_factory=set)  # the request's id and those it led to
    lines: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def entities(self) -> set[str]:
        return {str(line[k]) for line in self.lines for k in ENTITY_KEYS if line.get(k)}

    @property
    def functions(self) -> list[str]:
        seen: dict[str, None] = {}
        for line in self.lines:
            seen.setdefault(str(line.get("function_name", "?")), None)
        return list(seen)


def _of(line: dict[str, Any], ids: Collection[str]) -> bool:
    return line.get("correlation_id") in ids or line.get("request_id") in ids


def follow(lines: list[dict[str, Any]], request_id: str, *, followers: Collection[str]) -> Trace:
    """The lines of ``request_id`` and of the ``followers`` (queue workers) invocations that
    name an entity of the trace, in their order."""
    ids = {request_id}
    for _ in range(MAX_HOPS):
        entities = {str(ln[k]) for ln in lines if _of(ln, ids) for k in ENTITY_KEYS if ln.get(k)}
        led = {
            str(ln["correlation_id"])
            for ln in lines
            if ln.get("function_name") in followers
            and ln.get("correlation_id")
            and any(str(ln.get(k)) in entities for k in ENTITY_KEYS if ln.get(k))
        }
        if led <= ids:
            break
        ids |= led
    trace = Trace(request_id, ids, [ln for ln in lines if _of(ln, ids)])
    trace.messages = [
        ln for ln in trace.lines if ln.get("message") in {"Message queued", "Record processed"}
    ]
    return trace


def _parse(raw: Iterable[str]) -> list[dict[str, Any]]:
    parsed = []
    for text in raw:
        text = text.strip()
        if not text.startswith("{"):
            continue
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict):
            parsed.append(line)
    return parsed


def _followers() -> set[str]:
    from functions.registry import discover

    return {entry.name for entry, _ in discover().queues}


def local_trace(target: Target, request_id: str) -> Trace:
    path = target.output(outputs.LOG_FILE)
    try:
        with open(path, encoding="utf-8") as file:
            lines = _parse(file)
    except FileNotFoundError:
        raise OpsError(f"no log file at {path}: is the local runner running?") from None
    trace = follow(lines, request_id, followers=_followers())
    trace.rows = _rows(trace)
    return trace


def _rows(trace: Trace) -> list[tuple[str, dict[str, Any]]]:
    """The rows the trace's invocations wrote: its documents (and their chunk count), its
    notifications, its outbox effects."""
    import uuid

    from sqlalchemy import text

    from shared.platform import db

    def uuids(values: Iterable[str]) -> list[uuid.UUID]:
        found = []
        for value in values:
            try:
                found.append(uuid.UUID(value))
            except ValueError:
                continue
        return found

    documents = uuids(trace.entities)
    ids = sorted(trace.ids)
    rows: list[tuple[str, dict[str, Any]]] = []
    with db.session_scope() as session:
        for row in session.execute(
            text(
                "SELECT d.id, d.status, d.chunk_count, d.created_at, d.updated_at,"
                " (SELECT count(*) FROM chunks c WHERE c.document_id = d.id) AS chunks"
                " FROM documents d WHERE d.id = ANY(:ids) ORDER BY d.created_at"
            ),
            {"ids": documents},
        ).mappings():
            rows.append(("documents", dict(row)))
        for row in session.execute(
            text(
                "SELECT id, kind, email_status, request_id, created_at FROM notifications"
                " WHERE request_id = ANY(:ids) ORDER BY created_at"
            ),
            {"ids": ids},
        ).mappings():
            rows.append(("notifications", dict(row)))
        patterns = [f'%"request_id":"{i}"%' for i in ids] + [f"%{d}%" for d in documents]
        for row in session.execute(
            text(
                "SELECT id, kind, attempts, created_at, delivered_at FROM outbox"
                " WHERE payload LIKE ANY(:patterns) ORDER BY created_at"
            ),
            {"patterns": patterns},
        ).mappings():
            rows.append(("outbox", dict(row)))
    return rows


def deployed_trace(target: Target, request_id: str, *, minutes: int) -> Trace:
    """The lines of every function's log group that name ``request_id`` (CloudWatch Logs'
    filter: the id as a quoted term), then those the entities lead to."""
    logs = target.client("logs")
    start = int((time.time() - minutes * 60) * 1000)
    groups = [
        f"/aws/lambda/{value}"
        for key, value in target.values.items()
        if key.startswith("Function") and key.endswith("Name")
    ]
    if not groups:
        raise OpsError("the stack outputs name no function (Function<Name>Name)")

    def search(term: str) -> list[dict[str, Any]]:
        found: list[tuple[int, str]] = []
        for group in groups:
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "startTime": start,
                "filterPattern": f'"{term}"',
            }
            while True:
                page = logs.filter_log_events(**kwargs)
                found.extend((e["timestamp"], e["message"]) for e in page.get("events", []))
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        return _parse(message for _, message in sorted(found))

    lines = search(request_id)
    for _ in range(MAX_HOPS):
        known = {json.dumps(ln, sort_keys=True) for ln in lines}
        entities = {str(ln[k]) for ln in lines for k in ENTITY_KEYS if ln.get(k)}
        more = [ln for term in sorted(entities) for ln in search(term)]
        ids = {str(ln["correlation_id"]) for ln in more if ln.get("correlation_id")}
        more += [ln for term in sorted(ids - {request_id}) for ln in search(term)]
        added = []
        for ln in more:
            key = json.dumps(ln, sort_keys=True)
            if key not in known:
                known.add(key)
                added.append(ln)
        if not added:
            break
        lines += added
    lines.sort(key=lambda ln: str(ln.get("timestamp", "")))
    return follow(lines, request_id, followers=_followers())


def trace(target: Target, request_id: str, *, minutes: int = 60) -> Trace:
    from shared.platform.observability import is_sane_request_id

    if not is_sane_request_id(request_id):
        raise OpsError("a request id is 1-128 of A-Z a-z 0-9 . _ -")
    if target.is_local:
        return local_trace(target, request_id)
    return deployed_trace(target, request_id, minutes=minutes)


SHOWN = ("timestamp", "function_name", "level", "message")


def render(found: Trace) -> str:
    out = [
        f"request {found.request_id}: {len(found.lines)} log line(s) in"
        f" {', '.join(found.functions) or 'no function'}; {len(found.messages)} queue event(s);"
        f" {len(found.rows)} row(s)"
    ]
    for line in found.lines:
        head = " ".join(str(line.get(k, "")) for k in SHOWN)
        rest = {
            k: v
            for k, v in line.items()
            if k not in SHOWN
            and k not in {"location", "cold_start", "function_memory_size", "function_arn"}
        }
        out.append(f"  {head} {json.dumps(rest, default=str, sort_keys=True)}")
    for table, row in found.rows:
        out.append(f"  row {table}: {json.dumps(row, default=str, sort_keys=True)}")
    return "\n".join(out)


def print_trace(target: Target, request_id: str, *, minutes: int = 60) -> int:
    found = trace(target, request_id, minutes=minutes)
    print(render(found))
    return 0 if found.lines else 1
