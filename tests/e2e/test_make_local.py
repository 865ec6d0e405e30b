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


def test_the_runner_process_serves_health_and_stops_cleanly_on_ctrl_c(tmp_path):
    # Given the runner started as `make local` starts it, on a free port
    port = free_port()
    env = dict(os.environ, PORT=str(port), LOCAL_STATE_DIR=str(tmp_path))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
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
        assert (tmp_path / "stratus.db").exists()  # the embedded database, under its state dir
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
