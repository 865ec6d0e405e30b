"""cdk-nag's AwsSolutions pack over both stacks, and every suppression with its written reason.

:func:`check` registers the pack as a CDK validation plugin (cdk-nag 3 runs through
``Validations``, after the templates are written): an unsuppressed error stops the synth, and
errors, warnings and suppressions all land in ``validation-report.json`` in the cloud assembly,
each suppression with its reason. ``-c nag=false`` turns the pack off.

Policy: fix the finding when the fix is right; otherwise add one :class:`Suppression` to
:data:`SUPPRESSIONS` that names the rule, the stack, the construct paths, for granular rules
(IAM4, IAM5) the exact finding, and a reason a reviewer can check. A suppression matches
findings after the pack has run, so a finding whose text is only known then (an ARN that another
stack exports) can be matched by a pattern, and a suppression can look at the resource itself
(``when``) to stay as narrow as its reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.config import StageConfig

PACK = "AwsSolutions"
#: cdk-nag refuses shorter reasons; ours should say why, not just that.
MIN_REASON_LENGTH = 40

StackKind = Literal["stateful", "api", "recovery"]
ENVS = ("dev", "prod")


@dataclass(frozen=True)
class Suppression:
    """Findings of one rule that are accepted, where, and why.

    ``paths`` are construct paths below the stack (``*`` stands for any characters but ``/``,
    ``**`` for any characters). A granular rule (IAM4, IAM5) reports one finding per managed
    policy or wildcard: ``findings`` names the accepted ones, exactly or as a compiled pattern,
    and a suppression without ``findings`` accepts none of them. ``envs`` limits it to some
    environments, ``choice`` to a deployer's choice (a :data:`infra.config.CHOICES` key and
    value, as the stage resolved it), and ``when`` narrows further by looking at the resource."""

    rule: str
    stack: StackKind
    paths: tuple[str, ...]
    reason: str
    findings: tuple[str | re.Pattern[str], ...] = ()
    envs: tuple[str, ...] = ENVS
    choice: tuple[str, str] | None = None
    when: Callable[[IConstruct], bool] | None = None

    def matches(
        self, *, rule: str, finding: str | None, stage: StageConfig, stack: StackKind, path: str
    ) -> bool:
        """Whether this suppression names the finding (``when`` aside)."""
        if rule != self.rule or stage.name not in self.envs or stack != self.stack:
            return False
        if self.choice is not None and getattr(stage, self.choice[0]) != self.choice[1]:
            return False
        if not any(_path_pattern(p).fullmatch(path) for p in self.paths):
            return False
        if finding is None:
            return not self.findings
        return any(
            f.fullmatch(finding) if isinstance(f, re.Pattern) else f == finding
            for f in self.findings
        )


def _path_pattern(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*|\*)", pattern)
    wildcards = {"**": ".*", "*": "[^/]*"}
    return re.compile("".join(wildcards.get(p) or re.escape(p) for p in parts))


# ---- predicates: a suppression as narrow as its reason ------------------------------------------


def _statements(construct: IConstruct) -> list[dict[str, Any]]:
    if not isinstance(construct, iam.CfnPolicy):
        return []
    document = cdk.Stack.of(construct).resolve(construct.policy_document)
    statements: list[dict[str, Any]] = document.get("Statement", [])
    return statements


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def any_resource_only_for(*actions: str) -> Callable[[IConstruct], bool]:
    """A policy whose every statement on ``Resource: *`` allows some of ``actions`` and nothing
    else: a suppression of ``Resource::*`` then stops matching when another action joins it."""

    def check(construct: IConstruct) -> bool:
        starred = [s for s in _statements(construct) if "*" in _listed(s.get("Resource"))]
        return bool(starred) and all(set(_listed(s["Action"])) <= set(actions) for s in starred)

    return check


def _authorization(construct: IConstruct) -> str | None:
    if not isinstance(construct, apigateway.CfnMethod):
        return None
    return str(construct.authorization_type or "NONE")


def public_route(construct: IConstruct) -> bool:
    """A method without an authorizer (cdk-nag already leaves CORS preflights alone)."""
    return _authorization(construct) == "NONE"


def lambda_authorized_route(construct: IConstruct) -> bool:
    """A method behind the Lambda (TOKEN) authorizer."""
    return _authorization(construct) == "CUSTOM"


# ---- the suppressions ---------------------------------------------------------------------------

#: The object-level ARN ``<bucket arn>/*`` of a bucket of the stateful stack, as it reaches a
#: policy of the API stack: a weak cross-stack reference, flattened by cdk-nag.
STATEFUL_BUCKET_OBJECTS = re.compile(
    r'Resource::\{"Fn::GetStackOutput":\{"StackName":"stratus-[a-z0-9-]+-stateful",'
    r'"Region":\{"Ref":"AWS::Region"\},'
    r'"OutputName":"PublishOutputFnGetAtt[A-Za-z0-9]+Bucket[0-9A-F]{8}Arn[0-9A-F]{8}"\}\}/\*'
)

#: The same for the HTTP paths ``<domain arn>/*`` of the vector domain (-c vector_engine=domain).
STATEFUL_DOMAIN_PATHS = re.compile(
    r'Resource::\{"Fn::GetStackOutput":\{"StackName":"stratus-[a-z0-9-]+-stateful",'
    r'"Region":\{"Ref":"AWS::Region"\},'
    r'"OutputName":"PublishOutputFnGetAttVectorsDomain[0-9A-F]{8}Arn[0-9A-F]{8}"\}\}/\*'
)


def _managed(name: str) -> str:
    return f"Policy::arn:<AWS::Partition>:iam::aws:policy/{name}"


FUNCTION_ROLE = "*Function/Function/ServiceRole/Resource"
RESTORE_CHECK_ROLE = "RestoreCheck/Function/ServiceRole/Resource"
FUNCTION_POLICY = "*Function/Function/ServiceRole/DefaultPolicy/Resource"
METHODS = "Api/RestApi/Default/**/Resource"
PUBLIC_ROUTES = (
    "Declared public in its handler (Route auth=False), as login, registration, token refresh,"
    " password reset and the health check are: they are called before the caller has a token."
    " The stage throttles them (and WAF rate-limits per IP in prod); each validates its input."
)

SUPPRESSIONS: tuple[Suppression, ...] = (
    # ---- stateful stack -----------------------------------------------------------------------
    Suppression(
        "AwsSolutions-S1",
        "stateful",
        ("*Bucket/Bucket/Resource",),
        "No server access logs: they need a second bucket (which cannot log itself) and S3"
        " delivers them best effort. Objects are reached only through the functions' roles and"
        " the presigned URLs they issue (public access blocked, owner-enforced, TLS only);"
        " if an object-level audit is required, CloudTrail S3 data events give a reliable one.",
    ),
    Suppression(
        "AwsSolutions-S1",
        "recovery",
        ("*Replica/Bucket/Resource",),
        "A replica in the recovery region, written only by S3 Replication from its source bucket"
        " (whose reasons for no server access logs apply); nothing reads it until a region is"
        " lost (docs/operations/runbooks/lose-a-region.md). CloudTrail data events would audit it.",
        envs=("prod",),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "stateful",
        ("*Replication/Role/DefaultPolicy/Resource",),
        "S3 Replication's role reads every object version of its one source bucket and writes"
        " every key of its one replica: object keys are not known in advance, so the object ARNs"
        " end in /*; the actions are the named replication ones only, on those two buckets.",
        findings=(
            re.compile(r"Resource::<[A-Za-z0-9]+Bucket[0-9A-F]{8}\.Arn>/\*"),
            re.compile(
                r"Resource::arn:<AWS::Partition>:s3:::stratus-[a-z0-9]+-[a-z0-9-]+-replica-"
                r"<AWS::AccountId>/\*"
            ),
        ),
        envs=("prod",),
    ),
    Suppression(
        "AwsSolutions-SMG4",
        "stateful",
        ("*Secret/Secret/Resource",),
        "A secret declared in functions/resources.py: its value has a format only its functions"
        " know (generated on deploy from the declaration's template), so no Secrets Manager"
        " rotation function fits it. Today: the signing keys rotate by hand by design (add a"
        " kid, make it current; older kids verify until their tokens expire, shared/auth/keys.py),"
        " and the admin secret only seeds the first admin on deploy, so rotating it would change"
        " no password.",
    ),
    Suppression(
        "AwsSolutions-SMG4",
        "stateful",
        ("Redis/AuthToken/Resource",),
        "Rotating the Redis AUTH token needs ElastiCache's ROTATE/SET strategy driven by a"
        " rotation function; not built yet (docs/infrastructure.md, 'Not built yet'). The token"
        " is 64 random characters, readable only by the functions that need Redis.",
    ),
    Suppression(
        "AwsSolutions-EC23",
        "stateful",
        ("Network/Vpc/*Endpoint/SecurityGroup/Resource",),
        "The rule cannot resolve the ingress CIDR (a Fn::GetAtt of the VPC's CidrBlock) and so"
        " reports an error: the interface endpoints accept HTTPS (443) from the VPC's own CIDR"
        " only, not from 0.0.0.0/0, and the VPC has no internet gateway.",
    ),
    Suppression(
        "AwsSolutions-RDS3",
        "stateful",
        ("Postgres/Instance/Resource",),
        "dev only: a single-AZ db.t4g.micro keeps the idle cost of dev low; prod is Multi-AZ"
        " (StageConfig.db_multi_az), and dev's data is disposable.",
        envs=("dev",),
    ),
    Suppression(
        "AwsSolutions-RDS10",
        "stateful",
        ("Postgres/Instance/Resource",),
        "dev only: dev's database is disposable and deleted with its stack; prod has deletion"
        " protection and a final snapshot (StageConfig.retain_data).",
        envs=("dev",),
    ),
    Suppression(
        "AwsSolutions-RDS11",
        "stateful",
        ("Postgres/Instance/Resource", "Postgres/ReadReplica/Resource"),
        "The default port 5432 stays: the instance is in isolated subnets and its security"
        " group admits only RDS Proxy (the read replica: only the functions' client group),"
        " so a non-default port would hide nothing from anyone who can reach it, and every"
        " client would need to be told the odd port.",
    ),
    Suppression(
        "AwsSolutions-RDS2",
        "stateful",
        ("Postgres/ReadReplica/Resource",),
        "The replica is encrypted: a read replica of an encrypted instance always is, under the"
        " source's key, and CloudFormation refuses StorageEncrypted beside"
        " SourceDBInstanceIdentifier (cfn-lint F3020), which is what this rule looks for.",
        envs=("prod",),
    ),
    Suppression(
        "AwsSolutions-RDS3",
        "stateful",
        ("Postgres/ReadReplica/Resource",),
        "The read replica serves only reads that tolerate lag (lists, search); if its AZ fails"
        " they fall back to the Multi-AZ primary by unsetting DATABASE_READ_HOST"
        " (docs/operations/runbooks/promote-read-replica.md), so a second standby for a copy"
        " would double its cost for no data safety.",
        envs=("prod",),
    ),
    Suppression(
        "AwsSolutions-AEC4",
        "stateful",
        ("Redis/ReplicationGroup",),
        "dev only: one cache.t4g.micro node keeps dev cheap; prod runs two nodes with"
        " automatic failover and Multi-AZ (StageConfig.cache_nodes). If dev's node fails, the"
        " authorizer fails closed until ElastiCache replaces it.",
        envs=("dev",),
    ),
    Suppression(
        "AwsSolutions-AEC5",
        "stateful",
        ("Redis/ReplicationGroup",),
        "The default port 6379 stays: the group is in isolated subnets, its security group"
        " admits only the Redis client security group, and it requires TLS and an AUTH token;"
        " a non-default port adds nothing there.",
    ),
    Suppression(
        "AwsSolutions-IAM4",
        "stateful",
        ("Backup/Role/Resource",),
        "AWS Backup's own service-role policies, which AWS keeps current as services and"
        " resource types are added; AWS Backup documents them for a custom backup role, and"
        " the S3 ones are needed because the general ones leave S3 out.",
        findings=(
            _managed("service-role/AWSBackupServiceRolePolicyForBackup"),
            _managed("service-role/AWSBackupServiceRolePolicyForRestores"),
            _managed("AWSBackupServiceRolePolicyForS3Backup"),
            _managed("AWSBackupServiceRolePolicyForS3Restore"),
        ),
    ),
    Suppression(
        "AwsSolutions-IAM4",
        "stateful",
        ("LogRetention*/ServiceRole/Resource",),
        "CDK's own singleton LogRetention function, which sets the retention of the log group"
        " RDS creates for the Postgres logs: CDK creates its role with"
        " AWSLambdaBasicExecutionRole for its own logs; we do not own that code.",
        findings=(_managed("service-role/AWSLambdaBasicExecutionRole"),),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "stateful",
        ("LogRetention*/ServiceRole/DefaultPolicy/Resource",),
        "CDK's LogRetention singleton: CDK grants logs:PutRetentionPolicy and"
        " logs:DeleteRetentionPolicy on '*' since one function serves every log group of the"
        " stack, and the Postgres group's name exists only once RDS has made the instance."
        " Matched only while those are the only actions on '*'.",
        findings=("Resource::*",),
        when=any_resource_only_for("logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy"),
    ),
    # ---- stateful stack, with -c vector_engine=domain (a managed OpenSearch domain) -------------
    Suppression(
        "AwsSolutions-OS3",
        "stateful",
        ("Vectors/Domain/Resource",),
        "The domain lives in the VPC's isolated subnets, where IP-based access policies do not"
        " apply; its security group admits HTTPS only from the vectors client security group.",
        choice=("vector_engine", "domain"),
    ),
    Suppression(
        "AwsSolutions-OS5",
        "stateful",
        ("Vectors/Domain/Resource",),
        "No resource-based access policy, so nothing grants '*' or anonymous access: every"
        " request is SigV4-signed by a function role whose identity policy allows es:ESHttp* on"
        " this domain, and only from inside the VPC.",
        choice=("vector_engine", "domain"),
    ),
    Suppression(
        "AwsSolutions-OS4",
        "stateful",
        ("Vectors/Domain/Resource",),
        "No dedicated master nodes: the domain holds one vector index on one (dev) or two"
        " (prod) data nodes, and three dedicated masters would cost more than the data nodes;"
        " serverless, the default vector engine, has no nodes at all.",
        choice=("vector_engine", "domain"),
    ),
    Suppression(
        "AwsSolutions-OS7",
        "stateful",
        ("Vectors/Domain/Resource",),
        "dev only: one data node (StageConfig.vector_domain_nodes), so there is no second zone"
        " to be aware of; prod's two nodes are spread over two zones.",
        envs=("dev",),
        choice=("vector_engine", "domain"),
    ),
    Suppression(
        "AwsSolutions-IAM4",
        "stateful",
        ("AWS679f53fac002430cb0da5b7982bd2287/ServiceRole/Resource",),
        "CDK's own singleton AwsCustomResource function (here: the domain's log resource"
        " policy): CDK creates its role with AWSLambdaBasicExecutionRole for its logs; we do not"
        " own that code.",
        findings=(_managed("service-role/AWSLambdaBasicExecutionRole"),),
        choice=("vector_engine", "domain"),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "stateful",
        ("Vectors/Domain/ESLogGroupPolicy*/CustomResourcePolicy/Resource",),
        "CDK's custom resource that lets OpenSearch write the domain's logs: it calls"
        " logs:PutResourcePolicy and logs:DeleteResourcePolicy, which have no resource-level"
        " permissions. Matched only while those are the only actions on '*'.",
        findings=("Resource::*",),
        choice=("vector_engine", "domain"),
        when=any_resource_only_for("logs:PutResourcePolicy", "logs:DeleteResourcePolicy"),
    ),
    # ---- API stack ----------------------------------------------------------------------------
    Suppression(
        "AwsSolutions-IAM4",
        "api",
        (FUNCTION_ROLE, RESTORE_CHECK_ROLE),
        "AWSLambdaBasicExecutionRole: the AWS managed policy for a function's own logs"
        " (logs:CreateLogGroup, CreateLogStream, PutLogEvents), kept current by AWS with the"
        " Lambda logging service; each function writes to its own log group.",
        findings=(_managed("service-role/AWSLambdaBasicExecutionRole"),),
    ),
    Suppression(
        "AwsSolutions-IAM4",
        "api",
        (FUNCTION_ROLE, RESTORE_CHECK_ROLE),
        "AWSLambdaVPCAccessExecutionRole, only on functions in the VPC (those that need"
        " Postgres or Redis): the AWS managed policy with the ec2 network-interface actions"
        " Lambda needs to attach the function to its subnets; its ec2:Describe* actions"
        " support no resource-level permissions.",
        findings=(_managed("service-role/AWSLambdaVPCAccessExecutionRole"),),
    ),
    Suppression(
        "AwsSolutions-IAM4",
        "api",
        ("BucketNotificationsHandler*/Role/Resource",),
        "CDK's own singleton custom resource that writes S3 bucket notifications: CDK creates"
        " its role with AWSLambdaBasicExecutionRole for its logs; we do not own that code.",
        findings=(_managed("service-role/AWSLambdaBasicExecutionRole"),),
    ),
    Suppression(
        "AwsSolutions-IAM4",
        "api",
        ("Api/RestApi/CloudWatchRole/Resource",),
        "AmazonAPIGatewayPushToCloudWatchLogs: the AWS managed policy for the one role per"
        " account and region through which API Gateway writes access and execution logs.",
        findings=(_managed("service-role/AmazonAPIGatewayPushToCloudWatchLogs"),),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "api",
        (FUNCTION_POLICY,),
        "X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no"
        " resource-level permissions, so Resource must be '*'. Matched only while every"
        " statement on '*' allows these two actions and nothing else.",
        findings=("Resource::*",),
        when=any_resource_only_for("xray:PutTraceSegments", "xray:PutTelemetryRecords"),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "api",
        ("RestoreCheck/Function/ServiceRole/DefaultPolicy/Resource",),
        "The restore check: backup:PutRestoreValidationResult has no resource type to scope it"
        " to (the restore job is a request parameter), and X-Ray's two actions have none"
        " either. Matched only while every statement on '*' allows these and nothing else.",
        findings=("Resource::*",),
        when=any_resource_only_for(
            "backup:PutRestoreValidationResult", "xray:PutTraceSegments", "xray:PutTelemetryRecords"
        ),
        envs=("prod",),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "api",
        (FUNCTION_POLICY,),
        "'<bucket arn>/*': object-level access to a declared bucket of the stateful stack."
        " Object keys are chosen at run time, per owner and document (object_key in"
        " shared/documents/storage.py), so an object grant covers the bucket's keys by nature.",
        findings=(STATEFUL_BUCKET_OBJECTS,),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "api",
        (FUNCTION_POLICY,),
        "'<domain arn>/*' with -c vector_engine=domain: es:ESHttp* on the HTTP paths of the one"
        " vector domain (the index, _bulk, _search); OpenSearch authorizes paths under the"
        " domain, and the functions need more than one.",
        findings=(STATEFUL_DOMAIN_PATHS,),
        choice=("vector_engine", "domain"),
    ),
    Suppression(
        "AwsSolutions-APIG2",
        "api",
        ("Api/RestApi/Resource",),
        "Requests are validated by each function (pydantic models behind FastAPI, answering"
        " RFC 9457 problems, the same code the OpenAPI document comes from); an API Gateway"
        " validator without models would check nothing, and models would copy the schemas.",
    ),
    Suppression(
        "AwsSolutions-APIG3",
        "api",
        ("Api/RestApi/DeploymentStage.*/Resource",),
        "dev only: no WAF web ACL in dev (StageConfig.waf_enabled) to save its fixed monthly"
        " cost; dev's stage is throttled to 50 requests per second. prod has the ACL.",
        envs=("dev",),
    ),
    Suppression("AwsSolutions-APIG4", "api", (METHODS,), PUBLIC_ROUTES, when=public_route),
    Suppression(
        "AwsSolutions-COG4",
        "api",
        (METHODS,),
        "Authenticated by the Lambda TOKEN authorizer (auth=True routes): users and their"
        " access tokens are Stratus's own (shared/auth), not a Cognito user pool.",
        when=lambda_authorized_route,
    ),
    Suppression("AwsSolutions-COG4", "api", (METHODS,), PUBLIC_ROUTES, when=public_route),
    # ---- the web app's distribution (infra/components/site.py) ------------------------------
    Suppression(
        "AwsSolutions-S1",
        "api",
        ("Site/Bucket/Resource",),
        "The site bucket holds only the exported web app, public content rebuilt on every deploy"
        " and read by CloudFront alone (origin access control): server access logs would record"
        " CloudFront's reads of public files, nothing about users.",
    ),
    Suppression(
        "AwsSolutions-CFR1",
        "api",
        ("Site/Distribution/Resource",),
        "No geo restriction: Stratus serves its users wherever they are; no contract or law the"
        " product is bound by names countries to refuse.",
    ),
    Suppression(
        "AwsSolutions-CFR2",
        "api",
        ("Site/Distribution/Resource",),
        "Not yet: a web ACL for CloudFront must be of CLOUDFRONT scope, created in us-east-1 (a"
        " stack of its own). The API's regional web ACL (prod) still inspects every API request"
        " behind the distribution; docs/frontend.md lists the edge web ACL as the next step.",
    ),
    Suppression(
        "AwsSolutions-CFR3",
        "api",
        ("Site/Distribution/Resource",),
        "No CloudFront access logs: standard logs need an ACL-enabled bucket, and every API request"
        " is already in API Gateway's JSON access log with its request id; the rest are the"
        " app's public static files.",
    ),
    Suppression(
        "AwsSolutions-CFR4",
        "api",
        ("Site/Distribution/Resource",),
        "The distribution uses CloudFront's default *.cloudfront.net certificate, whose viewer"
        " security policy CloudFront fixes (TLSv1); a custom domain brings its own ACM"
        " certificate, with TLSv1.2_2021 (docs/frontend.md). Viewers are redirected to HTTPS.",
    ),
    Suppression(
        "AwsSolutions-IAM4",
        "api",
        ("Custom::CDKBucketDeployment*/ServiceRole/Resource",),
        "CDK's own BucketDeployment function (it syncs the exported app into the site bucket on"
        " deploy): CDK creates its role with AWSLambdaBasicExecutionRole for its own logs; we do"
        " not own that code.",
        findings=(_managed("service-role/AWSLambdaBasicExecutionRole"),),
    ),
    Suppression(
        "AwsSolutions-IAM5",
        "api",
        ("Custom::CDKBucketDeployment*/ServiceRole/DefaultPolicy/Resource",),
        "CDK's BucketDeployment grants: read the deploy's asset objects from the bootstrap assets"
        " bucket, write and prune every object of the site bucket (the app's file names change on"
        " every build), and create the CloudFront invalidation (an action with no resource-level"
        " permission, hence '*').",
        findings=(
            "Action::s3:GetObject*",
            "Action::s3:GetBucket*",
            "Action::s3:List*",
            "Action::s3:DeleteObject*",
            "Action::s3:Abort*",
            re.compile(r"Resource::<SiteBucket[0-9A-F]{8}\.Arn>/\*"),
            re.compile(
                r"Resource::arn:<AWS::Partition>:s3:::cdk-[a-z0-9]+-assets-<AWS::AccountId>-"
                r"<AWS::Region>/\*"
            ),
            "Resource::*",
        ),
        when=any_resource_only_for("cloudfront:GetInvalidation", "cloudfront:CreateInvalidation"),
    ),
    Suppression(
        "AwsSolutions-IAM4",
        "api",
        ("AWS679f53fac002430cb0da5b7982bd2287/ServiceRole/Resource",),
        "CDK's own AwsCustomResource function, which puts the uploads bucket's CORS rule for the"
        " distribution's origin (no -c frontend_origin): CDK creates its role with"
        " AWSLambdaBasicExecutionRole for its own logs; its one grant is s3:PutBucketCORS and"
        " s3:DeleteBucketCORS on that bucket.",
        findings=(_managed("service-role/AWSLambdaBasicExecutionRole"),),
    ),
    Suppression(
        "AwsSolutions-L1",
        "api",
        ("Custom::CDKBucketDeployment*/Resource",),
        "CDK's BucketDeployment function: CDK pins its Python runtime to the one its AWS CLI layer"
        " is built for; it runs only during deploys and takes no input from users.",
    ),
)


# ---- the plugin ---------------------------------------------------------------------------------


def _split(rule_name: str) -> tuple[str, str | None]:
    """``AwsSolutions-IAM5[Action::s3:*]`` -> (``AwsSolutions-IAM5``, ``Action::s3:*``)."""
    rule, bracket, finding = rule_name.partition("[")
    return (rule, finding[:-1]) if bracket else (rule, None)


def _find(root: IConstruct, path: str) -> IConstruct | None:
    node: IConstruct | None = root
    for part in path.split("/"):
        if node is None:
            return None
        node = node.node.try_find_child(part)
    return node


@jsii.implements(cdk.IPolicyValidationPlugin)
class StratusNag:
    """cdk-nag's AwsSolutions pack over ``stacks``; each finding that a suppression of
    ``suppressions`` covers is acknowledged with the suppression's reason before CDK files the
    report, so CDK lists it as suppressed, with the reason, instead of failing the synth."""

    def __init__(
        self,
        *,
        stage: StageConfig,
        stacks: Mapping[StackKind, cdk.Stack],
        suppressions: Sequence[Suppression] = SUPPRESSIONS,
    ) -> None:
        self._checks = AwsSolutionsChecks(verbose=True)
        self._stage = stage
        self._stacks = dict(stacks)
        self._suppressions = tuple(suppressions)

    @property
    def name(self) -> str:
        return PACK

    @property
    def version(self) -> str | None:
        return None

    @property
    def rule_ids(self) -> list[str] | None:
        return None

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        violations: dict[str, cdk.PolicyViolation] = {}
        for kind, stack in self._stacks.items():
            for violation in self._checks.validate_scope(stack).violations:
                for resource in violation.violating_resources:
                    self._acknowledge(violation.rule_name, kind, stack, resource)
                seen = violations.get(violation.rule_name)
                if seen is None:
                    violations[violation.rule_name] = violation
                else:
                    violations[violation.rule_name] = cdk.PolicyViolation(
                        rule_name=seen.rule_name,
                        description=seen.description,
                        severity=seen.severity,
                        violating_resources=[
                            *seen.violating_resources,
                            *violation.violating_resources,
                        ],
                    )
        # CDK recomputes success once it has moved the acknowledged findings aside.
        return cdk.PolicyValidationPluginReport(
            success=not violations, violations=list(violations.values())
        )

    def _acknowledge(
        self,
        rule_name: str,
        kind: StackKind,
        stack: cdk.Stack,
        resource: cdk.PolicyViolatingResource,
    ) -> None:
        full_path = resource.construct_path or ""
        prefix = stack.node.path + "/"
        if not full_path.startswith(prefix):
            return
        path = full_path.removeprefix(prefix)
        rule, finding = _split(rule_name)
        construct = _find(stack, path)
        if construct is not None and cdk.Stack.of(construct) is not stack:
            # In a nested stack of ``stack`` (infra.stacks.api.NESTED_SERVICES): the same
            # suppressions, on the path inside the nested stack.
            path = full_path.removeprefix(cdk.Stack.of(construct).node.path + "/")
        for suppression in self._suppressions:
            if not suppression.matches(
                rule=rule, finding=finding, stage=self._stage, stack=kind, path=path
            ):
                continue
            if suppression.when is not None and (
                construct is None or not suppression.when(construct)
            ):
                continue
            if construct is not None:
                cdk.Validations.of(construct).acknowledge(
                    cdk.Acknowledgment(id=f"{PACK}::{rule_name}", reason=suppression.reason)
                )
            return


def enabled(app: cdk.App) -> bool:
    """The ``nag`` context flag: on unless ``-c nag=false`` (or 0, off, no)."""
    value = app.node.try_get_context("nag")
    return value is None or str(value).strip().lower() not in {"false", "0", "off", "no"}


def check(
    app: cdk.App, *, stage: StageConfig, stacks: Mapping[StackKind, cdk.Stack]
) -> StratusNag | None:
    """Run cdk-nag's AwsSolutions pack over ``stacks`` (of ``stage``) when ``app`` synthesizes."""
    if not enabled(app):
        return None
    plugin = StratusNag(stage=stage, stacks=stacks)
    cdk.Validations.of(app).add_plugins(plugin)
    return plugin
