"""S3 on loopback that enforces presigned POST policies, in front of moto.

moto stores any browser-style form POST without checking its policy, signature or expiry. This
proxy forwards every S3 request to moto unchanged (method, path, query, headers, body; the
response comes back as moto sent it), except form uploads: a ``multipart/form-data`` POST to
``/<bucket>`` (path style). Those are checked first the way S3 checks them (SigV4 signature of the
policy, expiration, every condition, no field left uncovered) and refused with S3's XML error
documents; a valid one goes on to moto, which stores the object and sends the bucket's
``ObjectCreated`` notification.

The checks are pure functions (:func:`parse_form`, :func:`check_post`, :func:`unemulated_fields`)
so that they can be tested without a server. A POST feature that moto would silently get wrong
(a redirect, SigV2, tagging, encryption, ...) is refused with a loud 501, never half-emulated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http.client
import json
import os
import posixpath
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_PRE_FILE_BYTES = 20 * 1024  # S3: the fields before the file may take 20 KB
# Never signed, never part of the policy (S3's rule for "Extra input fields").
EXEMPT_FIELDS = frozenset({"policy", "x-amz-signature", "file"})
IGNORED_PREFIX = "x-ignore-"
META_PREFIX = "x-amz-meta-"
# The fields S3 allows a "starts-with" condition on (besides x-amz-meta-*); the rest are exact.
STARTS_WITH_FIELDS = frozenset(
    {
        "acl",
        "cache-control",
        "content-type",
        "content-disposition",
        "content-encoding",
        "expires",
        "key",
        "success_action_redirect",
        "redirect",
    }
)
# The form fields whose effect moto reproduces (or that have none); any other field is refused
# with 501 once the policy has accepted it, rather than silently dropped.
EMULATED_FIELDS = frozenset(
    {
        "key",
        "bucket",
        "policy",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-signature",
        "x-amz-security-token",
        "success_action_status",
        "acl",
        "content-type",
        "cache-control",
        "content-disposition",
        "content-encoding",
        "content-language",
        "expires",
    }
)
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)


# ---- S3's errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Error:
    """One of S3's XML error documents: status, code, message and the code's extra elements."""

    status: int
    code: str
    message: str
    details: tuple[tuple[str, str], ...] = ()

    def xml(self, request_id: str, host_id: str) -> bytes:
        extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in self.details)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
            f"{extra}<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
        ).encode()


def access_denied(message: str) -> S3Error:
    return S3Error(403, "AccessDenied", message)


def invalid_argument(message: str, name: str, value: str = "") -> S3Error:
    return S3Error(
        400, "InvalidArgument", message, (("ArgumentName", name), ("ArgumentValue", value))
    )


def missing_field(name: str) -> S3Error:
    return invalid_argument(
        f"Bucket POST must contain a field named '{name}'.  "
        "If it is specified, please check the order of the fields.",
        name,
    )


def invalid_policy(message: str) -> S3Error:
    return S3Error(400, "InvalidPolicyDocument", message)


def not_emulated(what: str) -> S3Error:
    return S3Error(
        501,
        "NotImplemented",
        f"The local runner does not emulate {what} in a POST upload; "
        "moto would not do what S3 does with it.",
    )


MALFORMED_POST = S3Error(
    400,
    "MalformedPOSTRequest",
    "The body of your POST request is not well-formed multipart/form-data.",
)


class _Refused(Exception):
    def __init__(self, error: S3Error) -> None:
        super().__init__(error.code, error.message)
        self.error = error


# ---- the multipart form -----------------------------------------------------------------------


@dataclass(frozen=True)
class PostForm:
    """The fields before ``file`` (in order, as sent), and the file. Parts after the file are
    ignored, as S3 ignores them; ``file_end`` is where the file's part ends in the body."""

    fields: tuple[tuple[str, str], ...]
    file: bytes
    filename: str | None
    file_end: int
    ignored_after_file: tuple[str, ...] = ()


def boundary_of(content_type: str) -> str | None:
    """The boundary of a ``multipart/form-data`` content type, or None for any other type."""
    header = BytesHeaderParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    )
    if header.get_content_type() != "multipart/form-data":
        return None
    boundary = header.get_param("boundary", header="content-type")
    return boundary if isinstance(boundary, str) and boundary else None


def parse_form(content_type: str, body: bytes) -> PostForm | S3Error:
    """Parse a ``multipart/form-data`` body (RFC 7578) into a :class:`PostForm`."""
    boundary = boundary_of(content_type)
    if boundary is None:
        return MALFORMED_POST
    delimiter = b"--" + boundary.encode("latin-1")
    if body.startswith(delimiter):
        pos = len(delimiter)
    else:
        found = body.find(b"\r\n" + delimiter)
        if found < 0:
            return MALFORMED_POST
        pos = found + 2 + len(delimiter)
    fields: list[tuple[str, str]] = []
    seen: set[str] = set()
    file_part: tuple[bytes, str | None, int] | None = None
    after_file: list[str] = []
    while True:
        if body[pos : pos + 2] == b"--":
            break  # the closing delimiter
        line_end = body.find(b"\r\n", pos)
        if line_end < 0 or body[pos:line_end].strip(b" \t"):
            return MALFORMED_POST
        start = line_end + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            return MALFORMED_POST
        part = body[start:end]
        if part.startswith(b"\r\n"):
            head, content = b"", part[2:]
        else:
            head, sep, content = part.partition(b"\r\n\r\n")
            if not sep:
                return MALFORMED_POST
        headers = BytesHeaderParser(policy=HTTP).parsebytes(head + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        filename = headers.get_param("filename", header="content-disposition")
        if not isinstance(name, str) or headers.get_content_disposition() != "form-data":
            return MALFORMED_POST
        if file_part is not None:
            after_file.append(name)
        elif name.lower() == "file":
            file_part = (content, filename if isinstance(filename, str) else None, end)
        else:
            if name.lower() in seen:
                return not_emulated(f"a repeated form field ({name!r})")
            seen.add(name.lower())
            fields.append((name, content.decode("utf-8", "replace")))
        pos = end + 2 + len(delimiter)
    if file_part is None:
        return S3Error(
            400,
            "IncorrectNumberOfFilesInPostRequest",
            "POST requires exactly one file upload per request.",
        )
    content, filename, end = file_part
    return PostForm(tuple(fields), content, filename, end, tuple(after_file))


def forwarded_body(content_type: str, body: bytes, form: PostForm) -> bytes:
    """The body moto gets: as sent, less any part after the file (S3 ignores those)."""
    if not form.ignored_after_file:
        return body
    boundary = boundary_of(content_type) or ""
    return body[: form.file_end] + b"\r\n--" + boundary.encode("latin-1") + b"--\r\n"


# ---- SigV4 ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """What S3 knows about the caller's key: the runner's moto credentials."""

    access_key: str
    secret_key: str
    session_token: str | None = None
    region: str = "us-east-1"


def signing_key(secret_key: str, date: str, region: str, service: str = "s3") -> bytes:
    """SigV4's derived key: HMAC chain over the date (YYYYMMDD), region, service."""
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def policy_signature(policy_b64: str, secret_key: str, date: str, region: str) -> str:
    """The ``x-amz-signature`` of a POST policy: hex HMAC of the base64 policy."""
    key = signing_key(secret_key, date, region, "s3")
    return hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()


# ---- the policy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    op: str  # "eq", "starts-with", "content-length-range", or "" for one S3 cannot interpret
    field: str = ""  # lower-cased, without "$"
    value: str = ""
    low: int = 0
    high: int = 0
    shown: str = ""  # the condition as S3 quotes it in its error message


def _shown(elements: list[Any]) -> str:
    return "[" + ", ".join(json.dumps(e, ensure_ascii=False) for e in elements) + "]"


def parse_condition(raw: Any) -> Condition:
    """One entry of ``conditions``: ``{"field": "v"}`` (an ``eq``), ``[op, "$field", v]`` or
    ``["content-length-range", min, max]``. A condition of the wrong shape is kept and fails."""
    if isinstance(raw, dict):
        if len(raw) != 1:
            raise _Refused(
                invalid_policy(
                    "Invalid Policy: Invalid Simple-Condition: "
                    "Simple-Conditions must have exactly one property specified."
                )
            )
        ((name, value),) = raw.items()
        raw = ["eq", f"${name}", value]
    if not isinstance(raw, list):
        return Condition("", shown=json.dumps(raw, ensure_ascii=False))
    shown = _shown(raw)
    if len(raw) != 3:
        return Condition("", shown=shown)
    op, first, second = raw
    if op in ("eq", "starts-with"):
        if not (isinstance(first, str) and first.startswith("$") and isinstance(second, str)):
            return Condition("", shown=shown)
        return Condition(op, field=first[1:].lower(), value=second, shown=shown)
    if op == "content-length-range":
        bounds_ok = all(isinstance(b, int) and not isinstance(b, bool) for b in (first, second))
        if not bounds_ok:
            return Condition("", shown=shown)
        return Condition(op, low=first, high=second, shown=shown)
    return Condition("", shown=shown)


def parse_expiration(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Refused(invalid_policy("Invalid Policy: Invalid 'expiration' value."))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Refused(
            invalid_policy(f"Invalid Policy: Invalid 'expiration' value: '{value}'")
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _matches(condition: Condition, actual: str) -> bool:
    if condition.op == "eq":
        return actual == condition.value
    # starts-with; a Content-Type may be a comma-separated list: every entry must match
    if condition.field == "content-type":
        return all(v.strip().startswith(condition.value) for v in actual.split(","))
    return actual.startswith(condition.value)


def _starts_with_allowed(field: str) -> bool:
    return field in STARTS_WITH_FIELDS or field.startswith(META_PREFIX)


def stored_key(key: str, filename: str | None) -> str:
    """The object key: ``${filename}`` replaced by the uploaded file's name (as moto does)."""
    return key.replace("${filename}", posixpath.basename(filename or ""))


def check_post(
    bucket: str,
    fields: Mapping[str, str],
    *,
    file_size: int,
    credentials: Credentials,
    filename: str | None = None,
    now: datetime | None = None,
) -> S3Error | None:
    """S3's verdict on a POST upload to ``bucket`` with these form ``fields`` (all but ``file``)
    and a file of ``file_size`` bytes: None when S3 would store it, else S3's error."""
    try:
        _check(bucket, fields, file_size, credentials, filename, now or datetime.now(UTC))
    except _Refused as refused:
        return refused.error
    return None


def _check(
    bucket: str,
    fields: Mapping[str, str],
    file_size: int,
    credentials: Credentials,
    filename: str | None,
    now: datetime,
) -> None:
    form = {name.lower(): value for name, value in fields.items()}
    if "key" not in form:
        raise _Refused(missing_field("key"))
    policy_b64 = form.get("policy")
    if policy_b64 is None:
        if "awsaccesskeyid" in form or "signature" in form:
            raise _Refused(not_emulated("Signature Version 2"))
        raise _Refused(access_denied("Access Denied"))  # anonymous, and no bucket is public
    if "x-amz-signature" not in form and ("awsaccesskeyid" in form or "signature" in form):
        raise _Refused(not_emulated("Signature Version 2"))
    for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature"):
        if name.lower() not in form:
            raise _Refused(missing_field(name))
    _verify_signature(form, policy_b64, credentials)

    try:
        document = json.loads(base64.b64decode(policy_b64, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError):
        raise _Refused(invalid_policy("Invalid Policy: Invalid 'Base64' encoding.")) from None
    except ValueError:
        raise _Refused(invalid_policy("Invalid Policy: Invalid JSON.")) from None
    if not isinstance(document, dict):
        raise _Refused(invalid_policy("Invalid Policy: Invalid JSON."))
    if "expiration" not in document:
        raise _Refused(invalid_policy("Invalid Policy: Policy missing expiration."))
    if not isinstance(document.get("conditions"), list):
        raise _Refused(invalid_policy("Invalid Policy: Policy missing conditions."))
    expiration = parse_expiration(document["expiration"])
    conditions = [parse_condition(raw) for raw in document["conditions"]]
    if now > expiration:
        raise _Refused(access_denied("Invalid according to Policy: Policy expired."))

    values = dict(form)
    values["bucket"] = bucket
    values["key"] = stored_key(form["key"], filename)
    covered: set[str] = set()
    for condition in conditions:
        failed = access_denied(
            f"Invalid according to Policy: Policy Condition failed: {condition.shown}"
        )
        if condition.op == "content-length-range":
            if file_size < condition.low:
                raise _Refused(
                    S3Error(
                        400,
                        "EntityTooSmall",
                        "Your proposed upload is smaller than the minimum allowed size",
                        (("ProposedSize", str(file_size)), ("MinSizeAllowed", str(condition.low))),
                    )
                )
            if file_size > condition.high:
                raise _Refused(
                    S3Error(
                        400,
                        "EntityTooLarge",
                        "Your proposed upload exceeds the maximum allowed size",
                        (("ProposedSize", str(file_size)), ("MaxSizeAllowed", str(condition.high))),
                    )
                )
            continue
        if not condition.op:
            raise _Refused(failed)
        if condition.op == "starts-with" and not _starts_with_allowed(condition.field):
            raise _Refused(failed)
        if not _matches(condition, values.get(condition.field, "")):
            raise _Refused(failed)
        covered.add(condition.field)

    extra = [
        name
        for name, _ in fields.items()
        if name.lower() not in EXEMPT_FIELDS
        and not name.lower().startswith(IGNORED_PREFIX)
        and name.lower() not in covered
    ]
    if extra:
        raise _Refused(
            access_denied(f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")
        )


def _verify_signature(form: Mapping[str, str], policy_b64: str, creds: Credentials) -> None:
    if form["x-amz-algorithm"] != ALGORITHM:
        raise _Refused(
            invalid_argument(
                f'X-Amz-Algorithm only supports "{ALGORITHM}"',
                "X-Amz-Algorithm",
                form["x-amz-algorithm"],
            )
        )
    credential = form["x-amz-credential"]
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or len(parts[1]) != 8:
        raise _Refused(
            invalid_argument(
                "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
                'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
                "X-Amz-Credential",
                credential,
            )
        )
    access_key, date, region, service, _ = parts
    if access_key != creds.access_key:
        raise _Refused(
            S3Error(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                (("AWSAccessKeyId", access_key),),
            )
        )
    if region != creds.region or service != "s3":
        wrong, expected = (region, creds.region) if region != creds.region else (service, "s3")
        kind = "region" if region != creds.region else "service"
        raise _Refused(
            S3Error(
                400,
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; the {kind} '{wrong}' is wrong; "
                f"expecting '{expected}'",
                (("Region", creds.region),) if kind == "region" else (),
            )
        )
    if creds.session_token is not None:
        token = form.get("x-amz-security-token")
        if token is None:
            raise _Refused(
                S3Error(
                    403,
                    "InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records.",
                    (("AWSAccessKeyId", access_key),),
                )
            )
        if token != creds.session_token:
            raise _Refused(
                S3Error(
                    400, "InvalidToken", "The provided token is malformed or otherwise invalid."
                )
            )
    expected_signature = policy_signature(policy_b64, creds.secret_key, date, region)
    provided = form["x-amz-signature"]
    if not hmac.compare_digest(expected_signature, provided.lower()):
        raise _Refused(
            S3Error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                (
                    ("AWSAccessKeyId", access_key),
                    ("StringToSign", policy_b64),
                    ("SignatureProvided", provided),
                    ("StringToSignBytes", policy_b64.encode().hex(" ")),
                ),
            )
        )


def unemulated_fields(fields: Mapping[str, str]) -> S3Error | None:
    """501 for an accepted form that uses what moto would not do as S3 does."""
    odd = [
        name
        for name in fields
        if name.lower() not in EMULATED_FIELDS
        and not name.lower().startswith((META_PREFIX, IGNORED_PREFIX))
    ]
    return not_emulated(f"the form field(s) {', '.join(odd)}") if odd else None


def success_status(fields: Mapping[str, str]) -> int:
    """``success_action_status``: 200 or 201 when asked for, else S3's default 204."""
    asked = next((v for k, v in fields.items() if k.lower() == "success_action_status"), "")
    return int(asked) if asked in ("200", "201") else 204


# ---- CORS, as the bucket's rule in the CDK app says (infra/components/storage.py) -------------

#: What a browser on the web app's origin does with the bucket: POST the presigned upload form,
#: GET (or HEAD) a presigned download; it may read the ETag of what it uploaded.
CORS_METHODS = ("POST", "GET", "HEAD")
CORS_EXPOSE = "ETag"
CORS_MAX_AGE = "3600"
CORS_FORBIDDEN = S3Error(
    403,
    "AccessForbidden",
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
    "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
    "are not whitelisted by the resource's CORS spec.",
)


def cors_headers(origin: str | None, method: str, allowed: frozenset[str]) -> list[tuple[str, str]]:
    """The CORS headers S3 adds to a response for ``origin`` (none when no rule matches)."""
    if origin is None or origin not in allowed or method not in CORS_METHODS:
        return []
    return [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Methods", ", ".join(CORS_METHODS)),
        ("Access-Control-Expose-Headers", CORS_EXPOSE),
        ("Access-Control-Max-Age", CORS_MAX_AGE),
        ("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"),
    ]


def preflight(
    origin: str | None, method: str | None, request_headers: str | None, allowed: frozenset[str]
) -> tuple[int, list[tuple[str, str]]] | S3Error:
    """S3's answer to an OPTIONS preflight: 200 with the CORS headers, or 403 AccessForbidden.
    Every requested header is allowed (the rule's ``AllowedHeaders: *``)."""
    headers = cors_headers(origin, method or "", allowed)
    if not headers:
        return CORS_FORBIDDEN
    if request_headers:
        headers.append(("Access-Control-Allow-Headers", request_headers))
    return 200, headers


# ---- the server -------------------------------------------------------------------------------


def _ids() -> tuple[str, str]:
    return uuid.uuid4().hex[:16].upper(), base64.b64encode(os.urandom(48)).decode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        origin = self.headers.get("Origin")
        if self.command == "OPTIONS" and origin is not None:
            self._cors: list[tuple[str, str]] = []
            answer = preflight(
                origin,
                self.headers.get("Access-Control-Request-Method"),
                self.headers.get("Access-Control-Request-Headers"),
                self.server.allowed_origins,
            )
            if isinstance(answer, S3Error):
                self._send_error(answer)
            else:
                status, self._cors = answer
                self._send(status, [], b"")
            return
        self._cors = cors_headers(origin, self.command, self.server.allowed_origins)
        try:
            body = self._read_body()
        except ValueError:
            self._send_error(MALFORMED_POST)
            return
        try:
            if self.command == "POST":
                content_type = self.headers.get("Content-Type", "")
                if boundary_of(content_type) is not None:
                    self._form_upload(content_type, body)
                    return
            self._relay(self.command, self.path, self._headers(), body)
        except OSError as exc:  # moto went away
            print(f"! local S3 proxy could not reach moto: {exc!r}", flush=True)
            self._send_error(S3Error(503, "ServiceUnavailable", "moto is not reachable."))
        except Exception as exc:
            print(f"! local S3 proxy failed on {self.command} {self.path}: {exc!r}", flush=True)
            self._send_error(S3Error(500, "InternalError", "The local S3 proxy failed."))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _serve

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _headers(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]

    def _moto(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[http.client.HTTPResponse, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.moto_port, timeout=60)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            names = {k.lower() for k, _ in headers}
            for name, value in headers:
                if name.lower() != "content-length":
                    conn.putheader(name, value)
            if "host" not in names:
                conn.putheader("Host", f"127.0.0.1:{self.server.server_address[1]}")
            if body or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = b"" if method == "HEAD" else response.read()
            return response, data
        finally:
            conn.close()

    def _relay(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> None:
        response, data = self._moto(method, target, headers, body)
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            lower = name.lower()
            if lower in HOP_BY_HOP or (lower == "content-length" and method != "HEAD"):
                continue
            if lower.startswith("access-control-"):
                continue  # moto's own; the bucket's CORS rule is this proxy's (_send_cors)
            self.send_header(name, value)
        if method != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self._send_cors()
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def _form_upload(self, content_type: str, body: bytes) -> None:
        split = urlsplit(self.path)
        segments = split.path.strip("/").split("/")
        if split.query or len(segments) != 1 or not segments[0]:
            self._refuse(not_emulated("a form POST to anything but /<bucket> (path style)"))
            return
        bucket = unquote(segments[0])
        form = parse_form(content_type, body)
        if isinstance(form, S3Error):
            self._refuse(form)
            return
        if form.file_end - len(form.file) > MAX_PRE_FILE_BYTES:
            self._refuse(
                S3Error(
                    400,
                    "MaxPostPreDataLengthExceeded",
                    "Your POST request fields preceding the upload file were too large.",
                )
            )
            return
        fields = dict(form.fields)
        verdict = check_post(
            bucket,
            fields,
            file_size=len(form.file),
            credentials=self.server.credentials,
            filename=form.filename,
        ) or unemulated_fields(fields)
        if verdict is not None:
            self._refuse(verdict)
            return
        forwarded = forwarded_body(content_type, body, form)
        headers = [(k, v) for k, v in self._headers() if k.lower() != "content-length"]
        response, data = self._moto("POST", self.path, headers, forwarded)
        if not 200 <= response.status < 300:
            self._send(response.status, list(response.getheaders()), data)
            return
        self._upload_reply(bucket, fields, form.filename)

    def _upload_reply(self, bucket: str, fields: Mapping[str, str], filename: str | None) -> None:
        """S3's answer to a stored upload: 204 (or 200 / 201 with a ``PostResponse``)."""
        key = stored_key(next(v for k, v in fields.items() if k.lower() == "key"), filename)
        target = f"/{quote(bucket)}/{quote(key)}"
        etag = self.server.etag(bucket, key)
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        location = f"http://{host}{target}"
        status = success_status(fields)
        reply_headers = [("ETag", etag), ("Location", location)]
        body = b""
        if status == 201:
            reply_headers.append(("Content-Type", "application/xml"))
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<PostResponse><Location>{escape(location)}</Location>"
                f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
                f"<ETag>{escape(etag)}</ETag></PostResponse>"
            ).encode()
        self._send(status, reply_headers, body)

    def _refuse(self, error: S3Error) -> None:
        if error.status == 501:
            print(f"! local S3: {error.message}", flush=True)
        self._send_error(error)

    def _send_error(self, error: S3Error) -> None:
        request_id, host_id = _ids()
        headers = [
            ("Content-Type", "application/xml"),
            ("x-amz-request-id", request_id),
            ("x-amz-id-2", host_id),
        ]
        self._send(error.status, headers, error.xml(request_id, host_id))

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            lower = name.lower()
            if lower in HOP_BY_HOP or lower == "content-length":
                continue
            if not lower.startswith("access-control-"):  # see _relay
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self._send_cors()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_cors(self) -> None:
        """The CORS headers of a matched rule, on every answer (S3's errors included, so the
        page can read why an upload was refused)."""
        for name, value in self._cors:
            self.send_header(name, value)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log per S3 call, as for moto


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, moto_port: int, credentials: Credentials) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.moto_port = moto_port
        self.credentials = credentials
        self.allowed_origins: frozenset[str] = frozenset()  # the bucket's CORS rule
        self._client: Any = None
        self._lock = threading.Lock()

    def etag(self, bucket: str, key: str) -> str:
        """The stored object's ETag, asked of moto with a signed HEAD."""
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                creds = self.credentials
                self._client = boto3.Session(
                    aws_access_key_id=creds.access_key,
                    aws_secret_access_key=creds.secret_key,
                    aws_session_token=creds.session_token,
                    region_name=creds.region,
                ).client(
                    "s3",
                    endpoint_url=f"http://127.0.0.1:{self.moto_port}",
                    config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
                )
        etag: str = self._client.head_object(Bucket=bucket, Key=key)["ETag"]
        return etag


class S3Proxy:
    """The proxy on ``127.0.0.1:<free port>``, served from a background thread."""

    def __init__(self, moto_endpoint: str, credentials: Credentials) -> None:
        port = urlsplit(moto_endpoint).port
        if port is None:
            raise ValueError(f"moto endpoint without a port: {moto_endpoint}")
        self._server = _Server(port, credentials)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="s3-proxy", daemon=True
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def allow_origins(self, origins: set[str]) -> None:
        """The browser origins the bucket's CORS rule allows (the runner's, FRONTEND_ORIGIN)."""
        self._server.allowed_origins = frozenset(origins)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
