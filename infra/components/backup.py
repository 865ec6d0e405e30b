"""AWS Backup: a vault and a plan: continuous backups (point-in-time recovery, 30 days) and a
daily recovery point kept 30 days, copied to the recovery region's vault where there is one."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import ConfigurationError, StageConfig

RETENTION_DAYS = 30

#: What the service role needs: AWS Backup's own policies for backups and restores, plus the
#: S3 ones, which the general policies leave out.
_MANAGED_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Backup",
    "AWSBackupServiceRolePolicyForS3Restore",
)


class BackupPlan(Construct):
    """A KMS-encrypted vault and two rules. ``continuous``: point-in-time recovery of the
    database and the buckets to any second of the last 30 days (RDS and S3 continuous backups:
    a recovery point objective of minutes). ``daily`` at 03:00 UTC: a snapshot kept 30 days,
    and, when ``copy_to`` names the recovery region's vault, a copy there kept as long.

    ``add`` selects resources; a bucket must be versioned, or AWS Backup refuses it."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        stage: StageConfig,
        copy_to: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        removal = cdk.RemovalPolicy.RETAIN if stage.retain_data else cdk.RemovalPolicy.DESTROY
        self.key = kms.Key(
            self,
            "VaultKey",
            description=f"Stratus {stage.name}: the backup vault",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=f"stratus-{stage.name}",
            encryption_key=self.key,
            # A vault that still holds recovery points cannot be deleted in any case.
            removal_policy=removal,
        )
        self.plan = backup.BackupPlan(
            self,
            "Plan",
            backup_plan_name=f"stratus-{stage.name}",
            backup_vault=self.vault,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name="continuous",
                    enable_continuous_backup=True,
                    schedule_expression=events.Schedule.cron(minute="0"),
                    start_window=cdk.Duration.hours(1),
                    delete_after=cdk.Duration.days(RETENTION_DAYS),
                ),
                backup.BackupPlanRule(
                    rule_name="daily",
                    schedule_expression=events.Schedule.cron(minute="0", hour="3"),
                    start_window=cdk.Duration.hours(1),
                    completion_window=cdk.Duration.hours(8),
                    delete_after=cdk.Duration.days(RETENTION_DAYS),
                    copy_actions=(
                        [
                            backup.BackupPlanCopyActionProps(
                                destination_backup_vault=backup.BackupVault.from_backup_vault_arn(
                                    self, "RecoveryVault", copy_to
                                ),
                                delete_after=cdk.Duration.days(RETENTION_DAYS),
                            )
                        ]
                        if copy_to
                        else None
                    ),
                ),
            ],
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(name) for name in _MANAGED_POLICIES
            ],
        )
        # The role backs up and restores through the vault's key: named actions (CDK's
        # grant_encrypt_decrypt would give kms:GenerateDataKey* and kms:ReEncrypt*).
        self.key.grant(
            self.role,
            "kms:Decrypt",
            "kms:Encrypt",
            "kms:GenerateDataKey",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
        )
        self.resources: list[backup.BackupResource] = []

    def add_buckets(self, buckets: Sequence[s3.Bucket]) -> None:
        """Back up ``buckets`` (each must be versioned)."""
        for bucket in buckets:
            cfn = bucket.node.default_child
            versioning = getattr(cfn, "versioning_configuration", None)
            status = getattr(versioning, "status", None)
            if status != "Enabled":
                raise ConfigurationError(f"{bucket.node.path}: AWS Backup needs a versioned bucket")
            self.resources.append(backup.BackupResource.from_arn(bucket.bucket_arn))

    def add_resources(self, resources: Sequence[backup.BackupResource]) -> None:
        """Back up ``resources`` as well (a database, for instance)."""
        self.resources.extend(resources)

    def select(self) -> None:
        """Create the plan's selection of everything added (call once, after the adds)."""
        if self.resources:
            self.plan.add_selection(
                "Selection",
                resources=self.resources,
                role=self.role,
                backup_selection_name="stratus",
            )
