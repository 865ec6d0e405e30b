"""The Auth service's data access: refresh tokens and password-reset tokens (hashes only).

Plain functions on a session (the caller's unit of work). The spend operations are conditional
UPDATEs, so of two concurrent presentations of one token exactly one wins.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from shared.auth.models import PasswordResetToken, RefreshToken, RevokedToken
from shared.platform import db


def add_refresh_token(
    session: Session,
    *,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    token_hash: str,
    expires_at: datetime,
) -> None:
    session.add(
        RefreshToken(
            user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at
        )
    )


def refresh_token(session: Session, token_hash: str) -> RefreshToken | None:
    return session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


def spend_refresh_token(session: Session, token_id: uuid.UUID, *, now: datetime) -> bool:
    """Mark the token used; False when another presentation spent it first."""
    spent = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    return db.affected(spent) == 1


def revoke_family(session: Session, family_id: uuid.UUID, *, now: datetime) -> None:
    """Revoke every refresh token of a family."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_user_refresh_tokens(session: Session, user_id: uuid.UUID, *, now: datetime) -> None:
    """Revoke every refresh token of a user."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def reset_token(session: Session, token_hash: str) -> PasswordResetToken | None:
    return session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == token_hash)
    )


def put_reset_token(
    session: Session,
    *,
    token_id: uuid.UUID,
    user_id: uuid.UUID,
    token_hash: str,
    expires_at: datetime,
) -> None:
    """Store the reset token ``token_id``, replacing its hash and expiry if it exists (a retry
    after a failed send issues a new token under the same id)."""
    existing = session.get(PasswordResetToken, token_id)
    if existing is None:
        session.add(
            PasswordResetToken(
                id=token_id, user_id=user_id, token_hash=token_hash, expires_at=expires_at
            )
        )
    else:
        existing.token_hash = token_hash
        existing.expires_at = expires_at


def reset_tokens_issued(
    session: Session, user_id: uuid.UUID, *, since: datetime, other_than: uuid.UUID
) -> int:
    """How many reset tokens ``user_id`` was issued since ``since``, besides ``other_than``."""
    return (
        session.scalar(
            select(func.count())
            .select_from(PasswordResetToken)
            .where(
                PasswordResetToken.user_id == user_id,
                PasswordResetToken.created_at >= since,
                PasswordResetToken.id != other_than,
            )
        )
        or 0
    )


def spend_reset_token(session: Session, token_id: uuid.UUID, *, now: datetime) -> bool:
    """Mark the reset token used; False when it was used already."""
    spent = session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == token_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
    return db.affected(spent) == 1


def revoke_access_token(
    session: Session, *, jti: str, user_id: uuid.UUID, expires_at: datetime
) -> None:
    """Deny the access token ``jti`` until ``expires_at`` (again: no change, no error)."""
    from sqlalchemy.dialects.postgresql import insert

    session.execute(
        insert(RevokedToken)
        .values(jti=jti, user_id=user_id, expires_at=expires_at, revoked_at=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=["jti"])
    )


def delete_expired(session: Session, *, now: datetime, reset_kept_for: timedelta) -> dict[str, int]:
    """Delete expired refresh tokens, reset tokens issued over ``reset_kept_for`` ago (expired
    or used long since: the reset throttle counts the younger ones), and denylist entries of
    access tokens that have expired anyway (a minute after, beyond any leeway)."""
    refresh = session.execute(delete(RefreshToken).where(RefreshToken.expires_at < now))
    resets = session.execute(
        delete(PasswordResetToken).where(
            PasswordResetToken.created_at < now - reset_kept_for,
            or_(PasswordResetToken.expires_at < now, PasswordResetToken.used_at.is_not(None)),
        )
    )
    denied = session.execute(
        delete(RevokedToken).where(RevokedToken.expires_at < now - timedelta(minutes=1))
    )
    return {
        "refresh_tokens": db.affected(refresh),
        "reset_tokens": db.affected(resets),
        "revoked_tokens": db.affected(denied),
    }
