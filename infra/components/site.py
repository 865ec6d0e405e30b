"""The web app and the API on one origin: a CloudFront distribution in front of a private S3
bucket holding the exported app (``web/out``) and, on the same distribution, the API's paths
routed to API Gateway. Cookies are then first-party (browser session mode) and no CORS is needed.

- The bucket is private (public access blocked); CloudFront reads it through origin access
  control (OAC), the bucket policy naming this distribution only.
- The default behaviour serves the app: a viewer-request function maps ``/login`` to
  ``/login.html`` (Next.js exports one file per page) and ``/`` to ``/index.html``. Hashed files
  under ``/_next/static/*`` are cached for a year at the edge and in browsers; pages are
  revalidated on every visit (``infra/web.py``).
- One behaviour per path the API owns (``/auth/*``, ``/documents``, ``/documents/*``, ...,
  derived from the registry): no caching, every viewer header but Host, every cookie and query
  string forwarded, all methods; API Gateway's headers (``X-Request-Id``, ``RateLimit-*``,
  ``Retry-After``, ``WWW-Authenticate``, ``Set-Cookie``) come back untouched.
- Every response gets the security headers (``infra/web.py``) from a response headers policy.
- Custom error responses are deliberately not used: CloudFront applies them to every origin,
  and would replace the API's own 403 and 404 problem documents with the app's 404 page.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.components.retention import LOG_RETENTION
from infra.components.storage import BROWSER_METHODS
from infra.config import StageConfig
from infra.web import HASHED_ASSETS, IMMUTABLE, REVALIDATE, SECURITY_HEADERS
from infra.web import content_security_policy as csp
from shared.platform.declare import Route

#: Extension-less paths are pages: ``/app/documents`` is ``/app/documents.html``.
PAGE_REWRITE = """function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri.endsWith('/')) {
    request.uri = uri + 'index.html';
  } else if (uri.split('/').pop().indexOf('.') === -1) {
    request.uri = uri + '.html';
  }
  return request;
}
"""


def api_path_patterns(routes: Iterable[Route]) -> list[str]:
    """The CloudFront path patterns of the API's routes: ``/seg`` where a route is exactly
    ``/seg``, ``/seg/*`` where a route lies below it."""
    patterns: set[str] = set()
    for route in routes:
        segment = route.path.split("/")[1]
        patterns.add(f"/{segment}" if route.path == f"/{segment}" else f"/{segment}/*")
    return sorted(patterns)


class Site(Construct):
    """The distribution, its bucket and (when the app has been built) its deployment."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        stage: StageConfig,
        rest_api: apigateway.RestApi,
        routes: Iterable[Route],
        site_dir: Path,
        buckets: Iterable[s3.IBucket] = (),
        bucket_cors: bool = False,
    ) -> None:
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Build output, deployed again on every deploy: nothing to keep.
            removal_policy=cdk.RemovalPolicy.DESTROY,
            auto_delete_objects=True,
        )
        # The page uploads straight to the system's buckets (presigned POST): their global and
        # regional endpoints, as boto3 may name either in the form's URL.
        connect = [
            endpoint
            for bucket in buckets
            for endpoint in (
                f"https://{bucket.bucket_name}.s3.amazonaws.com",
                f"https://{bucket.bucket_regional_domain_name}",
            )
        ]
        self.headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment=f"Stratus {stage.name}: security headers of the web app and the API",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=csp(connect), override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=cdk.Duration.seconds(63072000),
                    include_subdomains=True,
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
            ),
        )
        assert set(SECURITY_HEADERS) == {
            "Strict-Transport-Security",
            "X-Content-Type-Options",
            "X-Frame-Options",
            "Referrer-Policy",
        }, "infra/web.py's headers changed: mirror them in the policy above"
        self.page_cache = cloudfront.CachePolicy(
            self,
            "PageCache",
            comment="Pages: kept a minute at the edge; browsers revalidate (Cache-Control)",
            default_ttl=cdk.Duration.minutes(1),
            max_ttl=cdk.Duration.minutes(5),
            min_ttl=cdk.Duration.seconds(0),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
        self.asset_cache = cloudfront.CachePolicy(
            self,
            "HashedAssetCache",
            comment="Content-hashed files under /_next/static: a year, their name changes",
            default_ttl=cdk.Duration.days(365),
            max_ttl=cdk.Duration.days(365),
            min_ttl=cdk.Duration.days(365),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
        site_origin = origins.S3BucketOrigin.with_origin_access_control(self.bucket)
        pages = cloudfront.Function(
            self,
            "PageRewrite",
            code=cloudfront.FunctionCode.from_inline(PAGE_REWRITE),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="/login is /login.html (one exported file per page)",
        )
        # API Gateway's regional endpoint, built from the API's id: rest_api.url would name the
        # stage resource, and the functions' APP_URL refers to this distribution (a cycle).
        api_origin = origins.HttpOrigin(
            f"{rest_api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}",
            origin_path=f"/{stage.name}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        api_behavior = cloudfront.BehaviorOptions(
            origin=api_origin,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            response_headers_policy=self.headers_policy,
        )
        self.api_paths = api_path_patterns(routes)
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"Stratus {stage.name}: the web app and the API on one origin",
            default_root_object="index.html",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            default_behavior=cloudfront.BehaviorOptions(
                origin=site_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=self.page_cache,
                response_headers_policy=self.headers_policy,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=pages, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
            additional_behaviors={
                f"/{HASHED_ASSETS}/*": cloudfront.BehaviorOptions(
                    origin=site_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                    cache_policy=self.asset_cache,
                    response_headers_policy=self.headers_policy,
                ),
                **{path: api_behavior for path in self.api_paths},
            },
        )
        self.url = f"https://{self.distribution.distribution_domain_name}"
        self.deploy_logs = logs.LogGroup(
            self,
            "DeployLogs",
            retention=LOG_RETENTION[stage.log_retention_days],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.deployed = self._deploy(site_dir)
        # The page's presigned uploads need the buckets' CORS rule for the app's origin. A
        # frontend origin given by context is set on the buckets by the stateful stack; without
        # one, the origin is this distribution's, which the stateful stack cannot name (a
        # cross-stack cycle): the rule is put here, on deploy, and removed with this stack.
        self.bucket_cors = (
            [self._allow_uploads_from_site(b, index=i) for i, b in enumerate(buckets)]
            if bucket_cors
            else []
        )
        cdk.CfnOutput(
            stack, "SiteUrl", value=self.url, description="The web app and the API, one origin"
        )

    def _allow_uploads_from_site(self, bucket: s3.IBucket, *, index: int) -> cr.AwsCustomResource:
        """``PutBucketCors`` with the rule of ``StratusBucket`` for this distribution's origin."""
        rule = {
            "AllowedOrigins": [self.url],
            "AllowedMethods": [method.value for method in BROWSER_METHODS],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3600,
        }
        return cr.AwsCustomResource(
            self,
            f"UploadCors{index}",
            on_update=cr.AwsSdkCall(
                service="S3",
                action="putBucketCors",
                parameters={
                    "Bucket": bucket.bucket_name,
                    "CORSConfiguration": {"CORSRules": [rule]},
                },
                physical_resource_id=cr.PhysicalResourceId.of(f"{bucket.bucket_name}-cors"),
            ),
            on_delete=cr.AwsSdkCall(
                service="S3", action="deleteBucketCors", parameters={"Bucket": bucket.bucket_name}
            ),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[bucket.bucket_arn]),
            install_latest_aws_sdk=False,
        )

    def _deploy(self, site_dir: Path) -> bool:
        """Upload the exported app on deploy (a CDK custom resource: a Lambda function with
        the AWS CLI layer that syncs the asset into the bucket, no Docker). Without a build the
        synth still works: a warning, and the bucket is left as it is."""
        if not (site_dir / "index.html").is_file():
            cdk.Annotations.of(self).add_warning_v2(
                "stratus:site-not-built",
                f"{site_dir} holds no exported web app: run `make web-build` before deploying;"
                " this synth deploys no site files",
            )
            return False
        hashed = site_dir / HASHED_ASSETS
        if hashed.is_dir():
            # Hashed names never change content: kept (prune off) for pages still open.
            s3deploy.BucketDeployment(
                self,
                "HashedAssets",
                sources=[s3deploy.Source.asset(str(hashed))],
                destination_bucket=self.bucket,
                destination_key_prefix=f"{HASHED_ASSETS}/",
                cache_control=[s3deploy.CacheControl.from_string(IMMUTABLE)],
                prune=False,
                log_group=self.deploy_logs,
            )
        s3deploy.BucketDeployment(
            self,
            "Pages",
            sources=[s3deploy.Source.asset(str(site_dir), exclude=[f"{HASHED_ASSETS}/*"])],
            destination_bucket=self.bucket,
            exclude=[f"{HASHED_ASSETS}/*"],  # left to the deployment above, never pruned here
            cache_control=[s3deploy.CacheControl.from_string(REVALIDATE)],
            distribution=self.distribution,
            distribution_paths=["/*"],
            log_group=self.deploy_logs,
        )
        return True
