"""The stateful resources functions share: buckets and secrets (see ``functions/resources.py``)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import StageConfig
from shared.declare import Bucket, Secret


def _removal_policy(stage: StageConfig) -> cdk.RemovalPolicy:
    return cdk.RemovalPolicy.RETAIN if stage.retain_data else cdk.RemovalPolicy.DESTROY


class StratusBucket(Construct):
    """A private bucket: public access blocked, S3-managed encryption, TLS only, versioned."""

    def __init__(self, scope: Construct, id_: str, *, spec: Bucket, stage: StageConfig) -> None:
        super().__init__(scope, id_)
        self.spec = spec
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # S3-managed keys: a KMS key would put the functions' roles in a key policy of this
            # stack, a cross-stack cycle, for no gain until a compliance rule asks for it.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="tidy",
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                    noncurrent_version_expiration=cdk.Duration.days(30),
                )
            ],
            # Dev buckets go with their stack (empty them first); prod buckets stay.
            removal_policy=_removal_policy(stage),
        )


class StratusSecret(Construct):
    """A Secrets Manager secret named ``stratus/<env>/<name>``; its value is set out of band."""

    def __init__(self, scope: Construct, id_: str, *, spec: Secret, stage: StageConfig) -> None:
        super().__init__(scope, id_)
        self.spec = spec
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=f"stratus/{stage.name}/{spec.name}",
            description=spec.description,
            removal_policy=_removal_policy(stage),
        )
