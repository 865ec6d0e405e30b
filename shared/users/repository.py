"""The Users service's data access: the ``users`` table.

Plain functions on a session (the caller's unit of work); the rules in ``service.py`` never
write a query themselves.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.platform import pagination
from shared.users.models import User


class EmailTaken(Exception):
    """Another account has this email (found, or a concurrent insert won the race)."""


def get(session: Session, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
    """The account ``user_id``; locked until the transaction ends when ``for_update``."""
    return session.get(User, user_id, with_for_update=for_update)


def by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email))


def email_taken(session: Session, email: str) -> bool:
    return session.scalar(select(User.id).where(User.email == email)) is not None


def add(session: Session, user: User) -> User:
    """Insert ``user``; :class:`EmailTaken` when its email is already registered."""
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise EmailTaken() from None
    return user


def delete(session: Session, user: User) -> None:
    """Delete the row (its refresh and reset tokens cascade)."""
    session.delete(user)
    session.flush()


def other_active_admins(session: Session, user_id: uuid.UUID) -> int:
    """How many other active admins there are, their rows locked until the transaction ends:
    two admins stepping down at once cannot both count the other and leave none."""
    rows = session.scalars(
        select(User.id)
        .where(User.role == "admin", User.is_active.is_(True), User.id != user_id)
        .order_by(User.id)
        .with_for_update()
    )
    return len(list(rows))


def page(
    session: Session, *, scope: str, limit: int, after: str | None
) -> tuple[list[User], str | None]:
    """One page of every account, newest first."""
    items: list[Any]
    items, cursor = pagination.page(
        session, select(User), model=User, scope=scope, limit=limit, after=after
    )
    return items, cursor
