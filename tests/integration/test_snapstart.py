"""SnapStart: a primed function holds no connection, and after a restore (a fork of the primed
process stands in for one) nothing is shared: not the database or Redis connections, not the
cached secrets or the AWS session, not the random state. Real Postgres and Redis on loopback,
moto for Secrets Manager."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import text

from functions.registry import REPO_ROOT, discover
from shared.platform import aws, cache, db, secrets, snapstart
from shared.platform.settings import reset_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def stores(pg_url, redis_url, monkeypatch):
    """Postgres, Redis and Secrets Manager (moto), and every client forgotten around the test."""
    from moto import mock_aws

    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    with mock_aws():
        aws.reset()
        db.reset()
        cache.reset()
        arn = aws.client("secretsmanager").create_secret(Name="snap", SecretString="v1")["ARN"]
        yield arn
        db.reset()
        cache.reset()
        aws.reset()
    reset_settings()


def _backend_pid() -> int:
    with db.engine().connect() as connection:
        return int(connection.execute(text("select pg_backend_pid()")).scalar_one())


def test_after_restore_the_connections_secrets_and_session_are_new(stores):
    # Given a primed function that then served with real connections and a cached secret
    discover()["users-get"].function.prime()
    engine, client, session = db.engine(), cache.redis(), aws.session()
    loader = session._session.get_component("data_loader")
    old_pid, old_client_id = _backend_pid(), client.client_id()
    assert secrets.get(stores, max_age=300) == "v1"
    aws.client("secretsmanager").put_secret_value(SecretId=stores, SecretString="v2")
    assert secrets.get(stores, max_age=300) == "v1"  # cached, as it should be until it expires

    # When the after-restore hooks run
    snapstart.renew()

    # Then the database engine stays (its compiled statements too) but its pool is new
    assert db.engine() is engine
    assert engine.pool.checkedin() == 0
    assert _backend_pid() != old_pid
    # And Redis is a new client, on a new connection, that works
    assert cache.redis() is not client
    assert cache.redis().client_id() != old_client_id
    assert cache.redis().set("snap:check", "1", ex=5) and cache.redis().get("snap:check") == "1"
    # And the secret is read again, and the AWS session is new but keeps the parsed models
    assert secrets.get(stores, max_age=300) == "v2"
    assert aws.session() is not session
    assert aws.session()._session.get_component("data_loader") is loader


def test_priming_opens_no_connection(monkeypatch, unused_port):
    # Given stores that cannot be reached: priming that tried to connect would fail
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{unused_port}/none")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{unused_port}/0")
    reset_settings()
    db.reset()
    cache.reset()
    registry = discover()
    try:
        # When every HTTP function, the authorizer and the workers prime
        statuses = {}
        for entry in registry:
            function = entry.function
            if not function.snap_start:
                continue
            function.prime()
            if entry.kind == "http":
                statuses[entry.name] = function._prime_request()  # type: ignore[attr-defined]
        # Then the synthetic requests were refused or answered without a store
        assert statuses["system-health"] == 200
        assert statuses["users-get"] == 401  # no principal: refused before the endpoint
        assert statuses["auth-register"] == 422  # no body: refused before the endpoint
        assert set(statuses.values()) <= {200, 401, 404, 422}
        # And the engine and the Redis client exist, with no connection opened
        assert db.engine().pool.checkedout() == 0 and db.engine().pool.checkedin() == 0
        assert cache.redis().connection_pool._created_connections == 0
    finally:
        db.reset()
        cache.reset()
        reset_settings()


@pytest.mark.parametrize("name", ["documents-search", "documents-ingest"])
@pytest.mark.parametrize(("embedder", "embeds"), [("static", 1), ("local", 1), ("bedrock", 0)])
def test_priming_loads_the_embedding_model_and_runs_it_once_without_a_call(
    monkeypatch, unused_port, name, embedder, embeds
):
    # Given a function that embeds, an embedder chosen, and every embedding counted
    from shared import embeddings

    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{unused_port}/none")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{unused_port}/0")
    monkeypatch.setenv("EMBEDDER", embedder)
    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "256")
    reset_settings()
    embeddings.reset_embedder()
    calls: list[str] = []
    for cls in (embeddings.StaticEmbedder, embeddings.LocalEmbedder, embeddings.BedrockEmbedder):
        original = cls.embed

        def counted(self, texts, _original=original, _name=cls.__name__):  # type: ignore[no-untyped-def]
            calls.append(_name)
            return _original(self, texts)

        monkeypatch.setattr(cls, "embed", counted)
    try:
        # When it primes, as before a SnapStart snapshot
        discover()[name].function.prime()

        # Then the embedder it will use exists already, and ran once unless each run is a call
        assert embeddings.get_embedder.cache_info().currsize == 1
        assert len(calls) == embeds
        prepared = embeddings.get_embedder()
        assert type(prepared).__name__.lower().startswith(embedder)
        if embeds:  # and it embeds as a fresh one would
            assert prepared.embed(["an invoice"]) == type(prepared)(256).embed(["an invoice"])
    finally:
        embeddings.reset_embedder()
        db.reset()
        cache.reset()
        reset_settings()


@pytest.fixture
def unused_port() -> int:
    from local.runner import free_port

    return free_port()


FORKED = """
import json, os, random, sys
from sqlalchemy import text
from functions.registry import discover
from shared.platform import cache, db, snapstart

renew = sys.argv[1] == "renew"
discover()["users-get"].function.prime()
with db.engine().connect() as connection:  # a pooled connection, as after a first request
    parent_pid = connection.execute(text("select pg_backend_pid()")).scalar_one()
cache.redis().ping()
parent_client = cache.redis().client_id()
results = []
for _ in range(2):  # two copies restored from one snapshot
    read, write = os.pipe()
    snapshot = random.getstate()
    child = os.fork()
    if child == 0:
        os.close(read)
        # os.fork() reseeds `random` in the child (an at-fork hook); a SnapStart restore runs
        # no such hook, so the copy starts from the snapshot's state, as here
        random.setstate(snapshot)
        if renew:
            snapstart.renew()
        out = {"random": random.random()}
        if renew:
            with db.engine().connect() as connection:
                out["pid"] = connection.execute(text("select pg_backend_pid()")).scalar_one()
            out["client"] = cache.redis().client_id()
        os.write(write, json.dumps(out).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    results.append(json.loads(os.read(read, 4096)))
# the parent's own connections were not closed by its children
with db.engine().connect() as connection:
    still = connection.execute(text("select pg_backend_pid()")).scalar_one()
print(json.dumps({"children": results, "parent_pid": parent_pid, "parent_after": still,
                  "parent_client": parent_client, "client_after": cache.redis().client_id()}))
"""


def _fork_copies(mode: str, pg_url: str, redis_url: str) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FORKED), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_two_restored_copies_share_no_random_state_and_no_connection(pg_url, redis_url):
    # Given one primed process with open connections, forked twice as a snapshot is restored
    # When each copy runs the after-restore hooks
    renewed = _fork_copies("renew", pg_url, redis_url)
    first, second = renewed["children"]
    # Then their random state differs
    assert first["random"] != second["random"]
    # And each has its own database connection and Redis client, neither the parent's
    assert len({first["pid"], second["pid"], renewed["parent_pid"]}) == 3
    assert len({first["client"], second["client"], renewed["parent_client"]}) == 3
    # And the parent's connections still work: a copy drops what it inherited, never closes it
    assert renewed["parent_after"] == renewed["parent_pid"]
    assert renewed["client_after"] == renewed["parent_client"]


def test_without_the_hooks_restored_copies_would_replay_one_random_state(pg_url, redis_url):
    # Given the same two copies, without the after-restore hooks (what the hooks prevent)
    shared = _fork_copies("none", pg_url, redis_url)
    first, second = shared["children"]
    # Then both draw the same "random" number
    assert first["random"] == second["random"]


REGISTERED = """
import importlib.util, json, sys
import snapshot_restore_py as hooks
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({
    "before": [getattr(f, "__qualname__", repr(f)) for f, _, _ in hooks.get_before_snapshot()],
    "after": [getattr(f, "__qualname__", repr(f)) for f, _, _ in hooks.get_after_restore()],
    "same": [f.__self__ is module.function for f, _, _ in hooks.get_before_snapshot()],
}))
"""


@pytest.mark.parametrize(
    "name", ["users-get", "auth-authorizer", "documents-ingest", "system-migrate"]
)
def test_in_lambda_every_snapstart_function_registers_its_hooks(name):
    # Given a handler imported as the Lambda runtime imports it
    entry = discover()[name]
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",  # never contacted: the hooks only register
        "POWERTOOLS_TRACE_DISABLED": "true",
        # what the deployment sets (validated at init in Lambda); nothing is contacted
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "UPLOADS_BUCKET": "uploads",
        "NOTIFICATIONS_QUEUE_URL": "http://127.0.0.1:1/queue/notifications",
        "WEBHOOKS_QUEUE_URL": "http://127.0.0.1:1/queue/webhooks",
        "SIGNING_KEYS_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:signing",
        "ADMIN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:admin",
    }
    result = subprocess.run(
        [sys.executable, "-c", REGISTERED, str(entry.folder / "handler.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    hooks = json.loads(result.stdout.strip().splitlines()[-1])
    if entry.function.snap_start:
        # Then its priming runs before the snapshot and the renewal after each restore
        assert hooks["before"] and all(hooks["same"])
        assert hooks["before"][0].endswith(".prime")
        assert hooks["after"] == ["renew"]
    else:
        # And the deploy job, which has no snapshot, registers nothing
        assert hooks == {"before": [], "after": [], "same": []}
