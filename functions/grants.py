"""What a declaration earns in AWS: the IAM actions of each need, and the environment.

One table for the CDK app (``infra/components/access.py`` writes the bucket and Bedrock
statements from it, and ``tests/infra`` checks that the queue, secret and email grants CDK makes
give exactly these actions) and the local runner (``local/isolation.py`` refuses every AWS call
that no need of the calling function grants). Light on purpose: the runner imports it at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.platform.declare import Access, QueueTrigger, Trigger

#: What a statement's resource is: a bucket's objects, the bucket itself (listing), a queue, a
#: secret, the SES identity, the Bedrock model; ``own-queue`` is the worker's own queue.
Target = Literal["objects", "bucket", "queue", "secret", "email", "model", "own-queue"]


@dataclass(frozen=True)
class Statement:
    """IAM ``actions`` on one ``target``; ``name`` is the declared resource's (empty when the
    target is not named: the SES identity, the model)."""

    actions: tuple[str, ...]
    target: Target
    name: str = ""


#: What each level of bucket access allows on the bucket's objects (shared.documents,
#: shared.users.purge and shared.maintenance use no other object operation).
BUCKET_OBJECT_ACTIONS: dict[str, tuple[str, ...]] = {
    "read": ("s3:GetObject",),
    "write": ("s3:PutObject",),
    "read_write": ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"),
}
#: Listing lets a missing key answer 404 rather than 403; every bucket need has it.
BUCKET_ACTIONS = ("s3:ListBucket",)
#: ``IQueue.grant_send_messages``.
QUEUE_SEND_ACTIONS = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
#: ``ISecret.grant_read``.
SECRET_READ_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
#: ``EmailIdentity.grant_send_email``.
EMAIL_SEND_ACTIONS = ("ses:SendEmail", "ses:SendRawEmail")
#: The Bedrock statement of the ``embeddings`` need (with ``-c embedder=bedrock``).
BEDROCK_ACTIONS = ("bedrock:InvokeModel",)
#: What Lambda's SQS event source needs on a worker's own queue (CDK's ``SqsEventSource``).
QUEUE_CONSUME_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueUrl",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
)


#: The name of the secret holding the credentials of the database or of Redis, which no
#: declaration names (the data plane owns it); the local runner gives both by URL instead.
CREDENTIALS = "<credentials>"


def statements(access: Access) -> tuple[Statement, ...]:
    """The IAM statements one need earns (the vector store's collection access, granted by its
    data access policy, is not an IAM action the local runner could check: not here)."""
    match access.kind:
        case "bucket":
            return (
                Statement(BUCKET_OBJECT_ACTIONS[access.level], "objects", access.name),
                Statement(BUCKET_ACTIONS, "bucket", access.name),
            )
        case "queue":
            return (Statement(QUEUE_SEND_ACTIONS, "queue", access.name),)
        case "secret":
            return (Statement(SECRET_READ_ACTIONS, "secret", access.name),)
        case "database" | "cache":
            return (Statement(SECRET_READ_ACTIONS, "secret", CREDENTIALS),)
        case "email":
            return (Statement(EMAIL_SEND_ACTIONS, "email"),)
        case "embeddings":
            return (Statement(BEDROCK_ACTIONS, "model"),)
        case _:
            return ()


def trigger_statements(trigger: Trigger) -> tuple[Statement, ...]:
    """What a trigger earns besides the needs: a worker may consume its own queue."""
    if isinstance(trigger, QueueTrigger):
        return (Statement(QUEUE_CONSUME_ACTIONS, "own-queue", trigger.queue),)
    return ()


def need_hint(kind: str, name: str, level: str = "") -> str:
    """How a declaration spells the need that grants access to a ``kind`` resource."""
    match kind:
        case "objects" | "bucket":
            return f"bucket({name!r}, {level!r})" if level else f"bucket({name!r})"
        case "queue":
            return f"queue({name!r})"
        case "secret":
            return f"secret({name!r})"
        case "email":
            return "EMAIL"
        case "model":
            return "EMBEDDINGS"
    return kind


#: Variables every function gets for its cold start: pydantic looks for plugins (a scan of
#: every installed distribution's entry points at the first model, 20-30 ms) unless told that
#: there are none, and Stratus uses none.
RUNTIME_TUNING = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}


def base_environment(
    *, service: str, stage: str, version: str, metrics_namespace: str
) -> dict[str, str]:
    """The variables every function gets whatever it needs (the CDK app's ``environment``)."""
    return {
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
        "STAGE": stage,
        "APP_VERSION": version,
        **RUNTIME_TUNING,
    }
