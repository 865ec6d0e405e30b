"""The embedded PostgreSQL of ``make local`` (local/postgres.py): first start, reuse, clean stop,
and recovery from what a killed process leaves behind. Each test runs its own server on its
own data directory (never the shared machine's PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from functions.registry import REPO_ROOT
from local.postgres import OWNER_FILE, EmbeddedPostgres
from tests.support.services import server_folder

pytestmark = pytest.mark.integration


def query(url: str, sql: str) -> object:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """An empty data directory's path, outside pytest's temporary root (``server_folder``)."""
    folder = server_folder("stratus-pg-test-") / "pg"
    yield folder
    leftover = EmbeddedPostgres(folder)
    if leftover.is_running():  # a failed test: stop what it started
        leftover.state = "adopted"
        leftover.stop()


def test_first_start_initialises_serves_pgvector_and_the_data_survives_a_restart(data_dir):
    # Given a server started on an empty folder, with fsync off as the tests run it
    server = EmbeddedPostgres(data_dir, settings={"fsync": "off"})
    url = server.start()
    # Then it is PostgreSQL 18 on a Unix socket only, with pgvector available
    assert server.state == "started"
    assert str(query(url, "SELECT version()")).startswith("PostgreSQL 18")
    assert query(url, "SHOW listen_addresses") == ""
    assert query(url, "SHOW fsync") == "off"
    query(url, "CREATE EXTENSION IF NOT EXISTS vector")
    query(url, "CREATE TABLE kept (v int)")
    query(url, "INSERT INTO kept VALUES (42)")
    # When it is stopped and started again
    server.stop()
    assert not server.is_running()
    again = EmbeddedPostgres(data_dir)
    url = again.start()
    # Then the data is still there
    assert query(url, "SELECT v FROM kept") == 42
    again.stop()


def test_a_database_is_created_once(data_dir):
    server = EmbeddedPostgres(data_dir)
    server.start()
    try:
        url = server.create_database("stratus")
        assert server.create_database("stratus") == url
        assert query(url, "SELECT current_database()") == "stratus"
    finally:
        server.stop()


def _start_in_a_process_that_dies(data_dir: Path) -> None:
    """Start the server from another process that then dies without stopping it (as a runner
    killed with SIGKILL would)."""
    code = (
        "import os, sys; from local.postgres import EmbeddedPostgres; "
        f"EmbeddedPostgres({str(data_dir)!r}).start(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=120)


def test_a_server_whose_owner_died_is_adopted_and_stopped(data_dir):
    # Given a server left running by a process that was killed
    _start_in_a_process_that_dies(data_dir)
    assert EmbeddedPostgres(data_dir).is_running()
    # When the runner starts again
    server = EmbeddedPostgres(data_dir)
    url = server.start()
    # Then it uses that server, owns it, and stops it when it stops
    assert server.state == "adopted"
    assert query(url, "SELECT 1") == 1
    assert (data_dir / OWNER_FILE).read_text().strip() == str(os.getpid())
    server.stop()
    assert not server.is_running()


def test_a_server_another_live_process_owns_is_shared_and_left_running(data_dir):
    # Given a server owned by a process that is alive (another runner)
    owner = EmbeddedPostgres(data_dir)
    owner.start()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (data_dir / OWNER_FILE).write_text(f"{sleeper.pid}\n")
        # When a second process starts it, then stops
        second = EmbeddedPostgres(data_dir)
        second.start()
        assert second.state == "shared"
        second.stop()
        # Then the server is still there for its owner
        assert owner.is_running()
    finally:
        sleeper.kill()
        sleeper.wait()
        owner.state = "adopted"
        owner.stop()


def test_a_killed_postmaster_leaves_a_pid_file_that_does_not_stop_the_next_start(data_dir):
    # Given a server whose postmaster was killed with SIGKILL: postmaster.pid stays behind
    server = EmbeddedPostgres(data_dir)
    server.start()
    pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.is_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # its children notice the postmaster's death and exit
    assert (data_dir / "postmaster.pid").exists()
    # When it is started again
    again = EmbeddedPostgres(data_dir)
    url = again.start()
    # Then it comes up (crash recovery included)
    assert again.state == "started"
    assert query(url, "SELECT 1") == 1
    again.stop()


def test_a_pid_file_naming_another_process_is_removed_before_starting(data_dir):
    # Given a stopped server whose postmaster.pid names a live process that is not postgres
    # (after a reboot, pids are handed out again)
    server = EmbeddedPostgres(data_dir)
    server.start()
    server.stop()
    (data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{data_dir}\n")
    # When it is started
    again = EmbeddedPostgres(data_dir)
    url = again.start()
    # Then it comes up
    assert query(url, "SELECT 1") == 1
    again.stop()
