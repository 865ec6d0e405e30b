"""``make dr-drill``: rehearse losing the local system and getting it back.

On a scratch system of its own (a local runner on a temporary folder: never the developer's
``.local``), the drill:

1. seeds accounts, documents (ingested: chunks and vectors) and their notifications over HTTP;
2. records what a user would check: every account, document, chunk, notification, file, and
   each account's search results;
3. backs it up (``ops backup``), then writes one more document, which the restore must lose;
4. destroys it: stops the runner and deletes its whole state (the database's data directory
   included);
5. starts an empty system and restores the backup into it (``ops restore``);
6. verifies that everything recorded is identical, the search results included (each account
   logs in again with its password), and that the late document is gone;
7. prints the measured recovery time (destruction to verified) and the data-loss window (backup
   to destruction: what was written in it is lost, as step 3 shows).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEXTS = (
    "Invoice 1042 from Northwind Traders: 1,200 euros for consulting, overdue since March.",
    "A guide to alpine hiking: pack water, a map and a warm layer for the ridge trail.",
    "Bake the sourdough loaf at 250 degrees for twenty minutes with steam.",
    "The quarterly board meeting moved to Thursday; the budget review comes first.",
)
QUERIES = ("overdue invoice payment", "mountain hiking trail", "bread baking oven")
PASSWORD = "drill password 1234"  # noqa: S105 - a scratch system's accounts

#: What is compared, table by table (ordered so the comparison is exact).
SNAPSHOT = {
    "users": "SELECT id, email, name, password_hash, role, is_active FROM users ORDER BY id",
    "documents": (
        "SELECT id, owner_id, title, status, chunk_count, s3_key FROM documents ORDER BY id"
    ),
    "chunks": "SELECT document_id, chunk_index, md5(text) FROM chunks ORDER BY 1, 2",
    "chunk_vectors": ("SELECT chunk_id, md5(embedding::text) FROM chunk_vectors ORDER BY chunk_id"),
    "notifications": (
        "SELECT id, user_id, kind, subject, email_status FROM notifications ORDER BY id"
    ),
}


@dataclass
class Outcome:
    passed: bool
    backup_seconds: float
    recovery_seconds: float
    data_loss_seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def wait_for(probe: Any, what: str, timeout: float = 60.0) -> Any:
    """``probe()`` once it returns something truthy; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"dr-drill: timed out waiting for {what}")


def _start(state_dir: Path, database_url: str | None) -> Any:
    from functions.registry import discover
    from local.runner import LocalRunner, RunnerConfig

    config = RunnerConfig(
        port=0,
        state_dir=state_dir,
        database_url=database_url,
        schedules=False,
        web_dir=None,
        function_env={"RATE_LIMIT_PER_MINUTE": "100000"},
    )
    runner = LocalRunner(discover(), config)
    try:
        runner.start()
    except BaseException:
        runner.stop()
        raise
    return runner


def _seed(http: Any, documents: int) -> dict[str, str]:
    """Accounts (email -> password) with ``documents`` text documents between them, ready."""
    accounts: dict[str, str] = {}
    tokens = []
    for n in range(max(2, documents // 2)):
        email = f"drill-{n}-{uuid.uuid4().hex[:8]}@example.com"
        created = http.post(
            "/auth/register", json={"email": email, "password": PASSWORD, "name": f"D{n}"}
        )
        created.raise_for_status()
        accounts[email] = PASSWORD
        tokens.append(_login(http, email))
    ids = []
    for n in range(documents):
        headers = tokens[n % len(tokens)]
        response = http.post(
            "/documents/text",
            json={"title": f"Drill {n}", "text": TEXTS[n % len(TEXTS)]},
            headers=headers,
        )
        response.raise_for_status()
        ids.append((response.json()["id"], headers))
    for document_id, headers in ids:
        wait_for(
            lambda d=document_id, h=headers: (
                http.get(f"/documents/{d}", headers=h).json()["status"] == "ready"
            ),
            "ingestion",
        )
    return accounts


def _login(http: Any, email: str) -> dict[str, str]:
    response = http.post("/auth/login", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _record(http: Any, accounts: dict[str, str], target: Any) -> dict[str, Any]:
    from sqlalchemy import text

    from shared.platform import db

    recorded: dict[str, Any] = {}
    with db.session_scope() as session:
        for name, query in SNAPSHOT.items():
            recorded[name] = [tuple(map(str, row)) for row in session.execute(text(query))]
    for email in sorted(accounts):
        headers = _login(http, email)
        for query in QUERIES:
            response = http.post("/search", json={"query": query, "top_k": 5}, headers=headers)
            response.raise_for_status()
            recorded[f"search {email} {query}"] = [
                (r["document_id"], r["chunk_index"], r["score"], r["text"])
                for r in response.json()["results"]
            ]
    s3 = target.client("s3")
    files = []
    for key, bucket in sorted(target.values.items()):
        if key.startswith("Bucket") and key.endswith("Name"):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                    files.append((key, item["Key"], hashlib.sha256(body).hexdigest()))
    recorded["files"] = sorted(files)
    return recorded


def _database(server_url: str | None, name: str, *, drop: bool = False) -> str | None:
    """On ``server_url`` (a superuser's URL), database ``name`` created (or dropped); None: the
    runner's own embedded server, in its state folder."""
    if server_url is None:
        return None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if drop:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    rendered: str = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    return rendered


def drill(*, documents: int = 6, server_url: str | None = None, say: Any = print) -> Outcome:
    """Run the drill (see the module docstring). ``server_url``: put the scratch database on
    that PostgreSQL server (a superuser's URL; the tests' server) instead of a new embedded
    server in the scratch folder; destroying the system then drops that database."""
    import httpx

    from ops.backup import local_backup, local_restore
    from ops.target import local_target

    scratch = Path(tempfile.mkdtemp(prefix="stratus-dr-drill-"))
    state, backups = scratch / "system", scratch / "backups"
    runner = None
    name = f"stratus_drill_{uuid.uuid4().hex[:10]}"
    try:
        say(f"dr-drill: a scratch system in {scratch}")
        runner = _start(state, _database(server_url, name))
        with httpx.Client(base_url=runner.url, timeout=30) as http:
            accounts = _seed(http, documents)
            target = local_target(state)
            before = _record(http, accounts, target)
            made = local_backup(target, str(backups / "drill"))
            say(f"  {made.summary()}")
            # A write after the backup: inside the data-loss window, so the restore loses it.
            late = http.post(
                "/documents/text",
                json={"title": "Written after the backup", "text": TEXTS[0]},
                headers=_login(http, sorted(accounts)[0]),
            )
            late.raise_for_status()
        # -- the disaster: the whole system and its state are gone --
        destroyed_at = time.perf_counter()
        data_loss = (datetime_now() - made.taken_at).total_seconds()
        runner.stop()
        runner = None
        shutil.rmtree(state)
        _database(server_url, name, drop=True)
        say("  destroyed: runner stopped, state deleted, the database with it")
        # -- recovery: an empty system, then the backup restored into it --
        runner = _start(state, _database(server_url, name))
        target = local_target(state)
        say(f"  {local_restore(target, str(backups / 'drill'))}")
        with httpx.Client(base_url=runner.url, timeout=30) as http:
            after = _record(http, accounts, target)
            late_id = late.json()["id"]
            late_gone = (
                http.get(
                    f"/documents/{late_id}", headers=_login(http, sorted(accounts)[0])
                ).status_code
                == 404
            )
        recovery = time.perf_counter() - destroyed_at
        problems = [
            f"{name}: {len(before[name])} before, {len(after.get(name, []))} after, or changed"
            for name in before
            if before[name] != after.get(name)
        ]
        if not late_gone:
            problems.append("the document written after the backup survived the restore")
        counts = {name: len(before[name]) for name in (*SNAPSHOT, "files")}
        counts["searches"] = sum(1 for name in before if name.startswith("search "))
        outcome = Outcome(not problems, made.seconds, recovery, data_loss, counts, problems)
        _report(outcome, say)
        return outcome
    finally:
        if runner is not None:
            runner.stop()
        _database(server_url, name, drop=True)
        shutil.rmtree(scratch, ignore_errors=True)


def datetime_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _report(outcome: Outcome, say: Any) -> None:
    verified = ", ".join(f"{n} {name}" for name, n in outcome.counts.items())
    if outcome.passed:
        say(f"  verified identical: {verified}; the post-backup write was lost, as it must be")
    for problem in outcome.problems:
        say(f"  ! {problem}")
    verdict = "PASSED" if outcome.passed else "FAILED"
    say(
        f"dr-drill {verdict}: backup {outcome.backup_seconds:.1f} s;"
        f" recovery time (destroyed -> verified) {outcome.recovery_seconds:.1f} s;"
        f" data-loss window (backup -> destruction) {outcome.data_loss_seconds:.1f} s"
    )
