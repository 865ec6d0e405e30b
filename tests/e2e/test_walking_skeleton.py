"""The walking skeleton through the local runner over HTTP, as a newcomer would try it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_health_is_200_and_echoes_the_callers_request_id(api):
    # When a client calls /health with its own request id
    response = api.get("/health", headers={"X-Request-Id": "abc"})
    # Then it is 200, with the contract's body and the same request id
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert isinstance(response.json()["version"], str)
    assert response.headers["X-Request-Id"] == "abc"


def test_health_generates_a_request_id_when_the_caller_sends_none(api):
    response = api.get("/health")
    assert response.status_code == 200
    assert 1 <= len(response.headers["X-Request-Id"]) <= 128


def test_an_unknown_path_is_a_404_problem_document(api):
    response = api.get("/no/such/thing", headers={"X-Request-Id": "req-404"})
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["request_id"] == response.headers["X-Request-Id"]  # API Gateway's own id
    assert set(body) == {"type", "title", "status", "detail", "request_id"}


def test_a_known_path_with_another_method_is_also_a_404_problem(api):
    response = api.post("/health")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


def test_the_openapi_document_lists_the_declared_routes(api):
    doc = api.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "get" in doc["paths"]["/health"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_docs_page_is_served(api):
    response = api.get("/docs")
    assert response.status_code == 200
    assert "/openapi.json" in response.text


def test_a_body_over_api_gateways_10_mb_limit_is_a_413_problem(api):
    response = api.post(
        "/health",
        content=b"x" * (10 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 413


def test_presigned_urls_from_a_function_work_from_any_http_client(runner):
    # Given the S3 client a function gets, pointed at the runner's moto
    import httpx

    from shared.platform import aws

    s3 = aws.client("s3")
    bucket = runner.provisioned.buckets["uploads"]
    post = s3.generate_presigned_post(bucket, "u1/hello.txt", ExpiresIn=300)
    # When a plain HTTP client posts the form and then follows the presigned GET
    assert post["url"].startswith("http://127.0.0.1:")
    stored = httpx.post(post["url"], data=post["fields"], files={"file": b"hello, stratus"})
    assert stored.status_code in (200, 204)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "u1/hello.txt"}, ExpiresIn=300
    )
    # Then the same bytes come back
    assert httpx.get(url).content == b"hello, stratus"
