"""``python -m ops <verb>``: the operator's CLI (docs/operations/runbooks/).

Against the local runner by default (it must be running: ``make local``); with ``STAGE=dev|prod``
and AWS credentials, against that deployed stage, its resource names read from the stack
outputs. Each verb prints what it did; a failure prints why and exits 1 (bad usage: 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ops.target import OpsError, Target, resolve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    redrive = verbs.add_parser("redrive", help="move a dead-letter queue's messages back")
    redrive.add_argument("queue", help="the declared queue name (ingest, notifications, ...)")
    redrive.add_argument("--limit", type=int, default=None, help="move at most this many")
    verbs.add_parser("dead-letters", help="how many messages each dead-letter queue holds")
    verbs.add_parser("reindex", help="rebuild the vector index from the chunks in Postgres")
    stuck = verbs.add_parser("stuck-documents", help="documents queued or processing too long")
    stuck.add_argument("--minutes", type=int, default=30, help="stuck after this long")
    stuck.add_argument("--requeue", action="store_true", help="send their S3 events again")
    for ring in ("signing", "cursor"):
        verbs.add_parser(f"rotate-{ring}-key", help=f"add a new current {ring} key")
        verbs.add_parser(f"retire-{ring}-keys", help=f"keep only the current {ring} key")
    trace = verbs.add_parser("trace", help="every log line, message and row of one request")
    trace.add_argument("request_id")
    trace.add_argument("--minutes", type=int, default=60, help="deployed: how far back to look")
    backup = verbs.add_parser("backup", help="back up the database and the files")
    backup.add_argument("--to", default=None, help="local: the backup folder")
    restore = verbs.add_parser("restore", help="restore a backup (local) or a point in time")
    restore.add_argument(
        "source", help="local: a backup folder; deployed: an ISO time (point in time) or latest"
    )
    drill = verbs.add_parser("dr-drill", help="back up, destroy, restore and verify a system")
    drill.add_argument("--documents", type=int, default=6, help="documents to seed")
    return parser


def run(argv: Sequence[str], *, target: Target | None = None) -> int:
    args = _parser().parse_args(list(argv))
    verb: str = args.verb
    if verb == "dr-drill":
        from ops.drill import drill

        return 0 if drill(documents=args.documents).passed else 1
    target = target or resolve()
    if target.is_local:
        _use_local_services(target)
    if verb == "redrive":
        from ops.redrive import redrive

        moved = redrive(target, args.queue, limit=args.limit)
        print(f"redrove {moved.moved} message(s) to {moved.queue}; {moved.left} left in its DLQ")
    elif verb == "dead-letters":
        from infra import outputs
        from ops.redrive import depth

        for queue in _queues():
            if outputs.dead_letter_url(queue) in target.values:
                print(f"{queue:<20} {depth(target, queue)}")
    elif verb == "reindex":
        from ops.reindex import reindex

        _database_reachable(target, "reindex")
        rebuilt = reindex()
        print(
            f"reindexed {rebuilt.chunks} chunk(s) into {rebuilt.engine} in"
            f" {rebuilt.seconds:.1f} s ({rebuilt.carried_over} written meanwhile, carried over)"
        )
    elif verb == "stuck-documents":
        from ops import stuck as documents

        _database_reachable(target, "stuck-documents")
        found = documents.stuck(minutes=args.minutes)
        for d in found:
            print(f"{d.id} {d.status:<10} since {d.since.isoformat()} {d.key}")
        print(f"{len(found)} document(s) stuck for over {args.minutes} min")
        if args.requeue and found:
            print(f"requeued {documents.requeue(target, found)} S3 event(s) to ingest")
    elif verb.startswith(("rotate-", "retire-")):
        from ops import keys

        ring = verb.split("-")[1]
        action = keys.rotate if verb.startswith("rotate-") else keys.retire
        rotation = action(target, ring)
        print(
            f"{ring} keys: current {rotation.previous_kid} -> {rotation.current_kid};"
            f" ring holds {', '.join(rotation.kids)}"
        )
    elif verb == "trace":
        from ops.trace import print_trace

        return print_trace(target, args.request_id, minutes=args.minutes)
    elif verb == "backup":
        from ops.backup import backup

        print(backup(target, to=args.to).summary())
    elif verb == "restore":
        from ops.backup import restore

        print(restore(target, args.source))
    return 0


def _database_reachable(target: Target, verb: str) -> None:
    """A stage's database is in its isolated subnets: a verb that reads it runs on a host there,
    told where it is (``DATABASE_HOST`` and ``DATABASE_SECRET_ARN`` from the stack outputs)."""
    if not target.is_local and not (
        os.environ.get("DATABASE_URL") or os.environ.get("DATABASE_HOST")
    ):
        raise OpsError(
            f"{verb} reads the database, which a stage keeps in its isolated subnets: run it"
            " from a host there, with DATABASE_HOST, DATABASE_NAME and DATABASE_SECRET_ARN"
            " set (docs/operations/runbooks/rebuild-vector-index.md)"
        )


def _queues() -> list[str]:
    from functions.registry import discover

    return [trigger.queue for _, trigger in discover().queues]


def _use_local_services(target: Target) -> None:
    """Point this process's clients at the running local runner (in-process: a no-op)."""
    from infra import outputs

    wanted = {
        "STAGE": "local",
        "DATABASE_URL": target.output(outputs.DATABASE_URL),
        "AWS_ENDPOINT_URL": target.output(outputs.AWS_ENDPOINT),
    }
    changed = False
    for key, value in wanted.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
            changed = True
    if changed:
        from shared.platform import db
        from shared.platform.settings import reset_settings

        reset_settings()
        db.reset()


def main() -> int:
    try:
        return run(sys.argv[1:])
    except OpsError as exc:
        print(f"! {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
