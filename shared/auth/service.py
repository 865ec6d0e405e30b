"""The Auth service's rules: plain functions on a database session, no HTTP or Lambda in sight.

Queries live in ``shared.auth.repository`` (tokens) and ``shared.users.repository`` (accounts).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from shared.auth import passwords, repository, revocation, tokens
from shared.auth.schemas import LoginRequest, PasswordChange, RegisterRequest, TokenPair
from shared.platform import observability, outbox
from shared.platform.errors import (
    Conflict,
    Forbidden,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from shared.platform.identity import Principal
from shared.platform.observability import logger
from shared.platform.settings import Signing, get_settings
from shared.users import repository as users
from shared.users.models import User

RESET_TOKEN_TTL = timedelta(minutes=30)
#: A stored refresh token's expiry is computed just before its row's created_at is stamped.
REFRESH_LIFETIME_SLACK = timedelta(seconds=5)
#: At most this many reset emails per account within :data:`RESET_WINDOW`: more requests still
#: get their 202, but send nothing. Counted in Postgres (the reset tokens issued), so a Redis
#: loss does not reset the count.
RESET_MAILS_PER_WINDOW = 3
RESET_WINDOW = timedelta(hours=1)


class ResetThrottled(Exception):
    """The account was sent :data:`RESET_MAILS_PER_WINDOW` reset emails within the window."""


INVALID_LOGIN = "The email or password is not correct."
INVALID_REFRESH = "The refresh token is not valid."


def _now() -> datetime:
    return datetime.now(UTC)


def register(session: Session, data: RegisterRequest) -> User:
    """Create a member account; 409 when the email is taken."""
    taken = Conflict("An account with this email already exists.")
    if users.email_taken(session, data.email):
        raise taken
    user = User(
        email=data.email,
        name=data.name.strip(),
        password_hash=passwords.hash_password(data.password),
        role="member",
    )
    try:
        users.add(session, user)
    except users.EmailTaken:  # a concurrent registration won the race
        raise taken from None
    from shared.notifications.messages import notify

    notify(session, user_id=user.id, kind="welcome", data={"name": user.name})
    observability.count(observability.SIGN_UPS)
    return user


def issue_session(session: Session, user: User, *, family_id: uuid.UUID | None = None) -> TokenPair:
    """A new access token and a refresh token (in a new family unless one is given)."""
    settings = get_settings(Signing)
    access, expires_in = tokens.issue_access_token(
        user_id=str(user.id), role=user.role, version=user.token_version
    )
    refresh = tokens.new_refresh_token()
    repository.add_refresh_token(
        session,
        user_id=user.id,
        family_id=family_id or uuid.uuid4(),
        token_hash=tokens.hash_token(refresh),
        expires_at=_now() + timedelta(seconds=settings.refresh_token_ttl_seconds),
    )
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)


def login(session: Session, data: LoginRequest) -> TokenPair:
    """Log in. Unknown email, wrong password and a deactivated account look the same (401);
    after five failures for an email within 15 minutes every attempt is 429, whatever the
    password. Throttling fails closed: with Redis unreachable, login is 503."""
    from shared.platform import cache, ratelimit

    redis = cache.redis()
    try:
        blocked = ratelimit.login_blocked(redis, data.email)
    except ratelimit.RateLimitUnavailable:
        raise ServiceUnavailable(
            "Sign-in is unavailable right now: retry shortly.", headers={"Retry-After": "5"}
        ) from None
    if blocked is not None:
        raise TooManyRequests(
            "Too many failed sign-ins for this email: retry later.", retry_after=blocked
        )
    user = authenticate(session, data)
    try:
        if user is None:
            ratelimit.record_login_failure(redis, data.email)
        else:
            ratelimit.clear_login_failures(redis, data.email)
    except ratelimit.RateLimitUnavailable:
        logger.warning("Could not record the login attempt")
    if user is None:
        observability.count(observability.FAILED_LOGINS)
        raise Unauthorized(INVALID_LOGIN)
    observability.count(observability.LOGINS)
    return issue_session(session, user)


def authenticate(session: Session, data: LoginRequest) -> User | None:
    """The active user with these credentials, or None; the same work either way."""
    user = users.by_email(session, data.email)
    ok = passwords.verify_password(user.password_hash if user else None, data.password)
    if not ok or user is None or not user.is_active:
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(data.password)
    return user


def refresh(session: Session, refresh_token: str) -> TokenPair:
    """Rotate a refresh token. A spent one presented again revokes its whole family."""
    stored = repository.refresh_token(session, tokens.hash_token(refresh_token))
    if stored is None:
        raise Unauthorized(INVALID_REFRESH)
    user_id = stored.user_id
    if stored.used_at is not None and stored.revoked_at is None:
        revoke_family(session, stored.family_id)  # replay of a spent token
        session.commit()
        logger.warning("Refresh token replayed: family revoked", extra={"user": str(user_id)})
        raise Unauthorized(INVALID_REFRESH)
    if stored.revoked_at is not None or stored.expires_at <= _now():
        raise Unauthorized(INVALID_REFRESH)
    lifetime = timedelta(seconds=get_settings(Signing).refresh_token_ttl_seconds)
    if stored.expires_at - stored.created_at > lifetime + REFRESH_LIFETIME_SLACK:
        raise Unauthorized(INVALID_REFRESH)  # longer-lived than the configured TTL allows
    # Spend it atomically: of two concurrent presentations, exactly one wins.
    if not repository.spend_refresh_token(session, stored.id, now=_now()):
        revoke_family(session, stored.family_id)
        session.commit()  # the revocation stands, although the request fails
        logger.warning("Refresh token replayed: family revoked", extra={"user": str(user_id)})
        raise Unauthorized(INVALID_REFRESH)
    user = users.get(session, stored.user_id)
    if user is None or not user.is_active:
        raise Unauthorized(INVALID_REFRESH)
    return issue_session(session, user, family_id=stored.family_id)


def revoke_family(session: Session, family_id: uuid.UUID) -> None:
    """Revoke every refresh token of a family."""
    repository.revoke_family(session, family_id, now=_now())


def logout(session: Session, principal: Principal, refresh_token: str | None) -> None:
    """End this session: its access token now, and its refresh token's family if given.

    The access token goes on the denylist in Postgres, in this transaction; its cached state
    in Redis is dropped through the outbox once it commits."""
    if principal.jti and principal.expires_at:
        repository.revoke_access_token(
            session,
            jti=principal.jti,
            user_id=principal.user_id,
            expires_at=datetime.fromtimestamp(principal.expires_at, UTC),
        )
        outbox.add(session, revocation.invalidation_of_token(principal.jti))
    if refresh_token:
        stored = repository.refresh_token(session, tokens.hash_token(refresh_token))
        if stored is not None and stored.user_id == principal.user_id:
            revoke_family(session, stored.family_id)


def revoke_all_sessions(session: Session, user: User) -> None:
    """Every access and refresh token of ``user`` stops working at once."""
    user.token_version += 1
    repository.revoke_user_refresh_tokens(session, user.id, now=_now())
    session.flush()
    outbox.add(session, revocation.invalidation_of_user(user.id))


def change_password(session: Session, principal: Principal, data: PasswordChange) -> None:
    """Change the caller's password; every session of the user is revoked."""
    user = users.get(session, principal.user_id)
    if user is None:
        raise Unauthorized()
    if not passwords.verify_password(user.password_hash, data.current_password):
        raise Forbidden("The current password is not correct.")
    user.password_hash = passwords.hash_password(data.new_password)
    revoke_all_sessions(session, user)
    _account_changed(session, user, "Your password was changed. Every session was signed out.")


def request_password_reset(session: Session, email: str) -> None:
    """Queue the reset request (through the outbox); the worker issues and emails a token if
    the account exists.

    The request itself never looks the email up, so it costs the same either way."""
    from shared.notifications.messages import PasswordResetRequested, queue

    queue(session, PasswordResetRequested(id=uuid.uuid4(), email=email))


def confirm_password_reset(session: Session, token: str, new_password: str) -> None:
    """Set a new password with a one-time token: 400 for an unknown, expired or used token.
    Every session of the user is revoked."""
    from shared.platform.errors import BadRequest

    invalid = BadRequest("The reset token is not valid, has expired or was already used.")
    stored = repository.reset_token(session, tokens.hash_token(token))
    if stored is None or stored.used_at is not None or stored.expires_at <= _now():
        raise invalid
    if not repository.spend_reset_token(session, stored.id, now=_now()):
        raise invalid
    user = users.get(session, stored.user_id)
    if user is None or not user.is_active:
        raise invalid
    user.password_hash = passwords.hash_password(new_password)
    revoke_all_sessions(session, user)
    _account_changed(session, user, "Your password was reset. Every session was signed out.")


def issue_reset_token(
    session: Session, *, email: str, token_id: uuid.UUID
) -> tuple[uuid.UUID, str] | None:
    """A new one-time reset token (valid 30 minutes) for the active account with ``email``, as
    ``(user id, token)``; None when there is no such account. Issued again under the same id (a
    retry after a failed send), it replaces the previous token. Raises :class:`ResetThrottled`
    past :data:`RESET_MAILS_PER_WINDOW` tokens within :data:`RESET_WINDOW`."""
    user = users.by_email(session, email)
    if user is None or not user.is_active:
        return None
    users.get(session, user.id, for_update=True)  # one issuer at a time counts and issues
    issued = repository.reset_tokens_issued(
        session, user.id, since=_now() - RESET_WINDOW, other_than=token_id
    )
    if issued >= RESET_MAILS_PER_WINDOW:
        raise ResetThrottled
    token = secrets.token_urlsafe(32)
    repository.put_reset_token(
        session,
        token_id=token_id,
        user_id=user.id,
        token_hash=tokens.hash_token(token),
        expires_at=_now() + RESET_TOKEN_TTL,
    )
    return user.id, token


def remove_expired_tokens(session: Session, *, now: datetime) -> dict[str, int]:
    """Delete expired refresh tokens and spent or expired reset tokens (maintenance)."""
    return repository.delete_expired(session, now=now, reset_kept_for=RESET_WINDOW)


def _account_changed(session: Session, user: User, change: str) -> None:
    from shared.notifications.messages import notify

    notify(session, user_id=user.id, kind="account_changed", data={"change": change})
