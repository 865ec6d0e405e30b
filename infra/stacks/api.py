"""The API stack: every declared function, wired to its trigger (route, queue or schedule)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.registry import Registry
from infra.components.access import SharedResources
from infra.components.api import StratusApi
from infra.components.function import DependencyLayer, StratusFunction
from infra.components.monitoring import Monitoring
from infra.components.naming import pascal
from infra.components.schedule import Schedule
from infra.components.waf import ApiFirewall
from infra.components.worker_queue import WorkerQueue
from infra.config import ConfigurationError, StageConfig


class ApiStack(cdk.Stack):
    """The functions of ``registry`` with their REST API, queues and schedules."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        registry: Registry,
        stage: StageConfig,
        layer_dir: Path,
        resources: SharedResources,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        layer = DependencyLayer(self, "Dependencies", directory=layer_dir)

        # Queues first: producers get their URL when their function is made.
        queues = {
            trigger.queue: WorkerQueue(
                self,
                f"{pascal(trigger.queue)}Queue",
                trigger=trigger,
                function_timeout_seconds=entry.function.timeout_seconds,
            )
            for entry, trigger in registry.queues
        }
        resources = resources.with_queues({name: q.queue for name, q in queues.items()})

        functions = {
            entry.name: StratusFunction(
                self,
                f"{pascal(entry.name)}Function",
                entry=entry,
                stage=stage,
                layer=layer.layer,
                resources=resources,
            )
            for entry in registry
        }

        if registry.routes:
            authorizer = None
            if registry.authorizers:
                authorizer_entry, authorizer_trigger = registry.authorizers[0]
                authorizer = (functions[authorizer_entry.name].function, authorizer_trigger)
            self.api: StratusApi | None = StratusApi(
                self,
                "Api",
                stage=stage,
                authorizer=authorizer,
                frontend_origin=_context(self, "frontend_origin"),
            )
            for entry, route in registry.routes:
                self.api.add_route(route, functions[entry.name].function)
            cdk.CfnOutput(self, "ApiUrl", value=self.api.url, description="The API's base URL")
            if stage.waf_enabled:
                self.firewall: ApiFirewall | None = ApiFirewall(
                    self, "Firewall", stage=stage, api_stage=self.api.rest_api.deployment_stage
                )
            else:
                self.firewall = None
        else:
            self.api = None
            self.firewall = None

        # A bucket of the stateful stack is referenced here by attributes: its notifications then
        # live in this stack, next to the queues, instead of making the two stacks depend on
        # each other. One reference per bucket, so one resource manages its notifications.
        notifying: dict[str, s3.IBucket] = {}
        for entry, trigger in registry.queues:
            queue = queues[trigger.queue]
            queue.feed(functions[entry.name].function)
            if trigger.s3_bucket is not None:
                if trigger.s3_bucket not in notifying:
                    owned = resources.buckets.get(trigger.s3_bucket)
                    if owned is None:
                        raise ConfigurationError(
                            f"{entry.name}: queue {trigger.queue!r} listens to bucket"
                            f" {trigger.s3_bucket!r}, which is not declared"
                        )
                    notifying[trigger.s3_bucket] = s3.Bucket.from_bucket_attributes(
                        self,
                        f"{pascal(trigger.s3_bucket)}BucketEvents",
                        bucket_arn=owned.bucket_arn,
                        bucket_name=owned.bucket_name,
                    )
                queue.receive_object_created(notifying[trigger.s3_bucket])

        for entry, schedule in registry.schedules:
            Schedule(
                self,
                f"{pascal(entry.name)}Schedule",
                trigger=schedule,
                function=functions[entry.name].function,
            )
        self.functions = functions
        self.queues = queues
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            stage=stage,
            rest_api=self.api.rest_api if self.api else None,
            functions={name: f.function for name, f in functions.items()},
            dead_letter_queues={name: q.dead_letter_queue for name, q in queues.items()},
            data=resources.data,
            alarm_email=_context(self, "alarm_email"),
        )


def _context(scope: Construct, key: str) -> str | None:
    """A string from the app's context (``-c key=value``), None when unset or empty."""
    value = scope.node.try_get_context(key)
    return str(value) if value else None
