"""What a function's ``needs`` turn into: an environment variable and a ``grant_*`` each.

The variable names come from ``shared.declare.env_name``, the convention the local runner uses
too; a need naming a resource nobody declared fails the synth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

from infra.config import ConfigurationError
from shared.declare import Access

T = TypeVar("T")


@dataclass(frozen=True)
class SharedResources:
    """The resources functions may need, by declared name."""

    buckets: Mapping[str, s3.IBucket] = field(default_factory=dict)
    secrets: Mapping[str, secretsmanager.ISecret] = field(default_factory=dict)
    queues: Mapping[str, sqs.IQueue] = field(default_factory=dict)

    def with_queues(self, queues: Mapping[str, sqs.IQueue]) -> SharedResources:
        return replace(self, queues={**self.queues, **queues})


def _lookup(kind: str, name: str, found: Mapping[str, T], where: str) -> T:
    try:
        return found[name]
    except KeyError:
        known = ", ".join(sorted(found)) or "none"
        raise ConfigurationError(
            f"{where} needs {kind} {name!r}, which is not declared (declared: {known})"
        ) from None


def grant(function: lambda_.Function, access: Access, resources: SharedResources) -> None:
    """Give ``function`` the address of the resource ``access`` names and the access it asks."""
    where = function.node.path
    env = access.env
    match access.kind:
        case "bucket":
            bucket = _lookup("bucket", access.name, resources.buckets, where)
            {
                "read": bucket.grant_read,
                "write": bucket.grant_write,
                "read_write": bucket.grant_read_write,
            }[access.level](function)
            value = bucket.bucket_name
        case "queue":
            queue = _lookup("the queue", access.name, resources.queues, where)
            queue.grant_send_messages(function)
            value = queue.queue_url
        case "secret":
            secret = _lookup("secret", access.name, resources.secrets, where)
            secret.grant_read(function)
            value = secret.secret_arn
        case _:
            # Database, cache, email and vectors arrive with the production-infrastructure work.
            cdk.Annotations.of(function).add_warning_v2(
                "stratus:access-not-provisioned",
                f"needs {access.kind}, which this app does not provision yet: no grant made",
            )
            return
    assert env is not None, access
    function.add_environment(env, value)
