"""``python -m tests.load`` (``make load``): start a local runner on fresh embedded state
(PostgreSQL, Redis, moto under a temporary folder), run the mixed load against it, print the
report, exit 1 on any 5xx or any document left neither ready nor failed."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--url", help="an already running API (default: start a local runner)")
    args = parser.parse_args(argv)

    from tests.load.mixed import run

    if args.url:
        report = run(args.url, seconds=args.seconds, users=args.users)
    else:
        from functions.registry import discover
        from local.runner import LocalRunner, RunnerConfig

        folder = Path(tempfile.mkdtemp(prefix="stratus-load-"))
        config = RunnerConfig(
            port=0,
            state_dir=folder,
            function_env={"RATE_LIMIT_PER_MINUTE": "1000000"},
            web_dir=None,
        )
        runner = LocalRunner(discover(), config)
        try:
            runner.start()
            print(f"load: {args.users} users for {args.seconds:.0f} s on {runner.url}", flush=True)
            report = run(runner.url, seconds=args.seconds, users=args.users)
        finally:
            runner.stop()
            shutil.rmtree(folder, ignore_errors=True)
    print(report.render())
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
