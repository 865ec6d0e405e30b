"""One origin in AWS: CloudFront serves the exported web app from a private bucket (origin access
control) and sends the API's paths to API Gateway on the same distribution."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.components.site import PAGE_REWRITE, api_path_patterns
from tests.infra.synth import Synthesized, synthesize

pytestmark = pytest.mark.infra

# CloudFront's managed policies, by their fixed ids.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.items()))


def distribution(synth: Synthesized) -> dict[str, Any]:
    _, resource = only(synth.resources(synth.api, "AWS::CloudFront::Distribution"))
    config: dict[str, Any] = resource["Properties"]["DistributionConfig"]
    return config


def behaviours(synth: Synthesized) -> dict[str, dict[str, Any]]:
    config = distribution(synth)
    return {b["PathPattern"]: b for b in config["CacheBehaviors"]}


def origin_of(synth: Synthesized, behaviour: dict[str, Any]) -> dict[str, Any]:
    origins = {o["Id"]: o for o in distribution(synth)["Origins"]}
    found: dict[str, Any] = origins[behaviour["TargetOriginId"]]
    return found


def test_the_distribution_has_the_apps_bucket_and_api_gateway_as_origins(synthesized):
    origins = distribution(synthesized)["Origins"]
    assert len(origins) == 2
    bucket = next(o for o in origins if "S3OriginConfig" in o)
    api = next(o for o in origins if "CustomOriginConfig" in o)
    # The bucket is read through origin access control, never a public website endpoint
    oac_id, oac = only(
        synthesized.resources(synthesized.api, "AWS::CloudFront::OriginAccessControl")
    )
    assert bucket["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert oac["Properties"]["OriginAccessControlConfig"] == {
        "Name": oac["Properties"]["OriginAccessControlConfig"]["Name"],
        "OriginAccessControlOriginType": "s3",
        "SigningBehavior": "always",
        "SigningProtocol": "sigv4",
    }
    assert bucket["S3OriginConfig"].get("OriginAccessIdentity", "") == ""
    # API Gateway's regional endpoint of this API, at its stage, over HTTPS only
    domain = json.dumps(api["DomainName"])
    assert "RestApi" in domain and ".execute-api." in domain
    assert api["OriginPath"] == "/dev"
    assert api["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert api["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]


def test_the_apps_bucket_is_private_and_readable_by_this_distribution_only(synthesized):
    buckets = synthesized.resources(synthesized.api, "AWS::S3::Bucket")
    site_id, site = next((k, v) for k, v in buckets.items() if k.startswith("SiteBucket"))
    assert site["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "WebsiteConfiguration" not in site["Properties"]
    policies = synthesized.resources(synthesized.api, "AWS::S3::BucketPolicy")
    _, policy = next(
        (k, v) for k, v in policies.items() if v["Properties"]["Bucket"] == {"Ref": site_id}
    )
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    reads = [s for s in statements if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]
    assert len(reads) == 1
    assert reads[0]["Action"] == "s3:GetObject"
    assert reads[0]["Effect"] == "Allow"
    source = json.dumps(reads[0]["Condition"]["StringEquals"]["AWS:SourceArn"])
    dist_id, _ = only(synthesized.resources(synthesized.api, "AWS::CloudFront::Distribution"))
    assert dist_id in source


def test_every_api_path_goes_to_api_gateway_uncached_with_everything_forwarded(synthesized):
    routes = [route for _, route in synthesized.registry.routes]
    patterns = api_path_patterns(routes)
    assert set(patterns) <= set(behaviours(synthesized))
    assert {"/auth/*", "/documents", "/documents/*", "/search", "/health"} <= set(patterns)
    for pattern in patterns:
        behaviour = behaviours(synthesized)[pattern]
        assert "CustomOriginConfig" in origin_of(synthesized, behaviour), pattern
        assert behaviour["CachePolicyId"] == CACHING_DISABLED
        assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST  # cookies, query too
        assert behaviour["AllowedMethods"] == [
            "GET",
            "HEAD",
            "OPTIONS",
            "PUT",
            "PATCH",
            "POST",
            "DELETE",
        ]
        assert behaviour["ViewerProtocolPolicy"] == "https-only"
        assert "FunctionAssociations" not in behaviour  # API paths are not rewritten
    # every declared route falls under one of them; CloudFront's quota is 25 behaviours
    for route in routes:
        assert any(re.fullmatch(re.escape(p).replace(r"\*", ".*"), route.path) for p in patterns), (
            route.path
        )
    assert len(behaviours(synthesized)) <= 25


def test_the_app_is_cached_by_content_hash_and_pages_are_revalidated(synthesized):
    policies = synthesized.resources(synthesized.api, "AWS::CloudFront::CachePolicy")
    by_id = {k: v["Properties"]["CachePolicyConfig"] for k, v in policies.items()}
    hashed = behaviours(synthesized)["/_next/static/*"]
    assert "S3OriginConfig" in origin_of(synthesized, hashed)
    assets = by_id[hashed["CachePolicyId"]["Ref"]]
    year = 365 * 24 * 3600
    assert assets["MinTTL"] == assets["DefaultTTL"] == assets["MaxTTL"] == year
    default = distribution(synthesized)["DefaultCacheBehavior"]
    pages = by_id[default["CachePolicyId"]["Ref"]]
    assert pages["DefaultTTL"] == 60 and pages["MaxTTL"] <= 300 and pages["MinTTL"] == 0
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["AllowedMethods"] == ["GET", "HEAD"]
    [association] = default["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    # and no custom error response: it would replace the API's own 403/404 problems
    assert "CustomErrorResponses" not in distribution(synthesized)


def test_every_response_carries_the_security_headers(synthesized):
    policy_id, policy = only(
        synthesized.resources(synthesized.api, "AWS::CloudFront::ResponseHeadersPolicy")
    )
    config = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert config["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 63072000
    assert config["ContentTypeOptions"]["Override"] is True
    assert config["FrameOptions"]["FrameOption"] == "DENY"
    assert config["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"
    csp = json.dumps(config["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert "UploadsBucket" in csp  # the page may POST to the uploads bucket, nothing else
    everything = [
        distribution(synthesized)["DefaultCacheBehavior"],
        *behaviours(synthesized).values(),
    ]
    assert all(b["ResponseHeadersPolicyId"] == {"Ref": policy_id} for b in everything)


def test_the_exported_app_is_deployed_with_its_cache_headers(synthesized):
    deployments = synthesized.resources(synthesized.api, "Custom::CDKBucketDeployment")
    by_prefix = {
        d["Properties"].get("DestinationBucketKeyPrefix", ""): d["Properties"]
        for d in deployments.values()
    }
    assert set(by_prefix) == {"", "_next/static/"}
    assets, pages = by_prefix["_next/static/"], by_prefix[""]
    assert assets["Prune"] is False
    assert assets["SystemMetadata"] == {"cache-control": "public, max-age=31536000, immutable"}
    assert pages["SystemMetadata"] == {"cache-control": "no-cache"}
    assert pages["Exclude"] == ["_next/static/*"]
    assert pages["DistributionPaths"] == ["/*"]  # the pages are fresh at the edge after a deploy


def test_the_emails_link_to_the_distribution_or_the_frontend_origin(synthesized, synthesized_prod):
    _, dev = synthesized.function("notifications-deliver")
    app_url = json.dumps(dev["Properties"]["Environment"]["Variables"]["APP_URL"])
    assert "https://" in app_url and "SiteDistribution" in app_url and "DomainName" in app_url
    _, prod = synthesized_prod.function("notifications-deliver")
    assert prod["Properties"]["Environment"]["Variables"]["APP_URL"] == "https://app.example.com"


def test_synth_works_without_a_built_app_and_says_so(layer_dir: Path, tmp_path: Path, synthesized):
    missing = synthesize(
        synthesized.registry,
        layer_dir=layer_dir,
        outdir=tmp_path / "cdk.out",
        context={"site_dir": str(tmp_path / "not-built")},
    )
    assert missing.resources(missing.api, "Custom::CDKBucketDeployment") == {}
    assert len(missing.resources(missing.api, "AWS::CloudFront::Distribution")) == 1
    problems = "\n".join(missing.problems())
    assert "holds no exported web app: run `make web-build`" in problems


@pytest.mark.parametrize(
    ("uri", "served"),
    [
        ("/", "/index.html"),
        ("/login", "/login.html"),
        ("/app/documents", "/app/documents.html"),
        ("/_next/static/chunks/app-0123abcd.js", "/_next/static/chunks/app-0123abcd.js"),
        ("/404.html", "/404.html"),
    ],
)
def test_the_viewer_request_function_maps_pages_to_their_files(uri, served):
    # CloudFront Functions are JavaScript: run the very code with Node
    script = (
        PAGE_REWRITE
        + f"\nprocess.stdout.write(handler({{request: {{uri: {json.dumps(uri)}}}}}).uri);"
    )
    node = shutil.which("node")
    assert node is not None, "Node.js runs the CDK CLI; it is needed here too"
    result = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True)
    assert result.stdout == served


def test_without_a_frontend_origin_the_uploads_bucket_allows_the_distributions_origin(
    synthesized, synthesized_prod
):
    # dev, no -c frontend_origin: the API stack puts the bucket's CORS rule for the distribution
    (cors,) = synthesized.resources(synthesized.api, "Custom::AWS").values()
    call = json.dumps(cors["Properties"]["Create"])
    assert "putBucketCors" in call and "UploadsBucket" in call
    assert "SiteDistribution" in call and "DomainName" in call
    for method in ("POST", "GET", "HEAD"):
        assert method in call
    assert "deleteBucketCors" in json.dumps(cors["Properties"]["Delete"])  # gone with the stack
    policies = synthesized.resources(synthesized.api, "AWS::IAM::Policy")
    (policy,) = [p for k, p in policies.items() if k.startswith("SiteUploadCors")]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == ["s3:DeleteBucketCors", "s3:PutBucketCors"]
    assert "UploadsBucket" in json.dumps(statement["Resource"])  # that bucket only
    # prod, with the frontend's own origin: the stateful stack's bucket rule names it instead
    assert synthesized_prod.resources(synthesized_prod.api, "Custom::AWS") == {}
    buckets = synthesized_prod.resources(synthesized_prod.stateful, "AWS::S3::Bucket")
    rules = [b["Properties"].get("CorsConfiguration") for b in buckets.values()]
    assert any(
        r and r["CorsRules"][0]["AllowedOrigins"] == ["https://app.example.com"] for r in rules
    )
