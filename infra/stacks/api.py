"""The API stack: every declared function, wired to its trigger (route, queue or schedule)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from aws_cdk import triggers
from constructs import Construct

from functions.registry import Entry, Registry
from infra import context, outputs
from infra.components.access import SharedResources
from infra.components.api import StratusApi
from infra.components.function import (
    DependencyLayer,
    EmbedderLayer,
    PackageLayerConstruct,
    StratusFunction,
)
from infra.components.monitoring import Monitoring
from infra.components.naming import pascal
from infra.components.restore_check import RestoreCheck
from infra.components.schedule import Schedule
from infra.components.site import Site
from infra.components.waf import ApiFirewall
from infra.components.worker_queue import WorkerQueue
from infra.config import (
    EMBEDDER_LAYER_NAME,
    PACKAGE_LAYERS,
    ConfigurationError,
    StageConfig,
    worker_connection_budget,
)
from infra.imports import packages_reached
from shared.platform.settings import Database

#: Connections one execution environment holds (shared.platform.db's pool; DATABASE_POOL_SIZE
#: unset).
DATABASE_POOL_SIZE = Database.model_fields["database_pool_size"].default
#: Services whose functions and queues live in a nested stack of their own: CloudFormation
#: allows 500 resources per stack, and the API stack of prod holds over 400 without them
#: (tests/infra/test_stack_limits.py checks every stack).
NESTED_SERVICES = ("webhooks",)
#: The scheduled job that relays the outbox (shared/platform/outbox.py): its metrics get alarms.
OUTBOX_RELAY = "system-outbox-relay"


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
        # The static model only where text is embedded, and only when the stage uses it.
        embedder_layers: tuple[Any, ...] = ()
        if stage.embedder == "static":
            embedder = EmbedderLayer(
                self, "Embedder", directory=layer_dir.parent / EMBEDDER_LAYER_NAME
            )
            embedder_layers = (embedder.layer,)
        # A package only some functions import, in its own layer: for those functions alone.
        package_layers: dict[str, list[Any]] = {entry.name: [] for entry in registry}
        for package in PACKAGE_LAYERS:
            users = [e for e in registry if package.module in packages_reached(e.folder)]
            if users:
                made = PackageLayerConstruct(
                    self,
                    pascal(package.name),
                    layer=package,
                    directory=layer_dir.parent / package.name,
                )
                for entry in users:
                    package_layers[entry.name].append(made.layer)

        # A nested stack per service of NESTED_SERVICES that has functions; CDK passes what
        # crosses the boundary (the layer, queue URLs, the API's ARN) as parameters and outputs.
        self.service_stacks: dict[str, cdk.NestedStack] = {
            service: cdk.NestedStack(
                self, pascal(service), description=f"Stratus {stage.name}: the {service} service"
            )
            for service in NESTED_SERVICES
            if any(entry.service == service for entry in registry)
        }

        def scope_of(entry: Entry) -> Construct:
            return self.service_stacks.get(entry.service, self)

        # Queues first: producers get their URL when their function is made.
        queues = {
            trigger.queue: WorkerQueue(
                scope_of(entry),
                f"{pascal(trigger.queue)}Queue",
                trigger=trigger,
                function_timeout_seconds=entry.function.timeout_seconds,
            )
            for entry, trigger in registry.queues
        }
        resources = resources.with_queues({name: q.queue for name, q in queues.items()})
        _check_connection_budget(registry, stage)

        functions = {
            entry.name: StratusFunction(
                scope_of(entry),
                f"{pascal(entry.name)}Function",
                entry=entry,
                stage=stage,
                layer=layer.layer,
                resources=resources,
                extra_layers=(
                    *package_layers[entry.name],
                    *(embedder_layers if "embeddings" in entry.function.need_kinds else ()),
                ),
            )
            for entry in registry
        }

        # The frontend's origin: the functions' own CORS headers.
        frontend_origin = context.frontend_origin(self)
        if frontend_origin:
            for f in functions.values():
                if f.entry.kind == "http":
                    f.function.add_environment("FRONTEND_ORIGIN", frontend_origin)

        if registry.routes:
            authorizer = None
            if registry.authorizers:
                authorizer_entry, authorizer_trigger = registry.authorizers[0]
                authorizer = (functions[authorizer_entry.name].invocable, authorizer_trigger)
            self.api: StratusApi | None = StratusApi(
                self,
                "Api",
                stage=stage,
                authorizer=authorizer,
                frontend_origin=frontend_origin,
            )
            for entry, route in registry.routes:
                self.api.add_route(route, functions[entry.name].invocable)
            if not frontend_origin:  # no web app's origin: emails link to the API itself
                for f in functions.values():
                    if "email" in f.entry.function.need_kinds:
                        f.function.add_environment("APP_URL", self.api.base_url)
            cdk.CfnOutput(self, "ApiUrl", value=self.api.url, description="The API's base URL")
            # The web app and the API on one CloudFront origin (infra/components/site.py).
            self.site: Site | None = Site(
                self,
                "Site",
                stage=stage,
                rest_api=self.api.rest_api,
                routes=[route for _, route in registry.routes],
                site_dir=context.site_dir(self),
                buckets=list(resources.buckets.values()),
                bucket_cors=frontend_origin is None,
            )
            if stage.waf_enabled:
                self.firewall: ApiFirewall | None = ApiFirewall(
                    self, "Firewall", stage=stage, api_stage=self.api.rest_api.deployment_stage
                )
            else:
                self.firewall = None
        else:
            self.api = None
            self.firewall = None
            self.site = None

        # The links in emails lead to the web app: the frontend's own origin when one is given
        # (a custom domain), else the distribution's.
        app_url = frontend_origin or (self.site.url if self.site is not None else None)
        if app_url:
            for f in functions.values():
                if "email" in f.entry.function.need_kinds:
                    f.function.add_environment("APP_URL", app_url)

        # A bucket of the stateful stack is referenced here by attributes: its notifications then
        # live in this stack, next to the queues, instead of making the two stacks depend on
        # each other. One reference per bucket, so one resource manages its notifications.
        notifying: dict[str, s3.IBucket] = {}
        for entry, trigger in registry.queues:
            queue = queues[trigger.queue]
            queue.feed(functions[entry.name].invocable)
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

        # Prod: the weekly restore test of the database is validated by a function of this stack.
        if resources.data is not None and resources.data.restore_testing is not None:
            self.restore_check: RestoreCheck | None = RestoreCheck(
                self, "RestoreCheck", stage=stage, data=resources.data, layer=layer.layer
            )
        else:
            self.restore_check = None

        for entry, schedule in registry.schedules:
            Schedule(
                self,
                f"{pascal(entry.name)}Schedule",
                trigger=schedule,
                function=functions[entry.name].invocable,
            )
        # The collection's data access policy names the role of every function that needs vectors.
        if resources.data is not None and resources.data.vectors is not None:
            resources.data.vectors.add_data_access_policy(
                self,
                [
                    f.function
                    for f in functions.values()
                    if "vectors" in f.entry.function.need_kinds
                ],
            )

        # Deploy jobs (the migrations) run before any other function of this deploy, and before
        # the API stage, so no code meets a database older than it expects.
        self.deploy_triggers = []
        for entry, _ in registry.deploy_jobs:
            job = functions[entry.name].function
            before: list[Construct] = [
                f.function for name, f in functions.items() if name != entry.name
            ]
            if self.api is not None:
                before.append(self.api.rest_api.deployment_stage)
            self.deploy_triggers.append(
                triggers.Trigger(
                    self,
                    f"{pascal(entry.name)}Trigger",
                    handler=job,
                    timeout=job.timeout,
                    invocation_type=triggers.InvocationType.REQUEST_RESPONSE,
                    execute_before=before,
                    execute_on_handler_change=True,
                )
            )
        self.functions = functions
        self.queues = queues
        self._operator_outputs()
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            stage=stage,
            rest_api=self.api.rest_api if self.api else None,
            functions={name: f.function for name, f in functions.items()},
            dead_letter_queues={name: q.dead_letter_queue for name, q in queues.items()},
            data=resources.data,
            alarm_email=context.value(self, "alarm_email"),
        )
        relay = functions.get(OUTBOX_RELAY)
        if relay is not None:
            self.monitoring.outbox(service=relay.entry.service)
        if registry.routes:
            self.monitoring.business(http_services={entry.service for entry, _ in registry.routes})

    def _operator_outputs(self) -> None:
        """What the ops CLI (``python -m ops``) finds the queues and functions by
        (``infra.outputs``): no operator types a physical name."""
        for name, queue in self.queues.items():
            cdk.CfnOutput(self, outputs.queue_url(name), value=queue.queue.queue_url)
            cdk.CfnOutput(
                self, outputs.dead_letter_url(name), value=queue.dead_letter_queue.queue_url
            )
        for name, f in self.functions.items():
            cdk.CfnOutput(self, outputs.function_name(name), value=f.function.function_name)


def _check_connection_budget(registry: Registry, stage: StageConfig) -> None:
    """The queue workers that use Postgres, all at their maximum concurrency, must fit in
    their share of the connections (infra.config.worker_connection_budget)."""
    held = sum(
        trigger.max_concurrency * DATABASE_POOL_SIZE
        for entry, trigger in registry.queues
        if "database" in entry.function.need_kinds
    )
    budget = worker_connection_budget(stage)
    if held > budget:
        raise ConfigurationError(
            f"the queue workers may hold {held} database connections at once, over the"
            f" {stage.name} budget of {budget}: lower their max_concurrency"
        )
