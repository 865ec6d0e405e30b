"""The stateful stack: what must outlive a bad deploy (buckets and secrets for now; the
database, cache and vector collection join it later). Termination protection is on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from infra.components.access import SharedResources
from infra.components.naming import pascal
from infra.components.storage import StratusBucket, StratusSecret
from infra.config import StageConfig
from shared.declare import Bucket, Secret


class StatefulStack(cdk.Stack):
    """The declared buckets and secrets of one environment."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        stage: StageConfig,
        buckets: Sequence[Bucket],
        secrets: Sequence[Secret],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, termination_protection=True, **kwargs)
        self.buckets = {
            spec.name: StratusBucket(self, f"{pascal(spec.name)}Bucket", spec=spec, stage=stage)
            for spec in buckets
        }
        self.secrets = {
            spec.name: StratusSecret(self, f"{pascal(spec.name)}Secret", spec=spec, stage=stage)
            for spec in secrets
        }

    @property
    def resources(self) -> SharedResources:
        """What the functions of other stacks may be granted."""
        return SharedResources(
            buckets={name: c.bucket for name, c in self.buckets.items()},
            secrets={name: c.secret for name, c in self.secrets.items()},
        )
