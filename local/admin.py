"""``make admin EMAIL=... PASSWORD=...``: create an admin in the runner's database.

The database is ``DATABASE_URL`` when set, else the local runner's embedded PostgreSQL (started
for the command, or shared with a running ``make local``). The deploy
trigger calls the same ``shared.users.service.ensure_admin`` with values from a secret.
"""

from __future__ import annotations

import os
import sys

from local.runner import LOCAL_DIR


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not all(argv):
        print("usage: make admin EMAIL=<email> PASSWORD=<12-128 characters>", file=sys.stderr)
        return 2
    email, password = argv
    server = None
    if not os.environ.get("DATABASE_URL"):
        from local.postgres import local_database

        server, os.environ["DATABASE_URL"] = local_database(LOCAL_DIR)
    try:
        return _create(email, password)
    finally:
        if server is not None:
            from shared.platform import db

            db.reset()
            server.stop()


def _create(email: str, password: str) -> int:
    from shared.platform import db
    from shared.platform.migrate import upgrade
    from shared.users.service import ensure_admin

    upgrade(os.environ["DATABASE_URL"])
    try:
        with db.session_scope() as session:
            created = ensure_admin(session, email=email, password=password)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"admin {email}: {'created' if created else 'an account with this email exists'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
