"""Alarms to an SNS topic, and a dashboard: the API's 5XX rate and p99 latency, every function's
errors and throttles, any message in a dead-letter queue, the outbox's stuck effects and
backlog, the database's CPU and connections, Redis memory."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.components.access import DataPlane
from infra.components.naming import pascal
from infra.config import StageConfig, metrics_namespace

PERIOD = cdk.Duration.minutes(5)
#: Alarm thresholds: 5XX responses as a share of requests (percent), p99 latency (milliseconds).
API_5XX_RATE_PERCENT = 1
API_P99_LATENCY_MS = 3000
DATABASE_CPU_PERCENT = 80
REDIS_MEMORY_PERCENT = 80
#: The outbox (shared/platform/outbox.py): alarm when its oldest pending effect is this old.
OUTBOX_BACKLOG_AGE_SECONDS = 15 * 60
#: The business metrics that page (shared/platform/observability.py), per 5 minutes: a spike of
#: refused sign-ins (credential stuffing), documents failing to ingest, a slow search, and
#: callers throttled by the per-caller limit (a load spike or an abusive client).
FAILED_LOGINS_PER_PERIOD = 100
INGEST_FAILURES_PER_PERIOD = 10
SEARCH_P99_MS = 2000
RATE_LIMITED_PER_PERIOD = 500


class Monitoring(Construct):
    """The alarm topic (KMS-encrypted, TLS-only publishing, an optional email subscription),
    the alarms, and one dashboard. Alarms treat missing data as not breaching: an idle
    environment is a healthy one."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        stage: StageConfig,
        rest_api: apigateway.RestApi | None,
        functions: Mapping[str, lambda_.Function],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        data: DataPlane | None = None,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.stage = stage.name
        # A customer managed key: CloudWatch cannot publish to a topic under the AWS managed
        # aws/sns key, whose policy cannot be changed to let the service use it.
        self.key = kms.Key(
            self,
            "TopicKey",
            description=f"Stratus {stage.name}: the alarm topic",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"Stratus {stage.name} alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self._action = cloudwatch_actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=f"stratus-{stage.name}"
        )

        if rest_api is not None:
            self._api(rest_api)
        for name, function in functions.items():
            self._function(name, function)
        for name, queue in dead_letter_queues.items():
            self._dead_letters(name, queue)
        if data is not None:
            self._data(data, stage=stage)

    def alarm(
        self,
        id_: str,
        *,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        operator: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        ),
    ) -> cloudwatch.Alarm:
        """An alarm on one evaluation period that notifies the topic, and its recovery too."""
        alarm = cloudwatch.Alarm(
            self,
            id_,
            metric=metric,
            threshold=threshold,
            comparison_operator=operator,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)
        return alarm

    def _api(self, rest_api: apigateway.RestApi) -> None:
        errors = rest_api.metric_server_error(period=PERIOD, statistic="Sum")
        requests = rest_api.metric_count(period=PERIOD, statistic="Sum")
        error_rate = cloudwatch.MathExpression(
            expression="IF(requests > 0, 100 * errors / requests, 0)",
            using_metrics={"errors": errors, "requests": requests},
            period=PERIOD,
            label="5XX rate (%)",
        )
        latency = rest_api.metric_latency(period=PERIOD, statistic="p99")
        self.alarm(
            "Api5xxRate",
            metric=error_rate,
            threshold=API_5XX_RATE_PERCENT,
            description=f"API 5XX responses above {API_5XX_RATE_PERCENT} % over 5 minutes",
        )
        self.alarm(
            "ApiP99Latency",
            metric=latency,
            threshold=API_P99_LATENCY_MS,
            description=f"API p99 latency above {API_P99_LATENCY_MS} ms over 5 minutes",
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="API requests and 5XX", left=[requests, errors], width=8),
            cloudwatch.GraphWidget(title="API 5XX rate (%)", left=[error_rate], width=8),
            cloudwatch.GraphWidget(title="API p99 latency (ms)", left=[latency], width=8),
        )

    def _function(self, name: str, function: lambda_.Function) -> None:
        errors = function.metric_errors(period=PERIOD, statistic="Sum")
        throttles = function.metric_throttles(period=PERIOD, statistic="Sum")
        self.alarm(
            f"{pascal(name)}Errors",
            metric=errors,
            threshold=0,
            description=f"{name}: at least one invocation failed",
        )
        self.alarm(
            f"{pascal(name)}Throttles",
            metric=throttles,
            threshold=0,
            description=f"{name}: at least one invocation was throttled",
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title=f"{name}: invocations, errors, throttles",
                left=[
                    function.metric_invocations(period=PERIOD, statistic="Sum"),
                    errors,
                    throttles,
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title=f"{name}: duration p99 (ms)",
                left=[function.metric_duration(period=PERIOD, statistic="p99")],
                width=12,
            ),
        )

    def _dead_letters(self, name: str, queue: sqs.IQueue) -> None:
        visible = queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        )
        self.alarm(
            f"{pascal(name)}DeadLetters",
            metric=visible,
            threshold=1,
            operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            description=f"queue {name}: a message reached the dead-letter queue",
        )
        self.dashboard.add_widgets(
            cloudwatch.SingleValueWidget(title=f"{name}: dead letters", metrics=[visible], width=6)
        )

    def outbox(self, *, service: str) -> None:
        """Alarms on the outbox relay's metrics (emitted by every run, under the relay's
        ``service`` dimension): an effect that keeps failing, or a backlog growing old."""

        def metric(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=metrics_namespace(self.stage),
                metric_name=name,
                dimensions_map={"service": service},
                period=PERIOD,
                statistic="Maximum",
            )

        stuck, age = metric("OutboxStuck"), metric("OutboxOldestPendingAge")
        self.alarm(
            "OutboxStuck",
            metric=stuck,
            threshold=1,
            operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            description="outbox: an effect keeps failing (kept, retried hourly): see the relay log",
        )
        self.alarm(
            "OutboxBacklogAge",
            metric=age,
            threshold=OUTBOX_BACKLOG_AGE_SECONDS,
            description=f"outbox: an effect waits for over {OUTBOX_BACKLOG_AGE_SECONDS // 60} min",
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="outbox: pending, stuck",
                left=[metric("OutboxPending"), stuck],
                width=12,
            ),
            cloudwatch.GraphWidget(title="outbox: oldest pending (s)", left=[age], width=12),
        )

    def business(self, *, http_services: Collection[str]) -> None:
        """Alarms and a dashboard row on the business metrics (EMF, namespace
        ``Stratus/<stage>``, dimension ``service``: Powertools adds the function's service)."""

        def metric(name: str, service: str, statistic: str = "Sum") -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=metrics_namespace(self.stage),
                metric_name=name,
                dimensions_map={"service": service},
                period=PERIOD,
                statistic=statistic,
            )

        failed_logins = metric("FailedLogins", "auth")
        self.alarm(
            "FailedLoginsSpike",
            metric=failed_logins,
            threshold=FAILED_LOGINS_PER_PERIOD,
            description=f"over {FAILED_LOGINS_PER_PERIOD} refused sign-ins in 5 minutes",
        )
        ingest_failures = metric("IngestFailures", "documents")
        self.alarm(
            "IngestFailures",
            metric=ingest_failures,
            threshold=INGEST_FAILURES_PER_PERIOD,
            description=f"over {INGEST_FAILURES_PER_PERIOD} documents failed to ingest in 5 min",
        )
        search = metric("SearchLatency", "documents", "p99")
        self.alarm(
            "SearchLatencyP99",
            metric=search,
            threshold=SEARCH_P99_MS,
            description=f"search p99 latency above {SEARCH_P99_MS} ms over 5 minutes",
        )
        throttled = []
        for service in sorted(http_services):
            limited = metric("RateLimited", service)
            throttled.append(limited)
            self.alarm(
                f"RateLimited{pascal(service)}",
                metric=limited,
                threshold=RATE_LIMITED_PER_PERIOD,
                description=f"{service}: over {RATE_LIMITED_PER_PERIOD} requests refused with 429"
                " in 5 minutes",
            )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="accounts: sign-ups, logins, failed logins",
                left=[metric("SignUps", "auth"), metric("Logins", "auth"), failed_logins],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="documents: ingested, failed; notifications sent",
                left=[
                    metric("DocumentsIngested", "documents"),
                    ingest_failures,
                    metric("NotificationsSent", "notifications"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="ingest duration, search latency (p99, ms)",
                left=[metric("IngestDuration", "documents", "p99"), search],
                width=8,
            ),
            cloudwatch.GraphWidget(title="rate-limited requests", left=throttled, width=12),
        )

    def _data(self, data: DataPlane, *, stage: StageConfig) -> None:
        instance = data.database.instance
        cpu = instance.metric_cpu_utilization(period=PERIOD, statistic="Average")
        connections = instance.metric_database_connections(period=PERIOD, statistic="Maximum")
        self.alarm(
            "DatabaseCpu",
            metric=cpu,
            threshold=DATABASE_CPU_PERCENT,
            description=f"Postgres CPU above {DATABASE_CPU_PERCENT} % over 5 minutes",
        )
        self.alarm(
            "DatabaseConnections",
            metric=connections,
            threshold=stage.db_connections_alarm,
            description=f"Postgres connections above {stage.db_connections_alarm}",
        )
        # One metric per node: a replication group's members are <group id>-001, -002, ...
        group_id = data.cache.replication_group.ref
        memory = [
            cloudwatch.Metric(
                namespace="AWS/ElastiCache",
                metric_name="DatabaseMemoryUsagePercentage",
                dimensions_map={"CacheClusterId": f"{group_id}-{node:03d}"},
                period=PERIOD,
                statistic="Maximum",
            )
            for node in range(1, stage.cache_nodes + 1)
        ]
        for node, metric in enumerate(memory, start=1):
            self.alarm(
                f"RedisMemory{node:03d}",
                metric=metric,
                threshold=REDIS_MEMORY_PERCENT,
                description=f"Redis node {node:03d}: memory above {REDIS_MEMORY_PERCENT} %",
            )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Postgres CPU (%)", left=[cpu], width=8),
            cloudwatch.GraphWidget(title="Postgres connections", left=[connections], width=8),
            cloudwatch.GraphWidget(title="Redis memory (%)", left=memory, width=8),
        )
