"""What the local runner lets a function see and call (local/isolation.py), without processes:
the environment its declaration earns, and the check of each AWS call against its needs."""

from __future__ import annotations

import os
import types
import weakref
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import botocore.handlers
import pytest

from functions.registry import Entry, discover
from local import isolation
from local.isolation import (
    UndeclaredAccess,
    address_variables,
    function_environment,
    function_grants,
    install_guard,
)
from shared.platform.declare import (
    EMAIL,
    Access,
    Function,
    QueueTrigger,
    ScheduleTrigger,
    bucket,
    queue,
    secret,
)
from shared.platform.settings import reset_settings

REGISTRY = discover()
NAMES = {
    ("bucket", "stratus-local-uploads"): "uploads",
    ("queue", "stratus-local-ingest"): "ingest",
    ("queue", "stratus-local-purge"): "purge",
    ("secret", "stratus-local-signing-keys"): "signing-keys",
    (
        "secret",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:stratus-local-signing-keys-Ab12",
    ): ("signing-keys"),
}


class Noop(Function):
    def invoke(self, event: dict[str, Any], context: Any) -> None:
        return None


def entry_of(*needs: Access, trigger: Any = None, name: str = "list") -> Entry:
    fn = Noop(trigger=trigger or ScheduleTrigger("rate(1 hour)"), needs=needs)
    module = types.ModuleType(f"demo_{name}")
    module.function = fn  # type: ignore[attr-defined]
    folder = Path("functions") / "documents" / name
    return Entry(name=f"documents-{name}", service="documents", folder=folder, module=module)


def refusal(entry: Entry, service: str, operation: str, presign: bool = False, **params) -> str:
    with pytest.raises(UndeclaredAccess) as refused:
        function_grants(entry, NAMES).check(service, operation, params, presign)
    return str(refused.value.need)


def allowed(entry: Entry, service: str, operation: str, presign: bool = False, **params) -> None:
    function_grants(entry, NAMES).check(service, operation, params, presign)


# ---- the check --------------------------------------------------------------------------------

QUEUE_URL = "http://127.0.0.1:5000/123456789012/stratus-local-ingest"


def test_a_queue_the_function_did_not_declare_is_refused_naming_the_need():
    entry = entry_of(bucket("uploads"))
    assert refusal(entry, "sqs", "SendMessage", QueueUrl=QUEUE_URL) == (
        "functions/documents/list: sqs:SendMessage on queue 'ingest' is not declared"
        " (add queue('ingest') to its needs)"
    )
    allowed(entry_of(queue("ingest")), "sqs", "SendMessage", QueueUrl=QUEUE_URL)
    allowed(entry_of(queue("ingest")), "sqs", "SendMessageBatch", QueueUrl=QUEUE_URL)
    # a declared queue is not another one
    other = f"{QUEUE_URL[: -len('ingest')]}purge"
    assert "queue 'purge'" in refusal(
        entry_of(queue("ingest")), "sqs", "SendMessage", QueueUrl=other
    )


def test_a_worker_consumes_its_own_queue_only():
    worker = entry_of(trigger=QueueTrigger(queue="ingest"))
    allowed(worker, "sqs", "DeleteMessage", QueueUrl=QUEUE_URL)
    assert "sqs:SendMessage on queue 'ingest'" in refusal(
        worker, "sqs", "SendMessage", QueueUrl=QUEUE_URL
    )


def test_bucket_levels_are_checked_per_action_presigned_urls_included():
    reader = entry_of(bucket("uploads", "read"))
    where = {"Bucket": "stratus-local-uploads", "Key": "k"}
    allowed(reader, "s3", "GetObject", **where)
    allowed(reader, "s3", "HeadObject", **where)
    allowed(reader, "s3", "ListObjectsV2", Bucket="stratus-local-uploads")
    allowed(reader, "s3", "GetObject", presign=True, **where)  # generate_presigned_url
    assert refusal(reader, "s3", "PutObject", **where) == (
        "functions/documents/list: s3:PutObject on bucket 'uploads' is not declared"
        " (add bucket('uploads', 'write') to its needs)"
    )
    assert "add bucket('uploads', 'read_write')" in refusal(reader, "s3", "DeleteObject", **where)
    # generate_presigned_post is an upload
    post = {"Bucket": "stratus-local-uploads"}
    assert "s3:PutObject on bucket 'uploads'" in refusal(
        reader, "s3", "CreateBucket", presign=True, **post
    )
    allowed(entry_of(bucket("uploads", "write")), "s3", "CreateBucket", presign=True, **post)
    # copying needs the read of the source
    copy = {**where, "CopySource": {"Bucket": "stratus-local-uploads", "Key": "a"}}
    allowed(entry_of(bucket("uploads", "read_write")), "s3", "CopyObject", **copy)
    assert "s3:GetObject" in refusal(
        entry_of(bucket("uploads", "write")), "s3", "CopyObject", **copy
    )


def test_a_secret_is_checked_by_name_and_by_arn():
    arn = next(physical for kind, physical in NAMES if physical.startswith("arn:"))
    entry = entry_of(secret("cursor-keys"))
    expected = (
        "functions/documents/list: secretsmanager:GetSecretValue on secret 'signing-keys'"
        " is not declared (add secret('signing-keys') to its needs)"
    )
    assert refusal(entry, "secretsmanager", "GetSecretValue", SecretId=arn) == expected
    assert (
        refusal(entry, "secretsmanager", "GetSecretValue", SecretId="stratus-local-signing-keys")
        == expected
    )
    allowed(entry_of(secret("signing-keys")), "secretsmanager", "GetSecretValue", SecretId=arn)


def test_email_bedrock_and_any_other_service_need_their_own_grant():
    entry = entry_of(bucket("uploads"))
    assert "ses:SendEmail on SES is not declared (add EMAIL to its needs)" in refusal(
        entry, "ses", "SendEmail"
    )
    allowed(entry_of(EMAIL), "ses", "SendEmail")
    assert "(add EMBEDDINGS to its needs)" in refusal(entry, "bedrock", "InvokeModel")
    assert "kms:Decrypt is not granted by any need" in refusal(entry, "kms", "Decrypt")


def test_a_resource_nobody_declared_is_named_as_such():
    message = refusal(entry_of(bucket("uploads")), "s3", "GetObject", Bucket="elsewhere", Key="k")
    assert "s3:GetObject on bucket 'elsewhere': no such resource is declared" in message


def test_the_guard_refuses_a_real_botocore_call_before_it_is_sent(monkeypatch):
    # Given the guard installed as in a child, for a function that declares no queue
    monkeypatch.setattr(
        botocore.handlers, "BUILTIN_HANDLERS", list(botocore.handlers.BUILTIN_HANDLERS)
    )
    monkeypatch.setattr(isolation, "_grants", function_grants(entry_of(bucket("uploads")), NAMES))
    install_guard()
    # An endpoint nothing listens on: a call that got past the guard would fail differently
    sqs = boto3.Session(region_name="us-east-1").client(
        "sqs", endpoint_url="http://127.0.0.1:9", aws_access_key_id="x", aws_secret_access_key="y"
    )
    with pytest.raises(UndeclaredAccess, match=r"sqs:SendMessage on queue 'ingest'") as refused:
        sqs.send_message(QueueUrl=QUEUE_URL, MessageBody="{}")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    s3 = boto3.Session(region_name="us-east-1").client(
        "s3", endpoint_url="http://127.0.0.1:9", aws_access_key_id="x", aws_secret_access_key="y"
    )
    with pytest.raises(UndeclaredAccess, match=r"s3:PutObject on bucket 'uploads'"):
        s3.generate_presigned_post("stratus-local-uploads", "k")
    assert s3.generate_presigned_url(
        "get_object", Params={"Bucket": "stratus-local-uploads", "Key": "k"}
    )


def test_the_guard_installs_beside_a_weak_proxy_whose_object_is_gone(monkeypatch):
    # Given a weak proxy in this process whose object no longer exists
    monkeypatch.setattr(
        botocore.handlers, "BUILTIN_HANDLERS", list(botocore.handlers.BUILTIN_HANDLERS)
    )

    class Held:
        pass

    held = Held()
    proxy = weakref.proxy(held)
    del held
    with pytest.raises(ReferenceError):
        isinstance(proxy, botocore.client.BaseClient)
    # When the guard is installed, as a zygote does at its start, then it is
    install_guard()
    assert ("before-parameter-build", isolation.guard) in botocore.handlers.BUILTIN_HANDLERS


# ---- the environment ----------------------------------------------------------------------------


def runner_environ() -> dict[str, str]:
    """Everything the runner sets, for every resource, plus tuning a deployer could pass."""
    env = {name: f"value-of-{name}" for name in address_variables(REGISTRY)}
    env["DATABASE_URL"] = "postgresql+pg8000://postgres@/stratus?unix_sock=/tmp/x"
    env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    env.update(
        {
            "PATH": "/usr/bin",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "STAGE": "local",
            "APP_VERSION": "1.2.3",
            "RATE_LIMIT_PER_MINUTE": "7",
            "FRONTEND_ORIGIN": "http://localhost:5173",
            "APP_URL": "http://127.0.0.1:3000",
            "VECTOR_STORE": "pgvector",
            "SOMETHING_ELSE": "x",
        }
    )
    return env


@pytest.mark.parametrize("entry", REGISTRY.entries, ids=lambda e: e.name)
def test_each_real_function_gets_the_addresses_of_its_own_needs_only(entry):
    environ = runner_environ()
    addresses = address_variables(REGISTRY)
    env = function_environment(entry, environ, addresses)
    fn = entry.function
    own = {access.env for access in fn.needs if access.env}
    assert {name for name in env if name in addresses} == own
    assert env["STAGE"] == "local" and env["APP_VERSION"] == "1.2.3"
    assert env["POWERTOOLS_SERVICE_NAME"] == entry.service
    assert "SOMETHING_ELSE" not in env
    assert ("FRONTEND_ORIGIN" in env) is (fn.kind == "http")
    assert ("VECTOR_STORE" in env) is ("vectors" in fn.need_kinds)
    assert ("APP_URL" in env) is ("email" in fn.need_kinds)


@pytest.mark.parametrize("entry", REGISTRY.entries, ids=lambda e: e.name)
def test_each_real_function_validates_in_the_environment_it_earns(entry, monkeypatch):
    # Given only what the runner gives this function
    env = function_environment(entry, runner_environ(), address_variables(REGISTRY))
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    try:
        # Then its settings, and those of its needs, are all there
        entry.function.validate()
    finally:
        reset_settings()
