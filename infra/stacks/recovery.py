"""The recovery stack, in the stage's second region (``dr_region``): the replicas of the buckets
and the vault that receives copies of the backups. Deployed before the stateful stack, whose
replication and copy rules point at it; termination protection is on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from infra.components.naming import pascal
from infra.components.recovery import RecoveryVault, ReplicaBucket
from infra.config import StageConfig
from shared.platform.declare import Bucket


class RecoveryStack(cdk.Stack):
    """What a lost primary region leaves to recover from: files and backups, elsewhere."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        stage: StageConfig,
        buckets: Sequence[Bucket],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, termination_protection=True, **kwargs)
        self.replicas = {
            spec.name: ReplicaBucket(
                self, f"{pascal(spec.name)}Replica", stage=stage, bucket=spec.name
            )
            for spec in buckets
        }
        self.vault = RecoveryVault(self, "Vault", stage=stage)
