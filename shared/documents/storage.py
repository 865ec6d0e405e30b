"""The Data service's files: one S3 object per document, under its owner's prefix.

Every function here is one S3 call (or one page-wise listing); the bucket is the declared
``uploads`` bucket (``UPLOADS_BUCKET``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.platform import aws
from shared.platform.settings import Storage, get_settings

if TYPE_CHECKING:
    from shared.platform.outbox import ObjectPut


def object_key(owner_id: uuid.UUID, document_id: uuid.UUID) -> str:
    """Where a document's file lives: unique per upload, under its owner's prefix."""
    return f"uploads/{owner_id}/{document_id}"


def owner_prefix(owner_id: uuid.UUID) -> str:
    return f"uploads/{owner_id}/"


def bucket_name() -> str:
    """The uploads bucket's name."""
    return get_settings(Storage).uploads_bucket


_bucket = bucket_name


def presigned_post(key: str, *, content_type: str, max_bytes: int, ttl: int) -> dict[str, Any]:
    """A form upload of one file to ``key``: the content type pinned, at most ``max_bytes``."""
    post: dict[str, Any] = aws.client("s3").generate_presigned_post(
        _bucket(),
        key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
        ExpiresIn=ttl,
    )
    return post


def presigned_get(key: str, *, filename: str, ttl: int) -> str:
    """A download link of the object, saved as ``filename``."""
    safe_name = filename.replace('"', "")
    url: str = aws.client("s3").generate_presigned_url(
        "get_object",
        Params={
            "Bucket": _bucket(),
            "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{safe_name}"',
        },
        ExpiresIn=ttl,
    )
    return url


def put_text_effect(key: str, text: str) -> ObjectPut:
    """The outbox effect that stores ``text`` (UTF-8) at ``key``: written in the transaction
    that creates its document, put once that commits (and by the relay if S3 failed)."""
    from shared.platform import outbox

    return outbox.object_put(_bucket(), key, text, content_type="text/plain; charset=utf-8")


def exists(key: str) -> bool:
    """True when the object is in the bucket."""
    from botocore.exceptions import ClientError

    try:
        aws.client("s3").head_object(Bucket=_bucket(), Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


class Missing(Exception):
    """The object is not in the bucket."""


@dataclass(frozen=True)
class Stored:
    """An object's bytes and its ETag (unquoted, as S3 events carry it)."""

    data: bytes
    etag: str


def read(key: str) -> Stored:
    """The object's bytes and ETag; :class:`Missing` when there is none."""
    from botocore.exceptions import ClientError

    try:
        response = aws.client("s3").get_object(Bucket=_bucket(), Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            raise Missing(key) from None
        raise
    data: bytes = response["Body"].read()
    return Stored(data=data, etag=str(response.get("ETag", "")).strip('"'))


def delete(key: str) -> None:
    """Delete the object (a no-op when it is gone)."""
    aws.client("s3").delete_object(Bucket=_bucket(), Key=key)


def delete_prefix(prefix: str) -> int:
    """Delete every object under ``prefix``; returns how many."""
    s3 = aws.client("s3")
    bucket = _bucket()
    removed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            removed += len(keys)
    return removed
