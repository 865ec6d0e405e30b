"""Every domain's tables and the platform's outbox, in one place: what Alembic and the
schema-drift test compare against.

Each domain keeps its ORM classes in its own ``models.py``; importing them registers their
tables on :data:`shared.platform.orm.Base.metadata`. Add a domain's models module here when it
gets one.
"""

from __future__ import annotations

import importlib

MODEL_MODULES: tuple[str, ...] = (
    "shared.platform.outbox",
    "shared.users.models",
    "shared.auth.models",
    "shared.documents.models",
    "shared.notifications.models",
    "shared.vectors.models",
    "shared.webhooks.models",
)


def register_all() -> None:
    """Import every domain's models module (idempotent)."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
