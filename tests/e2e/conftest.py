"""The local runner, in-process, once on its embedded defaults and once on real servers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from functions.registry import Registry, discover
from local.runner import LocalRunner, RunnerConfig
from tests.support.log_scan import RUNNER_LOGS, LogCollector, leaks
from tests.support.services import server_folder


@pytest.fixture(scope="session", autouse=True)
def warm_runner_parent() -> None:
    """What each runner's zygote would import and parse (local/isolation.py), done once in this
    process: the many runners of the suites then fork zygotes that are warm from the start."""
    from local import isolation

    isolation.warm()


def start_runner(registry: Registry, config: RunnerConfig) -> LocalRunner:
    from local import outputs

    RUNNER_LOGS.append(config.state_dir / outputs.LOG_NAME)  # for the log scan
    runner = LocalRunner(registry, config)
    try:
        runner.start()
    except BaseException:
        runner.stop()
        raise
    return runner


@pytest.fixture(scope="module", params=["embedded", "real-services"])
def runner(request) -> Iterator[LocalRunner]:
    """Stratus as `make local` runs it: embedded PostgreSQL + embedded Redis, or the test
    session's Postgres + Redis."""
    state = server_folder("stratus-local-")  # its embedded PostgreSQL's data: see there
    config = RunnerConfig(port=0, state_dir=state)
    if request.param == "real-services":
        config.database_url = request.getfixturevalue("pg_url")
        config.redis_url = request.getfixturevalue("redis_url")
        config.function_env.update(request.getfixturevalue("vector_env"))
    runner = start_runner(discover(), config)
    yield runner
    runner.stop()


@pytest.fixture
def api(runner) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=runner.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory) -> Iterator[LocalRunner]:
    """The whole system on real Postgres and Redis, with a bootstrap admin and a rate limit high
    enough that only the tests about it ever meet it."""
    from tests.support.api import ADMIN_EMAIL, ADMIN_PASSWORD

    config = RunnerConfig(
        port=0,
        state_dir=tmp_path_factory.mktemp("stack"),
        database_url=request.getfixturevalue("pg_url"),
        redis_url=request.getfixturevalue("redis_url"),
        function_env={
            "ADMIN_EMAIL": ADMIN_EMAIL,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "RATE_LIMIT_PER_MINUTE": "100000",
            **request.getfixturevalue("vector_env"),
        },
    )
    runner = start_runner(discover(), config)
    yield runner
    runner.stop()


@pytest.fixture
def client(stack) -> Iterator[httpx.Client]:
    """An HTTP client of the real-services stack."""
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def services(request, tmp_path_factory) -> Iterator[LocalRunner]:
    """The runner's resources on real Postgres and Redis, without HTTP server or pollers: the
    test decides what a worker receives, when and how often."""
    config = RunnerConfig(
        state_dir=tmp_path_factory.mktemp("services"),
        database_url=request.getfixturevalue("pg_url"),
        redis_url=request.getfixturevalue("redis_url"),
        function_env=dict(request.getfixturevalue("vector_env")),
    )
    runner = LocalRunner(discover(), config, serve=False)
    runner.start()
    yield runner
    runner.stop()


@pytest.fixture(scope="session")
def log_scan() -> Iterator[LogCollector]:
    """Every log line of the e2e run (functions, runner, libraries), scanned at the end of the
    session for secrets and personal data (``tests.support.log_scan``): a leak fails the run.
    ``tests/e2e/test_hostile_input.py`` also scans what was collected up to its end."""
    collector = LogCollector()
    yield collector
    found = leaks(collector.everything())
    assert not found, f"{len(found)} log lines leak secrets or personal data:\n" + "\n".join(
        found[:20]
    )


@pytest.fixture(scope="module", autouse=True)
def collect_logs(log_scan: LogCollector) -> Iterator[None]:
    """Collect while an e2e module runs (its runner's start and stop included), and only then:
    other suites log what their own tests check."""
    log_scan.install()
    yield
    log_scan.uninstall()
