"""The Data service as a new user would try it, through the local runner over HTTP on real
Postgres and Redis: create, upload with curl, ingest, search, download, delete."""

from __future__ import annotations

import shutil
import subprocess
import time

import boto3
import httpx
import pytest

from tests.support.api import sign_up, with_role

pytestmark = pytest.mark.e2e

INVOICE = (
    "Invoice 1042 from Northwind Traders. The payment of 1,200 euros for consulting services is "
    "overdue since March. Please settle the outstanding balance by bank transfer within ten days "
    "to avoid late fees.\n\nThank you for your business."
)
HIKING = (
    "A guide to alpine hiking: pack water, a map and a warm layer. The ridge trail above the "
    "glacier lake offers views of the summit at sunrise."
)


def wait_for_status(client, account, document_id, wanted=("ready", "failed"), timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/documents/{document_id}", headers=account.headers).json()
        if body["status"] in wanted:
            return body
        time.sleep(0.25)
    raise AssertionError(f"document stayed {body['status']}")


def curl_upload(upload: dict, content: bytes, tmp_path, *, content_type: str | None = None):
    """POST the presigned form with curl -F, as the README tells a user to."""
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"]
    for name, value in upload["fields"].items():
        if name == "Content-Type" and content_type:
            value = content_type
        command += ["-F", f"{name}={value}"]
    command += ["-F", f"file=@{path}", upload["url"]]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30)
    return int(done.stdout)


def create(client, account, content: bytes, *, content_type="text/plain", title="Invoice"):
    response = client.post(
        "/documents",
        json={
            "title": title,
            "filename": "invoice.txt",
            "content_type": content_type,
            "size_bytes": len(content),
        },
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def search(client, account, query, **extra):
    response = client.post("/search", json={"query": query, **extra}, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["results"]


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@needs_curl
def test_upload_ingest_search_download_delete(client, stack, tmp_path):
    # Given a new user who creates a document and uploads its file with curl -F
    owner = sign_up(client)
    created = create(client, owner, INVOICE.encode())
    document = created["document"]
    assert document["status"] == "pending_upload"
    assert document["owner_id"] == owner.id
    assert curl_upload(created["upload"], INVOICE.encode(), tmp_path) in (200, 204)
    # Then the worker makes it ready within seconds
    ready = wait_for_status(client, owner, document["id"])
    assert ready["status"] == "ready", ready
    assert ready["chunk_count"] >= 1
    assert ready["error"] is None
    # And search finds it by meaning-bearing words, with the passage and a score
    results = search(client, owner, "unpaid invoice overdue payment")
    assert results
    assert results[0]["document_id"] == document["id"]
    assert "overdue" in results[0]["text"]
    assert results[0]["title"] == "Invoice"
    # And another user's search never returns it, even naming it
    stranger = sign_up(client)
    assert search(client, stranger, "invoice overdue", document_ids=[document["id"]]) == []
    assert client.get(f"/documents/{document['id']}", headers=stranger.headers).status_code == 404
    # And the download returns the same bytes
    link = client.get(f"/documents/{document['id']}/download", headers=owner.headers)
    assert link.status_code == 200
    assert httpx.get(link.json()["url"]).content == INVOICE.encode()
    # When the owner deletes it
    gone = client.delete(f"/documents/{document['id']}", headers=owner.headers)
    assert gone.status_code == 204
    # Then it vanishes from search, from the API and from S3
    assert all(r["document_id"] != document["id"] for r in search(client, owner, "invoice"))
    assert client.get(f"/documents/{document['id']}", headers=owner.headers).status_code == 404
    s3 = boto3.Session().client("s3", endpoint_url=stack.moto.endpoint)
    listed = s3.list_objects_v2(
        Bucket=stack.provisioned.buckets["uploads"], Prefix=f"uploads/{owner.id}/"
    )
    assert listed.get("KeyCount", 0) == 0


def test_a_text_document_is_queued_and_ingested(client):
    owner = sign_up(client)
    response = client.post(
        "/documents/text", json={"title": "Hike", "text": HIKING}, headers=owner.headers
    )
    assert response.status_code == 201
    assert response.json()["status"] == "queued"
    ready = wait_for_status(client, owner, response.json()["id"])
    assert ready["status"] == "ready"
    results = search(client, owner, "glacier ridge trail")
    assert results[0]["document_id"] == response.json()["id"]


@needs_curl
def test_s3_refuses_an_upload_over_the_declared_size_or_of_another_type(client, stack, tmp_path):
    owner = sign_up(client)
    created = create(client, owner, b"x" * 20)
    # One byte over size_bytes is refused by the policy, and nothing is stored
    assert curl_upload(created["upload"], b"x" * 21, tmp_path) == 400
    # Another content type too
    assert curl_upload(created["upload"], b"x" * 20, tmp_path, content_type="text/html") == 403
    s3 = boto3.Session().client("s3", endpoint_url=stack.moto.endpoint)
    key = f"uploads/{owner.id}/{created['document']['id']}"
    listed = s3.list_objects_v2(Bucket=stack.provisioned.buckets["uploads"], Prefix=key)
    assert listed.get("KeyCount", 0) == 0
    # And the download is a 409 while no file was uploaded
    download = client.get(f"/documents/{created['document']['id']}/download", headers=owner.headers)
    assert download.status_code == 409


@needs_curl
def test_a_corrupt_pdf_ends_failed_with_a_readable_error(client, tmp_path):
    owner = sign_up(client)
    corrupt = b"%PDF-1.7\n" + bytes(range(256)) * 4
    created = create(client, owner, corrupt, content_type="application/pdf")
    assert curl_upload(created["upload"], corrupt, tmp_path) in (200, 204)
    failed = wait_for_status(client, owner, created["document"]["id"])
    assert failed["status"] == "failed"
    assert failed["error"]
    assert "PDF" in failed["error"]
    assert "Traceback" not in failed["error"]


def test_documents_rbac(client):
    owner, viewer = sign_up(client), with_role(client, "viewer")
    # A viewer cannot write documents
    for method, path, body in [
        ("POST", "/documents/text", {"title": "t", "text": "x"}),
        (
            "POST",
            "/documents",
            {"title": "t", "filename": "a.txt", "content_type": "text/plain", "size_bytes": 1},
        ),
    ]:
        response = client.request(method, path, json=body, headers=viewer.headers)
        assert response.status_code == 403, (path, response.text)
    # But may search its own (empty) documents
    assert search(client, viewer, "anything") == []
    # An admin reads anyone's document but cannot change it
    document = client.post(
        "/documents/text", json={"title": "Mine", "text": HIKING}, headers=owner.headers
    ).json()
    from tests.support.api import admin

    boss = admin(client)
    assert client.get(f"/documents/{document['id']}", headers=boss.headers).status_code == 200
    renamed = client.patch(
        f"/documents/{document['id']}", json={"title": "Theirs"}, headers=boss.headers
    )
    assert renamed.status_code == 403
    # Another member sees nothing of it
    other = sign_up(client)
    for method in ("GET", "DELETE"):
        response = client.request(method, f"/documents/{document['id']}", headers=other.headers)
        assert response.status_code == 404
    assert (
        client.get(f"/documents/{document['id']}", headers=owner.headers).json()["title"] == "Mine"
    )


def test_bad_input_is_a_422_problem(client):
    owner = sign_up(client)
    cases = [
        {
            "title": "t",
            "filename": "a.exe",
            "content_type": "application/x-msdownload",
            "size_bytes": 1,
        },
        {"title": "t", "filename": "a.txt", "content_type": "text/plain", "size_bytes": 0},
        {
            "title": "t",
            "filename": "a.txt",
            "content_type": "text/plain",
            "size_bytes": 10 * 1024 * 1024 + 1,
        },
        {"title": "t", "filename": "../a.txt", "content_type": "text/plain", "size_bytes": 1},
        {"title": "t", "filename": "a.txt", "content_type": "text/plain", "size_bytes": 1, "x": 1},
    ]
    for body in cases:
        response = client.post("/documents", json=body, headers=owner.headers)
        assert response.status_code == 422, body
        assert response.headers["Content-Type"] == "application/problem+json"
    too_long = client.post("/search", json={"query": "x" * 2001}, headers=owner.headers)
    assert too_long.status_code == 422
    bad_k = client.post("/search", json={"query": "x", "top_k": 51}, headers=owner.headers)
    assert bad_k.status_code == 422
    listing = client.get("/documents?status=bogus", headers=owner.headers)
    assert listing.status_code == 422


def test_listing_is_own_newest_first_with_status_filter_and_cursor(client):
    owner, other = sign_up(client), sign_up(client)
    ids = []
    for n in range(3):
        response = client.post(
            "/documents/text", json={"title": f"n{n}", "text": HIKING}, headers=owner.headers
        )
        ids.append(response.json()["id"])
    client.post("/documents/text", json={"title": "x", "text": HIKING}, headers=other.headers)
    first = client.get("/documents?limit=2", headers=owner.headers).json()
    assert [d["id"] for d in first["items"]] == ids[::-1][:2]
    second = client.get(
        f"/documents?limit=2&cursor={first['next_cursor']}", headers=owner.headers
    ).json()
    assert [d["id"] for d in second["items"]] == ids[:1]
    assert second["next_cursor"] is None
    foreign = client.get(f"/documents?limit=2&cursor={first['next_cursor']}", headers=other.headers)
    assert foreign.status_code == 422
    for document_id in ids:
        wait_for_status(client, owner, document_id)
    ready = client.get("/documents?status=ready&limit=100", headers=owner.headers).json()
    assert {d["id"] for d in ready["items"]} == set(ids)
