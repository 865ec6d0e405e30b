"""AWS on loopback: a moto server, and the resources the CDK app creates, from the registry."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from functions.registry import Registry
from local.lambda_context import ACCOUNT_ID, REGION
from shared.platform.redelivery import default_visibility_timeout
from shared.platform.settings import env_name

LOCAL_STAGE = "local"


def physical_name(name: str) -> str:
    """The physical name of a declared resource in the local runner."""
    return f"stratus-{LOCAL_STAGE}-{name}"


@dataclass
class Provisioned:
    """What was created, by declared name, and the environment that points functions at it."""

    buckets: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    dlq_urls: dict[str, str] = field(default_factory=dict)
    secret_arns: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for name, bucket in self.buckets.items():
            env[env_name("bucket", name) or ""] = bucket
        for name, url in self.queue_urls.items():
            env[env_name("queue", name) or ""] = url
        for name, arn in self.secret_arns.items():
            env[env_name("secret", name) or ""] = arn
        return env


class MotoServer:
    """moto's threaded server on 127.0.0.1; every boto3 client of the process points at it."""

    def __init__(self, port: int) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per AWS call
        self.port = port
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start serving, with empty backends: moto keeps its state per process, and a second
        runner in the same process (the tests start several) must not see the first's."""
        import socket
        import urllib.request

        # moto's server thread dies on a port it cannot bind, and its start() then waits for
        # ever for a readiness that never comes: refuse a taken port first, by name.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError as exc:
                raise RuntimeError(
                    f"the local AWS (moto) cannot listen on 127.0.0.1:{self.port}: {exc.strerror}"
                    " (another runner? set AWS_PORT to a free port)"
                ) from None
        self._server.start()
        reset = f"{self.endpoint}/moto-api/reset"
        request = urllib.request.Request(reset, method="POST")  # noqa: S310 - loopback moto
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def stop(self) -> None:
        self._server.stop()


def aws_environment(endpoint: str) -> dict[str, str]:
    """Fake credentials and the endpoint override, so no real AWS account is ever reached."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }


def provision(
    registry: Registry, session: Any, endpoint: str, state: LocalState | None = None
) -> Provisioned:
    """Create the buckets, queues (each with its dead-letter queue), S3 notifications and
    secrets that the CDK app creates for ``registry``; with ``state``, put back what the last
    run saved (objects before the notifications exist, so that none is ingested twice;
    secrets with their old values; messages once their queues exist)."""
    s3 = session.client("s3", endpoint_url=endpoint, region_name=REGION)
    sqs = session.client("sqs", endpoint_url=endpoint, region_name=REGION)
    secrets = session.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
    done = Provisioned()

    for bucket in registry.buckets:
        physical = physical_name(bucket.name)
        s3.create_bucket(Bucket=physical)
        done.buckets[bucket.name] = physical
    if state is not None:
        state.restore_objects(s3, done.buckets.values())

    for entry, trigger in registry.queues:
        visibility = trigger.visibility_timeout_seconds or default_visibility_timeout(
            entry.function.timeout_seconds
        )
        suffix, fifo = (".fifo", {"FifoQueue": "true"}) if trigger.fifo else ("", {})
        dlq_url = sqs.create_queue(
            QueueName=physical_name(f"{trigger.queue}-dlq") + suffix,
            Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600), **fifo},
        )["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        url = sqs.create_queue(
            QueueName=physical_name(trigger.queue) + suffix,
            Attributes={
                **fifo,
                "VisibilityTimeout": str(visibility),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": trigger.max_receive_count}
                ),
            },
        )["QueueUrl"]
        done.queue_urls[trigger.queue] = url
        done.dlq_urls[trigger.queue] = dlq_url
        done.queue_arns[trigger.queue] = (
            f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:" + physical_name(trigger.queue) + suffix
        )

    notifications: dict[str, list[dict[str, Any]]] = {}
    for _, trigger in registry.queues:
        if trigger.s3_bucket:
            if trigger.s3_bucket not in done.buckets:
                raise ValueError(
                    f"queue {trigger.queue!r} names unknown bucket {trigger.s3_bucket}"
                )
            config: dict[str, Any] = {
                "QueueArn": done.queue_arns[trigger.queue],
                "Events": ["s3:ObjectCreated:*"],
            }
            if trigger.s3_prefix:
                config["Filter"] = {
                    "Key": {"FilterRules": [{"Name": "prefix", "Value": trigger.s3_prefix}]}
                }
            notifications.setdefault(trigger.s3_bucket, []).append(config)
    for bucket_name, configs in notifications.items():
        s3.put_bucket_notification_configuration(
            Bucket=done.buckets[bucket_name],
            NotificationConfiguration={"QueueConfigurations": configs},
        )

    if any("email" in entry.function.need_kinds for entry in registry):
        # SES sends only from a verified identity; in AWS the CDK app verifies the sender
        from shared.platform.settings import Email

        sender = Email().email_sender
        ses = session.client("ses", endpoint_url=endpoint, region_name=REGION)
        ses.verify_email_identity(EmailAddress=sender)

    saved = state.secrets() if state is not None else {}
    for secret in registry.secrets:
        value = saved.get(secret.name)
        if value is None:
            value = secret.local_value() if secret.local_value else os.urandom(32).hex()
            saved[secret.name] = value
        arn = secrets.create_secret(
            Name=physical_name(secret.name), Description=secret.description, SecretString=value
        )["ARN"]
        done.secret_arns[secret.name] = arn
    if state is not None:
        state.save_secrets(saved)
        state.restore_messages(sqs, {**done.queue_urls, **_dlq_names(done)})
    return done


def _dlq_names(done: Provisioned) -> dict[str, str]:
    return {f"{name}-dlq": url for name, url in done.dlq_urls.items()}


class LocalState:
    """What moto holds that must outlive the runner, under ``<state_dir>/aws/``: the secrets'
    values (the signing keys: sessions survive a restart), the buckets' objects and the queues'
    messages. Saved when the runner stops (Ctrl-C, after the pollers finished their batches),
    put back when it starts; ``make clean`` deletes the folder, and everything starts fresh.

    A runner killed without stopping (SIGKILL, a crash) keeps its secrets (written at start)
    but loses the objects and messages of that run; a document whose message was lost so is
    queued again by the maintenance job (``docs/data.md``, "Nothing stuck").
    """

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "aws"

    # ---- secrets ------------------------------------------------------------------------------

    @property
    def _secrets_file(self) -> Path:
        return self.root / "secrets.json"

    def secrets(self) -> dict[str, str]:
        if not self._secrets_file.is_file():
            return {}
        document = json.loads(self._secrets_file.read_text())
        return {str(k): str(v) for k, v in document.items()}

    def save_secrets(self, values: dict[str, str]) -> None:
        self._write(self._secrets_file, json.dumps(values, indent=1).encode())

    # ---- objects ------------------------------------------------------------------------------

    def save_objects(self, s3: Any, buckets: Iterable[str]) -> int:
        """Every object of ``buckets``, replacing what was saved before; how many."""
        folder = self.root / "s3"
        staged = self.root / "s3.new"
        shutil.rmtree(staged, ignore_errors=True)
        count = 0
        for bucket in buckets:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    got = s3.get_object(Bucket=bucket, Key=item["Key"])
                    name = staged / bucket / quote(item["Key"], safe="")
                    self._write(name, got["Body"].read())
                    meta = {"content_type": got.get("ContentType") or "binary/octet-stream"}
                    self._write(name.with_name(name.name + META), json.dumps(meta).encode())
                    count += 1
        shutil.rmtree(folder, ignore_errors=True)
        staged.mkdir(parents=True, exist_ok=True)
        staged.rename(folder)
        return count

    def restore_objects(self, s3: Any, buckets: Iterable[str]) -> int:
        folder = self.root / "s3"
        count = 0
        for bucket in buckets:
            for name in sorted((folder / bucket).glob("*")) if (folder / bucket).is_dir() else []:
                if name.name.endswith(META):
                    continue
                meta_file = name.with_name(name.name + META)
                meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
                s3.put_object(
                    Bucket=bucket,
                    Key=unquote(name.name),
                    Body=name.read_bytes(),
                    ContentType=meta.get("content_type", "binary/octet-stream"),
                )
                count += 1
        return count

    # ---- messages -----------------------------------------------------------------------------

    def save_messages(
        self, sqs: Any, queue_urls: dict[str, str], in_flight: dict[str, list[dict[str, Any]]]
    ) -> int:
        """Every visible message of the queues, and the ones a poller held (``in_flight``, by
        queue name: received, not deleted), replacing what was saved before; how many."""
        saved: dict[str, list[dict[str, Any]]] = {}
        for name, url in queue_urls.items():
            bodies = saved.setdefault(name, [])
            bodies.extend(_portable(m) for m in in_flight.get(name, []))
            seen = {m["id"] for m in bodies}
            while True:
                got = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    MessageAttributeNames=["All"],
                    VisibilityTimeout=600,
                ).get("Messages", [])
                if not got:
                    break
                for message in got:
                    if message["MessageId"] not in seen:
                        seen.add(message["MessageId"])
                        bodies.append(_portable(message))
        self._write(self.root / "sqs.json", json.dumps(saved).encode())
        return sum(len(v) for v in saved.values())

    def restore_messages(self, sqs: Any, queue_urls: dict[str, str]) -> int:
        file = self.root / "sqs.json"
        if not file.is_file():
            return 0
        count = 0
        for name, messages in json.loads(file.read_text()).items():
            url = queue_urls.get(name)
            if url is None:
                continue  # a queue no longer declared
            for message in messages:
                sqs.send_message(
                    QueueUrl=url, MessageBody=message["body"], MessageAttributes=message["attrs"]
                )
                count += 1
        file.unlink()  # sent: the queues hold them now
        return count

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "wb", opener=lambda p, f: os.open(p, f, 0o600)) as handle:
            handle.write(data)
        temporary.replace(path)


META = ".meta.json"


def _portable(message: dict[str, Any]) -> dict[str, Any]:
    """A received message as it can be sent again: id, body and message attributes."""
    attrs = {
        key: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for key, value in (message.get("MessageAttributes") or {}).items()
    }
    return {"id": message["MessageId"], "body": message["Body"], "attrs": attrs}
