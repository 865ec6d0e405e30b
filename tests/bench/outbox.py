"""What the outbox and the revocation cache cost: ``python -m tests.bench.outbox`` with
``DATABASE_URL`` (Postgres) and ``REDIS_URL`` set (a benchmark, not a timed test).

- a change with one effect (a user's rename: the user cache's tombstone) through the outbox,
  against the same change sending its effect after the commit without a row (what the code did
  before the outbox), p50/p95 of ``--runs`` each, interleaved;
- the authorizer's revocation check of a valid token: warm (the cached state is fresh: one Redis
  ``MGET``) and re-read (``REVOCATION_CACHE_SECONDS=0``: Postgres every time);
- the relay: how long one run takes to deliver ``--rows`` pending cache deletes.

It creates its user and outbox rows and deletes them afterwards. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared.platform import db, outbox
from shared.platform.settings import reset_settings


def p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * len(ordered)))]


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


@contextmanager
def inline_effects() -> Iterator[None]:
    """The code before the outbox: each effect sent after the commit, no row written."""
    real = outbox.add

    def after_commit_only(session: object, *effects: outbox.Effect) -> None:
        for effect in effects:
            db.after_commit(session, lambda e=effect: outbox.deliver(e))  # type: ignore[arg-type,misc]

    outbox.add = after_commit_only  # type: ignore[assignment]
    try:
        yield
    finally:
        outbox.add = real  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rows", type=int, default=500)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a Postgres database (and REDIS_URL)")
    from sqlalchemy import delete

    from shared.auth import revocation
    from shared.auth.tokens import AccessClaims
    from shared.platform.identity import Principal
    from shared.platform.migrate import upgrade
    from shared.platform.outbox import OutboxRow
    from shared.users import service
    from shared.users.models import User
    from shared.users.schemas import UserUpdate

    upgrade(os.environ["DATABASE_URL"])
    started_at = outbox._now()
    with db.session_scope() as session:
        user = User(email=f"bench-{uuid.uuid4().hex[:8]}@example.com", name="B", password_hash="x")
        session.add(user)
    principal = Principal(user_id=user.id, role="member")

    def rename() -> None:
        with db.session_scope() as session:
            service.update_user(session, principal, user.id, UserUpdate(name=uuid.uuid4().hex))

    rows: list[tuple[str, str, tuple[float, float]]] = []
    try:
        with_outbox: list[float] = []
        inline: list[float] = []
        for _ in range(20):
            rename()
        for _ in range(args.runs):
            with_outbox.append(timed(rename))
            with inline_effects():
                inline.append(timed(rename))
        rows.append(("a change with one effect", "through the outbox", p50_p95(with_outbox)))
        rows.append(("", "sent after the commit, no row (before)", p50_p95(inline)))

        now = int(time.time())
        claims = AccessClaims(
            user_id=str(user.id),
            role="member",
            jti=uuid.uuid4().hex,
            issued_at=now,
            expires_at=now + 900,
            version=0,
        )
        for label, seconds in (("warm: one MGET", "5"), ("re-read: Postgres every time", "0")):
            os.environ["REVOCATION_CACHE_SECONDS"] = seconds
            reset_settings()
            revocation.is_revoked(claims)
            checks = [timed(lambda: revocation.is_revoked(claims)) for _ in range(args.runs)]
            rows.append(("revocation check, valid token", label, p50_p95(checks)))

        with db.session_scope() as session:
            for n in range(args.rows):
                session.add(
                    OutboxRow(
                        kind="cache_delete",
                        payload=outbox.cache_delete(f"bench:{n}").model_dump_json(),
                        created_at=started_at,
                        available_at=started_at,
                        attempts=0,
                    )
                )
        relay_ms = timed(outbox.relay)
        rows.append((f"relay, {args.rows} due rows", "one run", (relay_ms, relay_ms)))
    finally:
        with db.session_scope() as session:
            session.execute(delete(OutboxRow).where(OutboxRow.created_at >= started_at))
            session.execute(delete(User).where(User.id == user.id))
    print("| what | how | p50, ms | p95, ms |")
    print("|---|---|---:|---:|")
    for what, how, (p50, p95) in rows:
        print(f"| {what} | {how} | {p50:.2f} | {p95:.2f} |")


if __name__ == "__main__":
    main()
