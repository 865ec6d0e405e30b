"""The data plane: an isolated network, Postgres behind RDS Proxy, and Redis.

Everything here lives in the stateful stack. Functions that need Postgres or Redis join the
network with the client security group of what they need (``access.grant``); every other
function stays out of the VPC.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.components.retention import LOG_RETENTION
from infra.config import PROXY_MAX_CONNECTIONS_PERCENT, StageConfig

POSTGRES_PORT = 5432
REDIS_PORT = 6379
DATABASE_NAME = "stratus"
DATABASE_USER = "stratus"
POSTGRES_VERSION = rds.PostgresEngineVersion.VER_17_9

#: The AWS APIs that functions inside the VPC call, reached through interface endpoints (there
#: is no NAT gateway). Logs and EMF metrics leave through the Lambda service, not the VPC.
INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    # the database credentials, the signing keys, the Redis AUTH token, and secret rotation
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    # producers that enqueue work (registration, password reset, user deletion, ...)
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
    # the notification worker sends mail through the SES API (``email``, not ``email-smtp``)
    "Email": ec2.InterfaceVpcEndpointAwsService.EMAIL,
    # search and ingest embed text with Bedrock
    "BedrockRuntime": ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME,
    # active tracing: the X-Ray daemon in the execution environment sends segments from the
    # function's network interface
    "XRay": ec2.InterfaceVpcEndpointAwsService.XRAY,
}

#: How long the VPC's flow log (rejected traffic only) is kept, in both environments.
FLOW_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS


def _removal_policy(stage: StageConfig) -> cdk.RemovalPolicy:
    return cdk.RemovalPolicy.RETAIN if stage.retain_data else cdk.RemovalPolicy.DESTROY


class Network(Construct):
    """A VPC over two AZs with isolated subnets only: no NAT gateway, no internet gateway.

    AWS APIs are reached through an S3 gateway endpoint (free) and the interface endpoints of
    :data:`INTERFACE_ENDPOINTS`. A flow log records the traffic the security groups reject."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        extra_endpoints: dict[str, ec2.InterfaceVpcEndpointAwsService] | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22
                )
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        # Rejected traffic only: what a misconfigured or probing client leaves, at a fraction
        # of the volume (and CloudWatch Logs ingestion cost) of every accepted flow.
        self.flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=FLOW_LOG_RETENTION,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.flow_log = self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        # Endpoints accept HTTPS from the whole VPC (the default ``open=True``).
        self.endpoints = {
            name: self.vpc.add_interface_endpoint(
                f"{name}Endpoint", service=service, subnets=self.subnets, private_dns_enabled=True
            )
            for name, service in {**INTERFACE_ENDPOINTS, **(extra_endpoints or {})}.items()
        }


class Postgres(Construct):
    """RDS PostgreSQL: KMS-encrypted, TLS enforced, 30 days of automated backups (point-in-time
    recovery), Multi-AZ and deletion protection where the stage says so, generated credentials
    rotated in Secrets Manager, and RDS Proxy (TLS required) in front for the functions."""

    def __init__(self, scope: Construct, id_: str, *, network: Network, stage: StageConfig) -> None:
        super().__init__(scope, id_)
        vpc, subnets = network.vpc, network.subnets
        engine = rds.DatabaseInstanceEngine.postgres(version=POSTGRES_VERSION)
        self.key = kms.Key(
            self,
            "Key",
            description=f"Stratus {stage.name}: database storage",
            enable_key_rotation=True,
            removal_policy=_removal_policy(stage),
        )
        self.security_group = ec2.SecurityGroup(
            self, "InstanceSecurityGroup", vpc=vpc, description="Postgres instance"
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            engine=engine,
            instance_type=ec2.InstanceType(stage.db_instance_type),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(
                DATABASE_USER, secret_name=f"stratus/{stage.name}/database"
            ),
            parameter_group=rds.ParameterGroup(
                self, "Parameters", engine=engine, parameters={"rds.force_ssl": "1"}
            ),
            storage_encrypted=True,
            storage_encryption_key=self.key,
            storage_type=rds.StorageType.GP3,
            allocated_storage=stage.db_allocated_storage_gb,
            max_allocated_storage=stage.db_max_allocated_storage_gb,
            multi_az=stage.db_multi_az,
            backup_retention=cdk.Duration.days(30),
            copy_tags_to_snapshot=True,
            deletion_protection=stage.retain_data,
            removal_policy=(
                cdk.RemovalPolicy.SNAPSHOT if stage.retain_data else cdk.RemovalPolicy.DESTROY
            ),
            auto_minor_version_upgrade=True,
            publicly_accessible=False,
            cloudwatch_logs_exports=["postgresql"],
            cloudwatch_logs_retention=LOG_RETENTION[stage.log_retention_days],
        )
        assert self.instance.secret is not None
        self.secret: secretsmanager.ISecret = self.instance.secret
        # The credentials outlive the stack in prod, like the final snapshot they open.
        self.instance.secret.apply_removal_policy(_removal_policy(stage))
        # Single-user rotation: the rotation function runs in the isolated subnets and reaches
        # Secrets Manager through the interface endpoint (no NAT gateway needed).
        self.instance.add_rotation_single_user(
            automatically_after=cdk.Duration.days(30),
            endpoint=network.endpoints["SecretsManager"],
            vpc_subnets=subnets,
        )

        self.proxy_security_group = ec2.SecurityGroup(
            self, "ProxySecurityGroup", vpc=vpc, description="RDS Proxy in front of Postgres"
        )
        self.proxy = self.instance.add_proxy(
            "Proxy",
            secrets=[self.secret],
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.proxy_security_group],
            require_tls=True,
            iam_auth=False,
            max_connections_percent=PROXY_MAX_CONNECTIONS_PERCENT,
        )
        self.security_group.add_ingress_rule(
            self.proxy_security_group, ec2.Port.tcp(POSTGRES_PORT), "from RDS Proxy"
        )
        # What a function joins to reach the proxy.
        self.clients = ec2.SecurityGroup(
            self, "ClientSecurityGroup", vpc=vpc, description="Functions that use Postgres"
        )
        self.proxy_security_group.add_ingress_rule(
            self.clients, ec2.Port.tcp(POSTGRES_PORT), "from the functions that need Postgres"
        )
        # A read replica (prod): the reads that tolerate lag (lists, search) go to it directly
        # (RDS Proxy has no read-only endpoint for an RDS PostgreSQL instance), with the
        # primary's credentials; promoting it is a runbook (docs/operations/runbooks/).
        self.read_replica: rds.DatabaseInstanceReadReplica | None = None
        if stage.db_read_replica:
            self.replica_security_group = ec2.SecurityGroup(
                self, "ReplicaSecurityGroup", vpc=vpc, description="Postgres read replica"
            )
            self.replica_security_group.add_ingress_rule(
                self.clients, ec2.Port.tcp(POSTGRES_PORT), "from the functions that need Postgres"
            )
            self.read_replica = rds.DatabaseInstanceReadReplica(
                self,
                "ReadReplica",
                source_database_instance=self.instance,
                instance_type=ec2.InstanceType(stage.db_instance_type),
                vpc=vpc,
                vpc_subnets=subnets,
                security_groups=[self.replica_security_group],
                parameter_group=rds.ParameterGroup(
                    self, "ReplicaParameters", engine=engine, parameters={"rds.force_ssl": "1"}
                ),
                # Encrypted as its source is, under the source's key (same region).
                storage_type=rds.StorageType.GP3,
                max_allocated_storage=stage.db_max_allocated_storage_gb,
                deletion_protection=stage.retain_data,
                removal_policy=cdk.RemovalPolicy.DESTROY,  # a copy: the primary holds the data
                auto_minor_version_upgrade=True,
                publicly_accessible=False,
                cloudwatch_logs_exports=["postgresql"],
                cloudwatch_logs_retention=LOG_RETENTION[stage.log_retention_days],
            )


class Redis(Construct):
    """ElastiCache for Redis: TLS and at-rest encryption, an AUTH token generated into Secrets
    Manager, and with two nodes or more a replica with automatic failover across AZs."""

    def __init__(self, scope: Construct, id_: str, *, network: Network, stage: StageConfig) -> None:
        super().__init__(scope, id_)
        vpc = network.vpc
        # The AUTH token: 16-128 printable characters without @, " or /; letters and digits.
        self.secret = secretsmanager.Secret(
            self,
            "AuthToken",
            secret_name=f"stratus/{stage.name}/redis-auth",
            description="Redis AUTH token",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64
            ),
            removal_policy=_removal_policy(stage),
        )
        self.security_group = ec2.SecurityGroup(self, "SecurityGroup", vpc=vpc, description="Redis")
        self.clients = ec2.SecurityGroup(
            self, "ClientSecurityGroup", vpc=vpc, description="Functions that use Redis"
        )
        self.security_group.add_ingress_rule(
            self.clients, ec2.Port.tcp(REDIS_PORT), "from the functions that need Redis"
        )
        subnet_group = elasticache.CfnSubnetGroup(
            self,
            "Subnets",
            description=f"Stratus {stage.name} Redis",
            subnet_ids=[s.subnet_id for s in vpc.isolated_subnets],
        )
        replicated = stage.cache_nodes > 1
        self.replication_group = elasticache.CfnReplicationGroup(
            self,
            "ReplicationGroup",
            replication_group_description=f"Stratus {stage.name} Redis",
            engine="redis",
            engine_version="7.1",
            cache_node_type=stage.cache_node_type,
            num_cache_clusters=stage.cache_nodes,
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[self.security_group.security_group_id],
            port=REDIS_PORT,
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            # A dynamic reference: CloudFormation resolves it, the template never holds the token.
            auth_token=self.secret.secret_value.unsafe_unwrap(),
            auto_minor_version_upgrade=True,
        )
        self.replication_group.apply_removal_policy(
            cdk.RemovalPolicy.SNAPSHOT if stage.retain_data else cdk.RemovalPolicy.DESTROY
        )
        self.host = self.replication_group.attr_primary_end_point_address
        self.port = self.replication_group.attr_primary_end_point_port
