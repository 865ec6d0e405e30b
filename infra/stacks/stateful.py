"""The stateful stack: what must outlive a bad deploy: buckets, secrets, the data plane
(network, Postgres behind RDS Proxy, Redis, the vector store) and the SES identity.
Termination protection is on."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from infra import context, outputs
from infra.components.access import DataPlane, SharedResources
from infra.components.backup import BackupPlan
from infra.components.data_plane import Network, Postgres, Redis
from infra.components.email import EmailSender
from infra.components.naming import pascal
from infra.components.recovery import Replication, RestoreTesting, recovery_vault_arn
from infra.components.storage import StratusBucket, StratusSecret
from infra.components.vectors import VectorStore
from infra.config import StageConfig
from shared.platform.declare import Bucket, Secret


class StatefulStack(cdk.Stack):
    """The declared buckets and secrets of one environment, and its data plane."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        stage: StageConfig,
        buckets: Sequence[Bucket],
        secrets: Sequence[Secret],
        needs: Collection[str] = ("database", "cache"),
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, termination_protection=True, **kwargs)
        self.buckets = {
            spec.name: StratusBucket(
                self,
                f"{pascal(spec.name)}Bucket",
                spec=spec,
                stage=stage,
                frontend_origin=context.frontend_origin(self),
            )
            for spec in buckets
        }
        self.secrets = {
            spec.name: StratusSecret(self, f"{pascal(spec.name)}Secret", spec=spec, stage=stage)
            for spec in secrets
        }
        # The VPC lives here, with the stores it exists for: their security group rules stay in
        # one stack, and termination protection covers the network as much as the data.
        network = Network(
            self,
            "Network",
            # The restore check reports to AWS Backup from the isolated subnets.
            extra_endpoints=(
                {"Backup": ec2.InterfaceVpcEndpointAwsService.BACKUP}
                if stage.restore_testing
                else None
            ),
        )
        # The vector store and the SES identity exist when a function needs them.
        database = Postgres(self, "Postgres", network=network, stage=stage)
        vectors = None
        if "vectors" in needs:
            vectors = VectorStore(self, "Vectors", network=network, stage=stage, database=database)
        self.data = DataPlane(
            network=network,
            database=database,
            cache=Redis(self, "Redis", network=network, stage=stage),
            vectors=vectors,
        )
        self.email = (
            EmailSender(
                self,
                "Email",
                sender=context.value(self, "email_sender"),
                domain=context.value(self, "email_domain"),
            )
            if "email" in needs
            else None
        )
        # The recovery region (prod): every bucket replicated there within 15 minutes.
        self.replication = (
            {
                name: Replication(
                    self, f"{pascal(name)}Replication", bucket=c.bucket, stage=stage, name=name
                )
                for name, c in self.buckets.items()
            }
            if stage.dr_region
            else {}
        )
        # Point-in-time recovery (30 days) and daily recovery points kept 30 days, of the
        # buckets and the database; the daily ones copied to the recovery region (prod).
        self.backup = BackupPlan(
            self,
            "Backup",
            stage=stage,
            copy_to=recovery_vault_arn(stage) if stage.dr_region else None,
        )
        self.backup.add_buckets([c.bucket for c in self.buckets.values()])
        self.backup.add_resources(
            [backup.BackupResource.from_rds_database_instance(self.data.database.instance)]
        )
        self.backup.select()
        if stage.restore_testing:
            self.data = replace(
                self.data,
                restore_testing=RestoreTesting(
                    self,
                    "RestoreTesting",
                    stage=stage,
                    network=network,
                    instance=self.data.database.instance,
                    vault=self.backup.vault,
                    role=self.backup.role,
                ),
            )

        self._operator_outputs()

    def _operator_outputs(self) -> None:
        """What the ops CLI (``python -m ops``) finds the stores by (``infra.outputs``)."""
        for name, c in self.buckets.items():
            cdk.CfnOutput(self, outputs.bucket_name(name), value=c.bucket.bucket_name)
        for name, s in self.secrets.items():
            cdk.CfnOutput(self, outputs.secret_arn(name), value=s.secret.secret_arn)
        database = self.data.database
        cdk.CfnOutput(self, outputs.DATABASE_INSTANCE, value=database.instance.instance_identifier)
        cdk.CfnOutput(self, outputs.DATABASE_SECRET, value=database.secret.secret_arn)
        cdk.CfnOutput(
            self, outputs.DATABASE_ENDPOINT, value=database.instance.db_instance_endpoint_address
        )
        if database.read_replica is not None:
            cdk.CfnOutput(
                self,
                outputs.DATABASE_READ_REPLICA,
                value=database.read_replica.instance_identifier,
            )
        cdk.CfnOutput(self, outputs.BACKUP_VAULT, value=self.backup.vault.backup_vault_name)
        cdk.CfnOutput(self, outputs.BACKUP_ROLE, value=self.backup.role.role_arn)

    @property
    def resources(self) -> SharedResources:
        """What the functions of other stacks may be granted."""
        return SharedResources(
            buckets={name: c.bucket for name, c in self.buckets.items()},
            secrets={name: c.secret for name, c in self.secrets.items()},
            data=self.data,
            email=self.email,
        )
