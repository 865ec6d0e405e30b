"""Settings every suite shares: no real AWS account is reachable, ever."""

from __future__ import annotations

import os

import pytest

# Before any handler module is imported (Powertools reads these when the logger is created).
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
)


# The network rule: loopback only, enforced for every test of the session.
from tests.support import network_guard

network_guard.install()


@pytest.fixture
def lambda_context():
    from local.lambda_context import LambdaContext

    return LambdaContext(function_name="test-function")


@pytest.fixture
def sent_messages(monkeypatch) -> list[tuple[str, object]]:
    """Every message the test queued, in order, as ``(queue, JSON body as a dict)``, instead of
    sending it: sent directly (``shared.platform.queues.send``) or by the outbox
    (``queues.send_json``)."""
    import json

    sent: list[tuple[str, object]] = []

    def record(queue: str, body: str, **_: object) -> str:
        sent.append((queue, json.loads(body)))
        return f"message-{len(sent)}"

    monkeypatch.setattr("shared.platform.queues.send_json", record)
    return sent


@pytest.fixture
def redis(monkeypatch):  # type: ignore[no-untyped-def]
    """fakeredis in place of the Redis client (``shared.platform.cache.redis``)."""
    import fakeredis

    from shared.platform import cache

    fake = fakeredis.FakeRedis(decode_responses=True)
    monkeypatch.setattr(cache, "redis", lambda: fake)
    return fake


@pytest.fixture
def log_lines():
    """The JSON log lines the functions write during the test, parsed."""
    import io
    import json

    from shared.platform.observability import logger

    buffer = io.StringIO()
    handler = logger.registered_handler
    old = handler.setStream(buffer)  # type: ignore[attr-defined]

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    yield lines
    handler.setStream(old)  # type: ignore[attr-defined]


from tests.support.services import pg_url, redis_url, vector_env  # noqa: E402, F401 - shared fixtures


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test`` runs two workers with ``--dist loadgroup``), keep the
    infrastructure suite on one worker: its session fixtures synthesize the CDK app, which is
    worth doing once, not once per worker."""
    infra = pytest.mark.xdist_group("infra")
    for item in items:
        if item.nodeid.startswith("tests/infra/"):
            item.add_marker(infra)
