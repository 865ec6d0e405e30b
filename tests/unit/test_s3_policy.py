"""The local S3 proxy's presigned POST checks, as pure functions, on forms boto3 itself signs."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from local.s3proxy import (
    Credentials,
    PostForm,
    S3Error,
    check_post,
    forwarded_body,
    parse_form,
    policy_signature,
    success_status,
    unemulated_fields,
)

CREDS = Credentials(access_key="AKIDEXAMPLE", secret_key="fake-secret")
BUCKET = "stratus-local-uploads"
KEY = "u1/doc.txt"


def s3_client(creds: Credentials = CREDS):
    session = boto3.Session(
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.session_token,
        region_name="us-east-1",
    )
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return session.client("s3", endpoint_url="http://127.0.0.1:1", config=config)


def presigned(
    key: str = KEY, expires: int = 300, creds: Credentials = CREDS, **kw
) -> dict[str, str]:
    kw.setdefault("Fields", {"Content-Type": "text/plain"})
    kw.setdefault("Conditions", [["content-length-range", 1, 100], {"Content-Type": "text/plain"}])
    post = s3_client(creds).generate_presigned_post(BUCKET, key, ExpiresIn=expires, **kw)
    fields: dict[str, str] = post["fields"]
    return fields


def verdict(fields: dict[str, str], size: int = 100, **kw) -> S3Error | None:
    kw.setdefault("credentials", CREDS)
    return check_post(BUCKET, fields, file_size=size, **kw)


def test_a_form_boto3_signed_is_accepted_up_to_the_maximum_size():
    assert verdict(presigned(), size=100) is None
    assert verdict(presigned(), size=1) is None


def test_one_byte_over_the_maximum_is_entity_too_large():
    error = verdict(presigned(), size=101)
    assert error is not None
    assert (error.status, error.code) == (400, "EntityTooLarge")
    assert dict(error.details) == {"ProposedSize": "101", "MaxSizeAllowed": "100"}


def test_under_the_minimum_is_entity_too_small():
    error = verdict(presigned(), size=0)
    assert error is not None
    assert (error.status, error.code) == (400, "EntityTooSmall")
    assert dict(error.details) == {"ProposedSize": "0", "MinSizeAllowed": "1"}


def test_another_content_type_fails_the_condition():
    error = verdict({**presigned(), "Content-Type": "text/html"})
    assert error is not None
    assert (error.status, error.code) == (403, "AccessDenied")
    assert error.message == (
        "Invalid according to Policy: Policy Condition failed: "
        '["eq", "$Content-Type", "text/plain"]'
    )


def test_a_missing_content_type_fails_the_condition_too():
    fields = {k: v for k, v in presigned().items() if k != "Content-Type"}
    error = verdict(fields)
    assert error is not None
    assert error.code == "AccessDenied"


def test_another_key_fails_the_condition():
    error = verdict({**presigned(), "key": "u2/someone-elses.txt"})
    assert error is not None
    assert (error.status, error.code) == (403, "AccessDenied")
    assert error.message.endswith('["eq", "$key", "u1/doc.txt"]')


def test_another_bucket_fails_the_condition():
    error = check_post("other-bucket", presigned(), file_size=10, credentials=CREDS)
    assert error is not None
    assert error.message.endswith(f'["eq", "$bucket", "{BUCKET}"]')


def test_a_tampered_policy_does_not_match_its_signature():
    fields = presigned()
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"][0] = ["content-length-range", 1, 10**9]
    fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    error = verdict(fields, size=10**6)
    assert error is not None
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")
    details = dict(error.details)
    assert details["StringToSign"] == fields["policy"]
    assert details["SignatureProvided"] == fields["x-amz-signature"]


def test_a_form_signed_with_another_secret_does_not_match():
    other = Credentials(access_key=CREDS.access_key, secret_key="not-the-secret")
    error = verdict(presigned(creds=other))
    assert error is not None
    assert error.code == "SignatureDoesNotMatch"


def test_an_unknown_access_key_is_refused():
    other = Credentials(access_key="AKIDOTHER", secret_key=CREDS.secret_key)
    error = verdict(presigned(creds=other))
    assert error is not None
    assert (error.status, error.code) == (403, "InvalidAccessKeyId")


def test_an_expired_policy_is_refused():
    error = verdict(presigned(expires=-1))
    assert error is not None
    assert (error.status, error.message) == (403, "Invalid according to Policy: Policy expired.")


def test_expiry_is_judged_at_the_injected_now():
    fields = presigned(expires=60)
    assert verdict(fields, now=datetime.now(UTC) + timedelta(seconds=30)) is None
    error = verdict(fields, now=datetime.now(UTC) + timedelta(seconds=120))
    assert error is not None
    assert error.message == "Invalid according to Policy: Policy expired."


def test_a_field_no_condition_covers_is_an_extra_input_field():
    error = verdict({**presigned(), "x-amz-meta-owner": "mallory"})
    assert error is not None
    assert (error.status, error.code) == (403, "AccessDenied")
    assert error.message == "Invalid according to Policy: Extra input fields: x-amz-meta-owner"


def test_x_ignore_fields_need_no_condition():
    assert verdict({**presigned(), "x-ignore-note": "anything"}) is None


def test_field_names_are_case_insensitive():
    fields = presigned()
    fields["content-type"] = fields.pop("Content-Type")
    assert verdict(fields) is None


def test_starts_with_on_the_key_and_filename_substitution():
    fields = presigned(key="u1/${filename}", Fields={}, Conditions=[])
    assert verdict(fields, filename="notes.txt") is None
    error = check_post(BUCKET, {**fields, "key": "u2/${filename}"}, file_size=1, credentials=CREDS)
    assert error is not None
    assert error.message.endswith('["starts-with", "$key", "u1/"]')


def test_starts_with_a_content_type_list_needs_every_entry_to_match():
    fields = presigned(
        Fields={"Content-Type": "image/png,image/gif"},
        Conditions=[["starts-with", "$Content-Type", "image/"]],
    )
    assert verdict(fields) is None
    fields = presigned(
        Fields={"Content-Type": "image/png,text/plain"},
        Conditions=[["starts-with", "$Content-Type", "image/"]],
    )
    assert verdict(fields) is not None


def test_starts_with_is_refused_on_exact_only_fields():
    fields = presigned(
        Fields={"success_action_status": "201"},
        Conditions=[["starts-with", "$success_action_status", ""]],
    )
    error = verdict(fields)
    assert error is not None
    assert error.code == "AccessDenied"


def test_the_session_token_must_be_the_callers():
    creds = Credentials(access_key="AKID", secret_key="s", session_token="token-1")
    assert verdict(presigned(creds=creds), credentials=creds) is None
    other = Credentials(access_key="AKID", secret_key="s", session_token="token-2")
    error = verdict(presigned(creds=other), credentials=creds)
    assert error is not None
    assert error.code == "InvalidToken"


def test_missing_signing_fields_are_named_as_s3_names_them():
    fields = {k: v for k, v in presigned().items() if k != "x-amz-signature"}
    error = verdict(fields)
    assert error is not None
    assert (error.status, error.code) == (400, "InvalidArgument")
    assert "'X-Amz-Signature'" in error.message
    error = verdict({k: v for k, v in presigned().items() if k != "key"})
    assert error is not None
    assert "'key'" in error.message


def test_an_anonymous_post_is_access_denied():
    error = verdict({"key": KEY})
    assert error is not None
    assert (error.status, error.code, error.message) == (403, "AccessDenied", "Access Denied")


def test_the_signature_is_the_hmac_of_the_base64_policy():
    fields = presigned()
    _, date, region, _, _ = fields["x-amz-credential"].split("/")
    assert (
        policy_signature(fields["policy"], CREDS.secret_key, date, region)
        == (fields["x-amz-signature"])
    )


def test_an_error_is_s3s_xml_document():
    error = verdict(presigned(), size=101)
    assert error is not None
    root = ET.fromstring(error.xml("REQ", "HOST"))  # noqa: S314 - built by the test
    assert root.tag == "Error"
    assert root.findtext("Code") == "EntityTooLarge"
    assert root.findtext("MaxSizeAllowed") == "100"
    assert root.findtext("RequestId") == "REQ"


# ---- the multipart form ------------------------------------------------------------------------


def multipart(
    fields: dict[str, Any], file: bytes, after: dict[str, str] | None = None
) -> tuple[str, bytes]:
    """A form as httpx (like curl -F or a browser) encodes it: fields, then the file."""
    request = httpx.Request(
        "POST", "http://s3.local/bucket", data=fields, files={"file": ("a.txt", file)}
    )
    body = request.read()
    content_type = request.headers["Content-Type"]
    if after:
        boundary = content_type.split("boundary=")[1].encode()
        extra = b"".join(
            b'Content-Disposition: form-data; name="%s"\r\n\r\n%s\r\n--%s'
            % (k.encode(), v.encode(), boundary)
            for k, v in after.items()
        )
        body = body.replace(b"--" + boundary + b"--", b"--" + boundary + b"\r\n" + extra + b"--")
    return content_type, body


def test_a_form_parses_into_its_fields_in_order_and_the_exact_file_bytes():
    payload = b"line one\r\n--not-a-boundary\r\n\x00\xff binary"
    content_type, body = multipart({"key": KEY, "Content-Type": "text/plain"}, payload)
    form = parse_form(content_type, body)
    assert isinstance(form, PostForm)
    assert form.fields == (("key", KEY), ("Content-Type", "text/plain"))
    assert form.file == payload
    assert form.filename == "a.txt"
    assert forwarded_body(content_type, body, form) == body


def test_parts_after_the_file_are_ignored_and_not_forwarded():
    content_type, body = multipart({"key": KEY}, b"data", after={"x-amz-meta-late": "1"})
    form = parse_form(content_type, body)
    assert isinstance(form, PostForm)
    assert form.fields == (("key", KEY),)
    assert form.ignored_after_file == ("x-amz-meta-late",)
    forwarded = forwarded_body(content_type, body, form)
    assert b"x-amz-meta-late" not in forwarded
    again = parse_form(content_type, forwarded)
    assert isinstance(again, PostForm)
    assert again.file == b"data"


def test_a_form_without_a_file_is_refused():
    request = httpx.Request("POST", "http://s3.local/b", data={"key": KEY}, files={"x": b"1"})
    body = request.read()
    form = parse_form(request.headers["Content-Type"], body)
    assert isinstance(form, S3Error)
    assert form.code == "IncorrectNumberOfFilesInPostRequest"


def test_a_body_that_is_not_multipart_is_malformed():
    form = parse_form("multipart/form-data; boundary=xyz", b"key=u1/doc.txt")
    assert isinstance(form, S3Error)
    assert (form.status, form.code) == (400, "MalformedPOSTRequest")


def test_a_repeated_field_is_refused_loudly():
    content_type, body = multipart({"key": [KEY, "u2/x"]}, b"data")
    form = parse_form(content_type, body)
    assert isinstance(form, S3Error)
    assert form.status == 501


@pytest.mark.parametrize(
    "field", ["success_action_redirect", "redirect", "tagging", "x-amz-storage-class"]
)
def test_fields_moto_would_mishandle_are_a_loud_501(field):
    error = unemulated_fields({**presigned(), field: "x"})
    assert error is not None
    assert (error.status, error.code) == (501, "NotImplemented")
    assert field in error.message


def test_the_fields_moto_handles_are_not_refused():
    fields = {**presigned(), "acl": "private", "x-amz-meta-a": "1", "success_action_status": "201"}
    assert unemulated_fields(fields) is None


@pytest.mark.parametrize(("asked", "status"), [("200", 200), ("201", 201), ("204", 204), ("", 204)])
def test_success_action_status(asked, status):
    fields = {"success_action_status": asked} if asked else {}
    assert success_status(fields) == status
    assert success_status({"success_action_status": "404"}) == 204
