"""A scheduled job: an EventBridge rule invoking its function."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from shared.platform.declare import ScheduleTrigger


class Schedule(Construct):
    """Invoke ``function`` on the trigger's ``rate(...)`` or ``cron(...)`` expression."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        trigger: ScheduleTrigger,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, id_)
        self.rule = events.Rule(
            self,
            "Rule",
            schedule=events.Schedule.expression(trigger.expression),
            targets=[targets.LambdaFunction(function, retry_attempts=2)],
        )
