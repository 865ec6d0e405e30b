"""A private ``redis-server`` on a free loopback port, for fault tests: killed, restarted with
its data lost, or with writes paused, without ever touching the shared server others use."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis as redis_py

from local.runner import free_port


class RedisServer:
    """One ``redis-server`` process of our own: no persistence, so a restart loses every key."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH")
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="stratus-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis_py.Redis:
        return redis_py.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)

    def start(self) -> None:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.client() as probe:
                    probe.ping()
                return
            except redis_py.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: what a crash or a lost node looks like. Every key is gone with it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        """Start again on the same port, empty."""
        if self.process is not None:
            self.kill()
        self.start()

    def pause_writes(self, seconds: float) -> None:
        """``CLIENT PAUSE <ms> WRITE``: writes (and key expiry) wait; reads go on."""
        with self.client() as admin:
            admin.execute_command("CLIENT", "PAUSE", int(seconds * 1000), "WRITE")

    def unpause(self) -> None:
        with self.client() as admin:
            admin.execute_command("CLIENT", "UNPAUSE")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)
