"""The restore check: the function that validates each restore test of the database."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.components.access import DataPlane
from infra.components.data_plane import DATABASE_NAME
from infra.components.function import ARCH, RUNTIME
from infra.components.retention import LOG_RETENTION
from infra.config import REPO_ROOT, StageConfig

ASSET = REPO_ROOT / "infra" / "lambdas" / "restore_check"


class RestoreCheck(Construct):
    """Runs ``infra/lambdas/restore_check`` when AWS Backup completes a restore test: in the
    isolated subnets, in the one security group the restored copy accepts, with read access to
    the database credentials and the right to report the validation."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        stage: StageConfig,
        data: DataPlane,
        layer: lambda_.ILayerVersion,
    ) -> None:
        super().__init__(scope, id_)
        testing = data.restore_testing
        assert testing is not None
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=LOG_RETENTION[stage.log_retention_days],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCH,
            code=lambda_.Code.from_asset(str(ASSET), exclude=["__pycache__", "*.pyc"]),
            handler="handler.handler",
            layers=[layer],
            description="Stratus: validates the weekly restore test of the database",
            timeout=cdk.Duration.minutes(2),
            memory_size=256,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
            vpc=data.network.vpc,
            vpc_subnets=data.network.subnets,
            security_groups=[testing.checkers],
            environment={
                "POWERTOOLS_SERVICE_NAME": "system",
                "STAGE": stage.name,
                "DATABASE_SECRET_ARN": data.database.secret.secret_arn,
                "PRIMARY_HOST": data.database.instance.db_instance_endpoint_address,
                "DATABASE_NAME": DATABASE_NAME,
            },
        )
        data.database.secret.grant_read(self.function)
        # PutRestoreValidationResult has no resource type to scope it to (Service Authorization
        # Reference): the restore job id is the request's parameter.
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["backup:PutRestoreValidationResult"], resources=["*"])
        )
        self.rule = events.Rule(
            self,
            "Completed",
            description="A restore test of the database completed: validate the copy",
            event_pattern=events.EventPattern(
                source=["aws.backup"],
                detail_type=["Restore Job State Change"],
                detail={
                    "status": ["COMPLETED"],
                    "resourceType": ["RDS"],
                    "restoreTestingPlanArn": [{"exists": True}],
                },
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
