"""``python -m local`` (``make local``): run Stratus on this machine until Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import sys

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
    stop = StopSignals()
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


class StopSignals:
    """SIGINT (Ctrl-C) and SIGTERM (a service manager), awaited on Python's signal wakeup
    socket, to which the C-level handler writes each signal's number from whichever thread the
    kernel handed it to. Not a handler that sets a ``threading.Event`` the main thread waits
    on: a signal the kernel hands to one of the runner's threads does not wake the main thread
    from its lock wait, and a handler that runs while the main thread is entering
    ``Event.wait`` deadlocks on the Event's own lock; either way the runner ignored the signal
    for ever (a few stops in a hundred on a loaded machine)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)  # as set_wakeup_fd requires
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for signum in self.SIGNALS:
            signal.signal(signum, lambda *_: None)  # the wakeup byte does the work

    def wait(self) -> int:
        """Block until one of :attr:`SIGNALS` arrives; return its number."""
        while True:
            received = self._reader.recv(1)
            if received and received[0] in self.SIGNALS:
                return received[0]


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
