"""AWS on loopback: a moto server, and the resources the CDK app creates, from the registry."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from functions.registry import Registry
from local.lambda_context import ACCOUNT_ID, REGION
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
        import urllib.request

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


def provision(registry: Registry, session: Any, endpoint: str) -> Provisioned:
    """Create the buckets, queues (each with its dead-letter queue), S3 notifications and
    secrets that the CDK app creates for ``registry``."""
    s3 = session.client("s3", endpoint_url=endpoint, region_name=REGION)
    sqs = session.client("sqs", endpoint_url=endpoint, region_name=REGION)
    secrets = session.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
    done = Provisioned()

    for bucket in registry.buckets:
        physical = physical_name(bucket.name)
        s3.create_bucket(Bucket=physical)
        done.buckets[bucket.name] = physical

    for entry, trigger in registry.queues:
        visibility = trigger.visibility_timeout_seconds or 6 * entry.function.timeout_seconds
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

    for secret in registry.secrets:
        value = secret.local_value() if secret.local_value else os.urandom(32).hex()
        arn = secrets.create_secret(
            Name=physical_name(secret.name), Description=secret.description, SecretString=value
        )["ARN"]
        done.secret_arns[secret.name] = arn
    return done
