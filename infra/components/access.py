"""What a function's ``needs`` turn into: an environment variable and a ``grant_*`` each.

The variable names come from ``shared.platform.declare`` (``Access.aws_env``), the convention the
local runner and the settings share; a need naming a resource nobody declared fails the synth. A
function that needs Postgres or Redis gets the endpoint and the ARN of the secret holding the
credentials (never a password), and joins the VPC through :func:`placement`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

from functions.grants import BEDROCK_ACTIONS, BUCKET_ACTIONS, BUCKET_OBJECT_ACTIONS
from infra.components.data_plane import DATABASE_NAME, Network, Postgres, Redis
from infra.components.email import EmailSender
from infra.components.recovery import RestoreTesting
from infra.components.vectors import VectorStore
from infra.config import ConfigurationError, StageConfig
from shared.platform.declare import Access
from shared.platform.settings import TITAN_V2_MODEL_ID as BEDROCK_MODEL_ID

T = TypeVar("T")


@dataclass(frozen=True)
class DataPlane:
    """The network, Postgres (behind RDS Proxy) and Redis of the stateful stack."""

    network: Network
    database: Postgres
    cache: Redis
    vectors: VectorStore | None = None
    restore_testing: RestoreTesting | None = None


@dataclass(frozen=True)
class SharedResources:
    """The resources functions may need, by declared name."""

    buckets: Mapping[str, s3.IBucket] = field(default_factory=dict)
    secrets: Mapping[str, secretsmanager.ISecret] = field(default_factory=dict)
    queues: Mapping[str, sqs.IQueue] = field(default_factory=dict)
    data: DataPlane | None = None
    email: EmailSender | None = None

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


def _data_plane(resources: SharedResources, where: str) -> DataPlane:
    if resources.data is None:
        raise ConfigurationError(f"{where} needs Postgres or Redis, but no data plane was made")
    return resources.data


@dataclass(frozen=True)
class Placement:
    """Where a function runs: in the VPC, with the client security groups of what it needs."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_groups: list[ec2.ISecurityGroup]


def _vectors(resources: SharedResources, where: str) -> VectorStore:
    vectors = _data_plane(resources, where).vectors
    if vectors is None:
        raise ConfigurationError(f"{where} needs vectors, but no vector store was made")
    return vectors


def placement(needs: Sequence[Access], resources: SharedResources, where: str) -> Placement | None:
    """A function that needs Postgres, Redis or the vector store joins the VPC, in the security
    groups that the proxy, Redis and the store accept; any other function stays out of the VPC
    (None)."""
    kinds = {access.kind for access in needs}
    if not kinds & {"database", "cache", "vectors"}:
        return None
    data = _data_plane(resources, where)
    groups: list[ec2.ISecurityGroup] = []
    if "database" in kinds:
        groups.append(data.database.clients)
    if "cache" in kinds:
        groups.append(data.cache.clients)
    if "vectors" in kinds:
        groups.append(_vectors(resources, where).clients)
    return Placement(vpc=data.network.vpc, subnets=data.network.subnets, security_groups=groups)


def grant(
    function: lambda_.Function, access: Access, resources: SharedResources, stage: StageConfig
) -> None:
    """Give ``function`` the address of the resource ``access`` names and the access it asks."""
    where = function.node.path
    env = access.env
    values: dict[str, str]
    match access.kind:
        case "bucket":
            bucket = _lookup("bucket", access.name, resources.buckets, where)
            # Named actions, no wildcards (CDK's grant_read would give s3:GetObject* and s3:List*).
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=list(BUCKET_OBJECT_ACTIONS[access.level]),
                    resources=[bucket.arn_for_objects("*")],
                )
            )
            # Listing lets a missing key answer 404 rather than 403.
            function.add_to_role_policy(
                iam.PolicyStatement(actions=list(BUCKET_ACTIONS), resources=[bucket.bucket_arn])
            )
            value = bucket.bucket_name
        case "queue":
            queue = _lookup("the queue", access.name, resources.queues, where)
            queue.grant_send_messages(function)
            value = queue.queue_url
        case "secret":
            secret = _lookup("secret", access.name, resources.secrets, where)
            secret.grant_read(function)
            value = secret.secret_arn
        case "database":
            # The proxy's address and the credentials' secret, never the password itself.
            database = _data_plane(resources, where).database
            database.secret.grant_read(function)
            values = {
                "DATABASE_SECRET_ARN": database.secret.secret_arn,
                "DATABASE_HOST": database.proxy.endpoint,
                "DATABASE_NAME": DATABASE_NAME,
                "DATABASE_TLS": "true",
            }
            if database.read_replica is not None:  # lists and search read from it (optional)
                function.add_environment(
                    "DATABASE_READ_HOST", database.read_replica.db_instance_endpoint_address
                )
        case "cache":
            cache = _data_plane(resources, where).cache
            cache.secret.grant_read(function)
            values = {
                "REDIS_HOST": cache.host,
                "REDIS_PORT": cache.port,
                "REDIS_AUTH_SECRET_ARN": cache.secret.secret_arn,
            }
        case "vectors":
            # IAM here; the collection's data access policy, which names every such function's
            # role, is made once by the stack (VectorStore.add_data_access_policy).
            vectors = _vectors(resources, where)
            vectors.grant(function)
            values = vectors.environment()
        case "embeddings":
            values = {"EMBEDDER": stage.embedder, "BEDROCK_MODEL_ID": BEDROCK_MODEL_ID}
            if stage.embedder == "bedrock":
                stack = cdk.Stack.of(function)
                function.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=list(BEDROCK_ACTIONS),
                        resources=[
                            stack.format_arn(
                                service="bedrock",
                                account="",
                                resource="foundation-model",
                                resource_name=BEDROCK_MODEL_ID,
                            )
                        ],
                    )
                )
        case "email":
            if resources.email is None:
                raise ConfigurationError(f"{where} needs email, but no SES identity was made")
            resources.email.grant_send(function)
            values = {"EMAIL_SENDER": resources.email.sender}
        case _:
            raise ConfigurationError(f"{where}: unknown need {access.kind!r}")
    if access.kind in {"bucket", "queue", "secret"}:
        assert env is not None, access
        values = {env: value}
    assert tuple(values) == access.aws_env, (values, access.aws_env)
    for name, variable in values.items():
        function.add_environment(name, variable)
