"""Keyset pagination, newest first, with opaque signed cursors (``shared.platform.cursor``).

Every listing orders by ``(created_at, id)`` descending; a cursor carries the last item's pair
and is bound to its ``scope`` (the listing, the caller and its filters), so a forged or foreign
cursor is 422. Cursors are signed by their own key ring (the ``cursor-keys`` secret), which only
the listing functions read.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from shared.platform import cursor
from shared.platform.keyring import KeySource, ring
from shared.platform.settings import Cursors, get_settings


def cursor_keys() -> KeySource:
    """The cursor key ring (``CURSOR_KEYS_SECRET_ARN``), read only when a cursor is signed or
    verified: a first page with nothing after it touches no secret."""
    settings = get_settings(Cursors)
    return ring(
        settings.cursor_keys_secret_arn,
        max_age=settings.cursor_keys_max_age_seconds,
        what="cursor keys secret",
    )


def page(
    session: Session,
    query: Select[Any],
    *,
    model: Any,
    scope: str,
    limit: int,
    after: str | None,
) -> tuple[list[Any], str | None]:
    """One page of ``query`` (rows of ``model``) and the cursor of the next, if any."""
    created: InstrumentedAttribute[datetime] = model.created_at
    ident: InstrumentedAttribute[uuid.UUID] = model.id
    query = query.order_by(created.desc(), ident.desc()).limit(limit + 1)
    if after:
        position = cursor.decode(after, scope=scope, keys=cursor_keys())
        try:
            last_created = datetime.fromisoformat(str(position["t"]))
            last_id = uuid.UUID(str(position["id"]))
        except (KeyError, ValueError):
            raise cursor.invalid() from None
        query = query.where(
            or_(created < last_created, and_(created == last_created, ident < last_id))
        )
    rows = list(session.scalars(query))
    items, more = rows[:limit], len(rows) > limit
    if not more:
        return items, None
    last = items[-1]
    position_out = {"t": last.created_at.isoformat(), "id": str(last.id)}
    return items, cursor.encode(position_out, scope=scope, keys=cursor_keys())
