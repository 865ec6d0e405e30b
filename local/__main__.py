"""``python -m local`` (``make local``): run Stratus on this machine until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import threading

from functions.registry import discover
from local.runner import LocalRunner, RunnerConfig, runtime_environment


def main() -> int:
    for key, value in runtime_environment().items():
        os.environ.setdefault(key, value)
    config = RunnerConfig.from_env()
    registry = discover()
    runner = LocalRunner(registry, config)
    try:
        runner.start()
    except Exception as exc:
        print(f"! the local runner could not start: {exc}", file=sys.stderr)
        runner.stop()
        raise
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    assert runner.moto is not None
    print(f"Stratus is running at {runner.url}")
    print(f"  OpenAPI      {runner.url}/openapi.json  (viewer: {runner.url}/docs)")
    print(f"  AWS (moto)   {runner.moto.endpoint}")
    print(f"  database     {_redact(os.environ.get('DATABASE_URL', ''))}")
    print(f"  redis        {_redact(os.environ.get('REDIS_URL', ''))}")
    for entry, route in registry.routes:
        lock = "auth" if route.auth else "open"
        print(f"  {route.method:<6} {route.path:<40} {entry.name} ({lock})")
    for entry, trigger in registry.queues:
        print(f"  queue  {trigger.queue:<40} {entry.name}")
    for entry, schedule in registry.schedules:
        print(
            f"  {schedule.expression:<47} {entry.name}  (run now: POST /__local/jobs/{entry.name})"
        )
    print("Ctrl-C stops.", flush=True)
    stop.wait()
    print("stopping...", flush=True)
    runner.stop()
    return 0


def _redact(url: str) -> str:
    """Hide a password in a URL before it is printed."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


if __name__ == "__main__":
    sys.exit(main())
