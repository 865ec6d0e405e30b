"""The hourly maintenance job: expired tokens, and uploads that never came."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select

from shared.models import Document, PasswordResetToken, RefreshToken
from shared.platform import aws, db
from shared.platform.settings import Storage, get_settings

ABANDONED_AFTER = timedelta(hours=24)


def run(now: datetime | None = None) -> dict[str, int]:
    """Delete expired refresh and reset tokens, and documents left ``pending_upload`` for over
    a day with their objects (a late upload may have landed). Returns what was removed."""
    now = now or datetime.now(UTC)
    with db.session_scope() as session:
        refresh = session.execute(delete(RefreshToken).where(RefreshToken.expires_at < now))
        resets = session.execute(
            delete(PasswordResetToken).where(
                or_(PasswordResetToken.expires_at < now, PasswordResetToken.used_at.is_not(None))
            )
        )
        abandoned = list(
            session.scalars(
                select(Document).where(
                    Document.status == "pending_upload",
                    Document.created_at < now - ABANDONED_AFTER,
                )
            )
        )
        bucket = get_settings(Storage).uploads_bucket
        for document in abandoned:
            aws.client("s3").delete_object(Bucket=bucket, Key=document.s3_key)
            session.delete(document)
        return {
            "refresh_tokens": refresh.rowcount,  # type: ignore[attr-defined]
            "reset_tokens": resets.rowcount,  # type: ignore[attr-defined]
            "abandoned_documents": len(abandoned),
        }
