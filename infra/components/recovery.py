"""Disaster recovery: the second region's copies, S3 replication into them, and the weekly
restore test of the database.

A stage with a ``dr_region`` (prod) keeps, in that region: a replica of every bucket (S3
Replication with Replication Time Control: 99.99 % of objects within 15 minutes) and a backup
vault that receives a copy of every daily recovery point (the database and the buckets). The
names are derived from the stage, so the primary region's stack can name them without a
cross-region reference.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.components.backup import RETENTION_DAYS
from infra.config import StageConfig


def replica_bucket_name(stage: StageConfig, bucket: str) -> str:
    """The name of ``bucket``'s replica in the recovery region (unique per account)."""
    return f"stratus-{stage.name}-{bucket}-replica-{cdk.Aws.ACCOUNT_ID}"


def recovery_vault_name(stage: StageConfig) -> str:
    return f"stratus-{stage.name}-recovery"


def recovery_vault_arn(stage: StageConfig) -> str:
    """The recovery region's vault, as the primary region's backup plan copies into it."""
    assert stage.dr_region is not None
    return (
        f"arn:{cdk.Aws.PARTITION}:backup:{stage.dr_region}:{cdk.Aws.ACCOUNT_ID}"
        f":backup-vault:{recovery_vault_name(stage)}"
    )


class ReplicaBucket(Construct):
    """The recovery region's copy of one bucket: versioned (replication needs it), private,
    TLS only, S3-managed encryption, old versions kept as long as the source keeps them. Never
    deleted with its stack: it is the copy of last resort."""

    def __init__(self, scope: Construct, id_: str, *, stage: StageConfig, bucket: str) -> None:
        super().__init__(scope, id_)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=replica_bucket_name(stage, bucket),
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="tidy", noncurrent_version_expiration=cdk.Duration.days(RETENTION_DAYS)
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )


class RecoveryVault(Construct):
    """The recovery region's backup vault (AWS Backup's own key in that region)."""

    def __init__(self, scope: Construct, id_: str, *, stage: StageConfig) -> None:
        super().__init__(scope, id_)
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=recovery_vault_name(stage),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )


class Replication(Construct):
    """S3 Replication of ``bucket`` into its replica in the recovery region: every new object
    version and delete marker, with Replication Time Control (15 minutes) and its metrics."""

    def __init__(
        self, scope: Construct, id_: str, *, bucket: s3.Bucket, stage: StageConfig, name: str
    ) -> None:
        super().__init__(scope, id_)
        destination = f"arn:{cdk.Aws.PARTITION}:s3:::{replica_bucket_name(stage, name)}"
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("s3.amazonaws.com"),
            description=f"Stratus {stage.name}: replicates the {name} bucket to {stage.dr_region}",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetReplicationConfiguration", "s3:ListBucket"],
                resources=[bucket.bucket_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObjectVersionForReplication",
                    "s3:GetObjectVersionAcl",
                    "s3:GetObjectVersionTagging",
                ],
                resources=[bucket.arn_for_objects("*")],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                resources=[f"{destination}/*"],
            )
        )
        fifteen_minutes = s3.CfnBucket.ReplicationTimeValueProperty(minutes=15)
        cfn = bucket.node.default_child
        assert isinstance(cfn, s3.CfnBucket)
        cfn.replication_configuration = s3.CfnBucket.ReplicationConfigurationProperty(
            role=self.role.role_arn,
            rules=[
                s3.CfnBucket.ReplicationRuleProperty(
                    id="recovery-region",
                    status="Enabled",
                    priority=1,
                    filter=s3.CfnBucket.ReplicationRuleFilterProperty(prefix=""),
                    delete_marker_replication=s3.CfnBucket.DeleteMarkerReplicationProperty(
                        status="Enabled"
                    ),
                    destination=s3.CfnBucket.ReplicationDestinationProperty(
                        bucket=destination,
                        replication_time=s3.CfnBucket.ReplicationTimeProperty(
                            status="Enabled", time=fifteen_minutes
                        ),
                        metrics=s3.CfnBucket.MetricsProperty(
                            status="Enabled", event_threshold=fifteen_minutes
                        ),
                    ),
                )
            ],
        )
