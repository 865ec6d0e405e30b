"""S3 in the local runner enforces presigned POST policies as S3 does (local/s3proxy.py).

A form is signed by the S3 client a function gets (``shared.platform.aws.client("s3")``) and posted
by a plain HTTP client, as a browser or curl would post it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from functions.registry import discover
from local.runner import LocalRunner, RunnerConfig
from tests.e2e.conftest import start_runner
from tests.support.services import server_folder

pytestmark = pytest.mark.e2e

SIZE = 20
CONDITIONS = [["content-length-range", 1, SIZE], {"Content-Type": "text/plain"}]


@pytest.fixture(scope="module")
def s3_runner() -> Iterator[LocalRunner]:
    runner = start_runner(
        discover(), RunnerConfig(port=0, state_dir=server_folder("stratus-s3-policy-"))
    )
    yield runner
    runner.stop()


@pytest.fixture
def s3(s3_runner):
    """The S3 client a function gets in the runner."""
    from shared.platform import aws

    return aws.client("s3")


@pytest.fixture
def bucket(s3_runner) -> str:
    name: str = s3_runner.provisioned.buckets["uploads"]
    return name


def form_for(s3, bucket: str, key: str, **kw) -> dict[str, Any]:
    kw.setdefault("Fields", {"Content-Type": "text/plain"})
    kw.setdefault("Conditions", CONDITIONS)
    form: dict[str, Any] = s3.generate_presigned_post(bucket, key, ExpiresIn=300, **kw)
    return form


def post(form: dict[str, Any], data: bytes, **field_overrides: str) -> httpx.Response:
    fields = {**form["fields"], **field_overrides}
    return httpx.post(form["url"], data=fields, files={"file": ("doc.txt", data)}, timeout=10)


def stored(runner: LocalRunner, bucket: str, key: str) -> list[str]:
    """What moto itself holds under ``key``, asked past the proxy."""
    assert runner.moto is not None
    moto = boto3.Session().client("s3", endpoint_url=runner.moto.endpoint)
    listing = moto.list_objects_v2(Bucket=bucket, Prefix=key)
    return [o["Key"] for o in listing.get("Contents", [])]


def error_of(response: httpx.Response) -> ET.Element:
    assert response.headers["Content-Type"] == "application/xml"
    return ET.fromstring(response.content)  # noqa: S314 - the runner's own loopback answer


def test_functions_s3_clients_and_presigned_urls_point_at_the_proxy(s3_runner, s3):
    assert s3_runner.s3proxy is not None
    assert s3.meta.endpoint_url == s3_runner.s3proxy.endpoint, (
        "functions' S3 client bypasses the policy-enforcing proxy: shared/platform/aws.py must let "
        "botocore honour AWS_ENDPOINT_URL_S3"
    )


def test_an_upload_of_exactly_the_declared_size_is_stored(s3_runner, s3, bucket):
    key = "policy-e2e/exact.txt"
    data = b"x" * (SIZE - 1) + b"!"
    response = post(form_for(s3, bucket, key), data)
    assert response.status_code == 204, response.text
    assert response.headers["ETag"]
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    got = httpx.get(url, timeout=10)
    assert got.status_code == 200
    assert got.content == data


def test_one_byte_too_many_is_entity_too_large_and_nothing_is_stored(s3_runner, s3, bucket):
    key = "policy-e2e/too-large.txt"
    response = post(form_for(s3, bucket, key), b"x" * (SIZE + 1))
    assert response.status_code == 400
    error = error_of(response)
    assert error.findtext("Code") == "EntityTooLarge"
    assert error.findtext("ProposedSize") == str(SIZE + 1)
    assert error.findtext("MaxSizeAllowed") == str(SIZE)
    assert stored(s3_runner, bucket, key) == []


def test_another_content_type_is_403_and_nothing_is_stored(s3_runner, s3, bucket):
    key = "policy-e2e/html.txt"
    response = post(form_for(s3, bucket, key), b"<p>hi</p>", **{"Content-Type": "text/html"})
    assert response.status_code == 403
    error = error_of(response)
    assert error.findtext("Code") == "AccessDenied"
    assert "Policy Condition failed" in (error.findtext("Message") or "")
    assert stored(s3_runner, bucket, key) == []


def test_a_form_for_another_key_cannot_write_this_one(s3_runner, s3, bucket):
    form = form_for(s3, bucket, "policy-e2e/mine.txt")
    response = post(form, b"hello", key="policy-e2e/theirs.txt")
    assert response.status_code == 403
    assert error_of(response).findtext("Code") == "AccessDenied"
    assert stored(s3_runner, bucket, "policy-e2e/theirs.txt") == []
    assert stored(s3_runner, bucket, "policy-e2e/mine.txt") == []


def test_a_tampered_policy_is_signature_does_not_match(s3_runner, s3, bucket):
    key = "policy-e2e/tampered.txt"
    other = form_for(s3, bucket, key, Conditions=[["content-length-range", 1, 10**6]])
    form = form_for(s3, bucket, key)
    response = post(form, b"x" * 1000, policy=other["fields"]["policy"])
    assert response.status_code == 403
    assert error_of(response).findtext("Code") == "SignatureDoesNotMatch"
    assert stored(s3_runner, bucket, key) == []


def test_an_expired_form_is_refused(s3_runner, s3, bucket):
    key = "policy-e2e/expired.txt"
    form = s3.generate_presigned_post(bucket, key, ExpiresIn=-1)
    response = post(form, b"late")
    assert response.status_code == 403
    assert error_of(response).findtext("Message") == "Invalid according to Policy: Policy expired."
    assert stored(s3_runner, bucket, key) == []


def test_success_action_status_201_answers_a_post_response(s3_runner, s3, bucket):
    key = "policy-e2e/created.txt"
    form = s3.generate_presigned_post(
        bucket,
        key,
        Fields={"success_action_status": "201"},
        Conditions=[{"success_action_status": "201"}],
        ExpiresIn=300,
    )
    response = post(form, b"created")
    assert response.status_code == 201
    doc = ET.fromstring(response.content)  # noqa: S314 - the runner's own loopback answer
    assert doc.tag == "PostResponse"
    assert (doc.findtext("Bucket"), doc.findtext("Key")) == (bucket, key)
    assert doc.findtext("ETag") == response.headers["ETag"]
    assert stored(s3_runner, bucket, key) == [key]


def test_a_redirect_is_refused_loudly_rather_than_half_emulated(s3_runner, s3, bucket):
    key = "policy-e2e/redirect.txt"
    fields = {"success_action_redirect": "http://127.0.0.1:1/done"}
    form = s3.generate_presigned_post(
        bucket, key, Fields=fields, Conditions=[fields], ExpiresIn=300
    )
    response = post(form, b"x")
    assert response.status_code == 501
    assert error_of(response).findtext("Code") == "NotImplemented"
    assert stored(s3_runner, bucket, key) == []


def test_every_other_s3_call_passes_through_unchanged(s3_runner, s3, bucket):
    key = "policy-e2e/plain-put.bin"
    body = bytes(range(256)) * 1000
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/octet-stream")
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]]
    assert keys == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(s3.exceptions.ClientError) as missing:
        s3.head_object(Bucket=bucket, Key=key)
    assert missing.value.response["Error"]["Code"] == "404"


# ---- CORS: a browser page on the runner's origin uploads and downloads ------------------------


def page_origin(runner: LocalRunner) -> str:
    return runner.url  # http://127.0.0.1:<port>, where the runner serves the web app


def test_the_upload_preflight_is_allowed_for_the_pages_origin(s3_runner, s3, bucket):
    # Given the presigned form a page got from POST /documents
    form = form_for(s3, bucket, "cors/preflight.txt")
    # When the browser asks (XMLHttpRequest with an upload progress listener always preflights)
    response = httpx.options(
        form["url"],
        headers={
            "Origin": page_origin(s3_runner),
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    # Then S3 says yes, for that origin, as the bucket's CORS rule in the CDK app does
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == page_origin(s3_runner)
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "content-type"
    assert response.headers["Access-Control-Expose-Headers"] == "ETag"
    assert "Origin" in response.headers["Vary"]


def test_the_upload_answer_and_its_errors_are_readable_by_the_page(s3_runner, s3, bucket):
    origin = {"Origin": page_origin(s3_runner)}
    form = form_for(s3, bucket, "cors/upload.txt")
    stored_ok = httpx.post(
        form["url"], data=form["fields"], files={"file": ("a.txt", b"hello")}, headers=origin
    )
    assert stored_ok.status_code == 204
    assert stored_ok.headers["Access-Control-Allow-Origin"] == page_origin(s3_runner)
    assert stored(s3_runner, bucket, "cors/upload.txt") == ["cors/upload.txt"]
    # A refused upload (too large) is readable too, so the page can say why
    form = form_for(s3, bucket, "cors/too-big.txt")
    refused = httpx.post(
        form["url"],
        data=form["fields"],
        files={"file": ("a.txt", b"x" * (SIZE + 1))},
        headers=origin,
    )
    assert refused.status_code == 400
    assert refused.headers["Access-Control-Allow-Origin"] == page_origin(s3_runner)
    assert "EntityTooLarge" in refused.text
    # And a presigned download (a GET relayed to moto) carries the header as well
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "cors/upload.txt"}, ExpiresIn=60
    )
    download = httpx.get(url, headers=origin)
    assert download.status_code == 200
    assert download.content == b"hello"
    assert download.headers["Access-Control-Allow-Origin"] == page_origin(s3_runner)


def test_another_origin_gets_no_cors_and_its_preflight_is_refused(s3_runner, s3, bucket):
    form = form_for(s3, bucket, "cors/evil.txt")
    evil = {"Origin": "http://evil.example"}
    response = httpx.options(form["url"], headers={**evil, "Access-Control-Request-Method": "POST"})
    assert response.status_code == 403
    assert "AccessForbidden" in response.text
    assert "Access-Control-Allow-Origin" not in response.headers
    # A DELETE is no method of the rule, even from the page's origin
    response = httpx.options(
        form["url"],
        headers={"Origin": page_origin(s3_runner), "Access-Control-Request-Method": "DELETE"},
    )
    assert response.status_code == 403
    posted = httpx.post(
        form["url"], data=form["fields"], files={"file": ("a.txt", b"hi")}, headers=evil
    )
    assert "Access-Control-Allow-Origin" not in posted.headers
