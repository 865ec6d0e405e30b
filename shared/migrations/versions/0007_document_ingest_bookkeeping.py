"""``documents.ingest_attempts``: how many times the ingest worker claimed a document. Its last
attempt (``maxReceiveCount``, ``shared.platform.redelivery``) ends the document ``failed``, and
the maintenance job fails a stuck document whose attempts are spent instead of queueing it
again. ``documents.ingested_etag``: the ETag of the object the chunks came from, so that a
second upload to the same key (a replayed presigned POST) is ingested again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "documents",
        sa.Column("ingest_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("documents", sa.Column("ingested_etag", sa.String(100), nullable=True))


def downgrade() -> None:
    op.drop_column("documents", "ingested_etag")
    op.drop_column("documents", "ingest_attempts")
