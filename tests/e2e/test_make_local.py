"""`make local` as a newcomer runs it: a process that serves, prints its URLs, stops on Ctrl-C."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

import httpx
import pytest

from functions.registry import REPO_ROOT
from local.runner import POLLER_GRACE_SECONDS, free_port
from tests.support.services import server_folder

pytestmark = pytest.mark.e2e

#: How long a runner may take to come up: initdb, migrations, moto, its first function
#: processes. 8 to 30 s measured on a loaded machine.
START_SECONDS = 120
#: How long a runner may take to stop: its pollers finish their batch (at most
#: POLLER_GRACE_SECONDS), it saves moto's state and its database writes its shutdown checkpoint.
#: 6 to 13 s measured on a loaded machine.
STOP_SECONDS = POLLER_GRACE_SECONDS + 60


@pytest.fixture
def state_dir():
    """The runner's state folder (its embedded PostgreSQL's data among it), outside pytest's
    temporary root: see ``server_folder``."""
    return server_folder("stratus-make-local-")


def start_make_local(port: int, state_dir) -> subprocess.Popen[str]:
    """``python -m local`` on ``port`` with its state under ``state_dir``, on its defaults."""
    env = dict(os.environ, PORT=str(port), LOCAL_STATE_DIR=str(state_dir))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_banner(proc: subprocess.Popen[str]) -> str:
    """What the runner prints up to "Ctrl-C stops."; the whole of it, with its exit status,
    when it exits or stalls before. Read from the pipe itself, as ``communicate`` reads the
    rest (a line buffered by ``readline`` would be lost to it)."""
    fd = proc.stdout.fileno()  # type: ignore[union-attr]
    printed = ""
    deadline = time.monotonic() + START_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while "\nCtrl-C stops.\n" not in printed:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                pytest.fail(f"the runner did not start in {START_SECONDS} s:\n{printed}")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                pytest.fail(f"the runner exited early ({proc.wait()}):\n{printed}")
            printed += chunk.decode(errors="replace")
    return printed


def stop(proc: subprocess.Popen[str], signum: int) -> str:
    """Send ``signum``; what the runner prints from then until it exits."""
    proc.send_signal(signum)
    try:
        out, _ = proc.communicate(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired as expired:
        printed = expired.output.decode() if isinstance(expired.output, bytes) else expired.output
        pytest.fail(f"the runner did not stop in {STOP_SECONDS} s:\n{printed or ''}")
    return out


def test_the_runner_process_serves_health_and_stops_cleanly_on_ctrl_c(state_dir):
    # Given the runner started as `make local` starts it, on a free port
    port = free_port()
    proc = start_make_local(port, state_dir)
    try:
        text = read_banner(proc)
        # Then it prints the URLs it serves
        assert f"http://127.0.0.1:{port}" in text
        assert "/openapi.json" in text
        assert "GET    /health" in text
        # And serves the health route through the real handler
        response = httpx.get(
            f"http://127.0.0.1:{port}/health", headers={"X-Request-Id": "abc"}, timeout=10
        )
        assert response.status_code == 200
        assert response.headers["X-Request-Id"] == "abc"
        # When Ctrl-C is pressed
        out = stop(proc, signal.SIGINT)
        # Then it stops cleanly, having logged one line per invocation
        assert proc.returncode == 0, out
        assert "[system-health] 200" in out
        # And its embedded PostgreSQL lives under its state dir, and was stopped with it
        from local.postgres import EmbeddedPostgres

        assert (state_dir / "postgres" / "PG_VERSION").exists()
        assert "postgresql+pg8000://postgres@/stratus?unix_sock=" in text
        assert not EmbeddedPostgres(state_dir / "postgres").is_running()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        from local.postgres import EmbeddedPostgres

        leftover = EmbeddedPostgres(state_dir / "postgres")
        if leftover.is_running():  # the test failed half-way: stop what it started
            leftover.state = "adopted"
            leftover.stop()


def test_sigterm_stops_the_runner_and_its_database_cleanly(state_dir):
    # Given the runner started as a service manager would, then stopped with SIGTERM
    from local.postgres import EmbeddedPostgres

    port = free_port()
    proc = start_make_local(port, state_dir)
    server = EmbeddedPostgres(state_dir / "postgres")
    try:
        read_banner(proc)
        assert server.is_running()
        out = stop(proc, signal.SIGTERM)
        # Then it exits 0 and leaves no server behind
        assert proc.returncode == 0, out
        assert "stopping..." in out
        assert not server.is_running()
        assert not (state_dir / "postgres" / "postmaster.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if server.is_running():
            server.state = "adopted"
            server.stop()
