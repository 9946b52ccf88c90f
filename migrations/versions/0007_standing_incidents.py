"""standing incidents: one open row per cause, counted, blocking readiness

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("open_key", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("blocking", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("count", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_incidents_key"), ["key"], unique=False)
        batch_op.create_unique_constraint("uq_incidents_open_key", ["open_key"])


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_constraint("uq_incidents_open_key", type_="unique")
        batch_op.drop_index(batch_op.f("ix_incidents_key"))
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("count")
        batch_op.drop_column("blocking")
        batch_op.drop_column("open_key")
        batch_op.drop_column("key")
