"""The Users service's rules: resource-level access, the last-admin guard, the user cache.

Another user's account that the caller may not see is 404, never 403 (no enumeration). Reads of
a user go through the cache (``shared.users.cache``) and every change invalidates the entry; a
Redis outage only costs a database read. Queries live in ``shared.users.repository``.
"""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy.orm import Session

from shared.auth import passwords, revocation
from shared.platform import outbox
from shared.platform.errors import Conflict, Forbidden, NotFound
from shared.platform.identity import Principal
from shared.users import cache as user_cache
from shared.users import repository
from shared.users.models import User
from shared.users.schemas import UserPublic, UsersPage, UserUpdate

NOT_FOUND = "No such user."


def load_user(session: Session, user_id: uuid.UUID) -> UserPublic | None:
    """A user as the API shows it, from the cache when it is there."""
    cached = user_cache.get(user_id)
    if cached is not None:
        return cached
    user = repository.get(session, user_id)
    if user is None:
        return None
    public = UserPublic.model_validate(user)
    user_cache.put(public)
    return public


def _visible(principal: Principal, user_id: uuid.UUID) -> bool:
    return principal.role == "admin" or principal.user_id == user_id


def get_user(session: Session, principal: Principal, user_id: uuid.UUID) -> UserPublic:
    """A user the caller may see (itself, or anyone for an admin)."""
    if not _visible(principal, user_id):
        raise NotFound(NOT_FOUND)
    user = load_user(session, user_id)
    if user is None:
        raise NotFound(NOT_FOUND)
    return user


def update_user(
    session: Session, principal: Principal, user_id: uuid.UUID, changes: UserUpdate
) -> UserPublic:
    """Apply ``changes``: the name for oneself or an admin; role and is_active for admins only."""
    if not _visible(principal, user_id):
        raise NotFound(NOT_FOUND)
    sent = changes.model_fields_set
    if principal.role != "admin" and sent & {"role", "is_active"}:
        raise Forbidden("Only an admin may change a role or deactivate an account.")
    user = repository.get(session, user_id, for_update=True)
    if user is None:
        raise NotFound(NOT_FOUND)
    demoted = "role" in sent and changes.role is not None and changes.role != "admin"
    deactivated = "is_active" in sent and changes.is_active is False
    if (
        user.id == principal.user_id
        and user.role == "admin"
        and (demoted or deactivated)
        and repository.other_active_admins(session, user.id) == 0
    ):
        raise Conflict("The last active admin cannot demote or deactivate itself.")
    revoke = False
    if "name" in sent and changes.name is not None:
        user.name = changes.name.strip()
    if "role" in sent and changes.role is not None and changes.role != user.role:
        user.role = changes.role
        revoke = True  # tokens carry the role: the old ones must not outlive it
    active = changes.is_active
    if "is_active" in sent and active is not None and active != user.is_active:
        user.is_active = active
        revoke = revoke or not active
    if revoke:
        from shared.auth.service import _account_changed, revoke_all_sessions

        revoke_all_sessions(session, user)
        change = (
            "Your account was deactivated."
            if not user.is_active
            else f"Your role is now {user.role}. Please sign in again."
        )
        _account_changed(session, user, change)
    elif "is_active" in sent and user.is_active:
        # Reactivated: the authorizer may have cached the account as gone; drop that.
        outbox.add(session, revocation.invalidation_of_user(user.id))
    session.flush()
    outbox.add(session, user_cache.invalidation(user_id))
    if sent:
        _emit(session, "user.updated", user)
    return UserPublic.model_validate(user)


def _emit(session: Session, event: Literal["user.updated", "user.deleted"], user: User) -> None:
    """The account's webhook event, in the change's transaction: to the user's own endpoints
    and to every admin's (ids and status only)."""
    from shared.webhooks.events import emit

    data: dict[str, object] = {"user_id": str(user.id)}
    if event == "user.updated":
        data.update(role=user.role, is_active=user.is_active, status="updated")
    else:
        data["status"] = "deleted"
    emit(session, event, owner_id=user.id, data=data)


def delete_user(session: Session, principal: Principal, user_id: uuid.UUID) -> None:
    """Delete an account (oneself, or anyone for an admin); its sessions end at once."""
    if not _visible(principal, user_id):
        raise NotFound(NOT_FOUND)
    user = repository.get(session, user_id, for_update=True)
    if user is None:
        raise NotFound(NOT_FOUND)
    if (
        user.role == "admin"
        and user.is_active
        and repository.other_active_admins(session, user.id) == 0
    ):
        raise Conflict("The last active admin cannot be deleted.")
    _emit(session, "user.deleted", user)
    repository.delete(session, user)  # its refresh tokens go with it (ON DELETE CASCADE)
    from shared.users.purge import PURGE_QUEUE, PurgeUser

    # In this transaction: the purge of what the row does not cascade to is never lost.
    outbox.add(
        session,
        revocation.invalidation_of_user(user_id),
        user_cache.invalidation(user_id),
        outbox.message(PURGE_QUEUE, PurgeUser(user_id=user_id)),
    )


def list_users(
    session: Session, principal: Principal, *, limit: int, after: str | None
) -> UsersPage:
    """Every user, newest first, a page at a time (admins only: the route says so)."""
    items, next_cursor = repository.page(
        session, scope=f"users:{principal.user_id}", limit=limit, after=after
    )
    return UsersPage(items=[UserPublic.model_validate(u) for u in items], next_cursor=next_cursor)


def ensure_admin(session: Session, *, email: str, password: str, name: str = "Admin") -> bool:
    """Create the admin account ``email`` if no account has that email; True if created.

    Used by the local runner (``ADMIN_EMAIL`` / ``ADMIN_PASSWORD``), ``make admin`` and the deploy
    trigger (from a secret). An existing account is left as it is: never silently promoted.
    """
    from email_validator import EmailNotValidError, validate_email

    from shared.auth.schemas import normalize_email

    email = normalize_email(email)
    if repository.email_taken(session, email):
        return False  # whatever the password: it only ever serves to create the account
    try:
        # Syntax only (the deployer is trusted; .test addresses serve the local runner)
        validate_email(email, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"the admin email is not valid: {exc}") from None
    if not passwords.MIN_LENGTH <= len(password) <= passwords.MAX_LENGTH:
        raise ValueError(
            f"the admin password must be {passwords.MIN_LENGTH}-{passwords.MAX_LENGTH} characters"
        )
    repository.add(
        session,
        User(email=email, name=name, password_hash=passwords.hash_password(password), role="admin"),
    )
    return True


def ensure_admin_from_secret(
    session: Session, secret: str
) -> Literal["created", "exists", "unset"]:
    """Bootstrap the admin from the deploy secret's JSON ``{"email": ..., "password": ...}``.

    ``unset`` when the secret names no email (deploy with ``-c admin_email=...``, or put one in
    the secret). A malformed secret raises ValueError naming the problem, never the password.
    """
    import json

    try:
        document = json.loads(secret)
    except ValueError:
        raise ValueError("the admin secret is not a JSON object") from None
    if not isinstance(document, dict):
        raise ValueError("the admin secret is not a JSON object")
    email, password = document.get("email") or "", document.get("password") or ""
    if not isinstance(email, str) or not isinstance(password, str):
        raise ValueError("the admin secret's email and password must be strings")
    if not email.strip():
        return "unset"
    return "created" if ensure_admin(session, email=email, password=password) else "exists"
