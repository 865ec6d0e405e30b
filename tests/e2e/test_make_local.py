"""`make local` as a newcomer runs it: a process that serves, prints its URLs, stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from functions.registry import REPO_ROOT
from local.runner import free_port

pytestmark = pytest.mark.e2e


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


def test_the_runner_process_serves_health_and_stops_cleanly_on_ctrl_c(tmp_path):
    # Given the runner started as `make local` starts it, on a free port
    port = free_port()
    proc = start_make_local(port, tmp_path)
    try:
        banner = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, "the runner exited early:\n" + "".join(banner)
            banner.append(line)
            if line.startswith("Ctrl-C stops."):
                break
        text = "".join(banner)
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
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        # Then it stops cleanly, having logged one line per invocation
        assert proc.returncode == 0, out
        assert "[system-health] 200" in out
        # And its embedded PostgreSQL lives under its state dir, and was stopped with it
        from local.postgres import EmbeddedPostgres

        assert (tmp_path / "postgres" / "PG_VERSION").exists()
        assert "postgresql+pg8000://postgres@/stratus?unix_sock=" in text
        assert not EmbeddedPostgres(tmp_path / "postgres").is_running()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        from local.postgres import EmbeddedPostgres

        leftover = EmbeddedPostgres(tmp_path / "postgres")
        if leftover.is_running():  # the test failed half-way: stop what it started
            leftover.state = "adopted"
            leftover.stop()


def test_sigterm_stops_the_runner_and_its_database_cleanly(tmp_path):
    # Given the runner started as a service manager would, then stopped with SIGTERM
    from local.postgres import EmbeddedPostgres

    port = free_port()
    proc = start_make_local(port, tmp_path)
    server = EmbeddedPostgres(tmp_path / "postgres")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, "the runner exited early"
            if line.startswith("Ctrl-C stops."):
                break
        assert server.is_running()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        # Then it exits 0 and leaves no server behind
        assert proc.returncode == 0, out
        assert "stopping..." in out
        assert not server.is_running()
        assert not (tmp_path / "postgres" / "postmaster.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if server.is_running():
            server.state = "adopted"
            server.stop()
