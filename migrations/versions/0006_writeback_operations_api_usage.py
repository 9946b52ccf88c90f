"""write-back operations (create vs update) and Revflow's own Salesforce API usage

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("writeback_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("operation", sa.String(length=8), nullable=False, server_default="update")
        )
    op.create_table(
        "salesforce_api_usage",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("org_used", sa.Integer(), nullable=True),
        sa.Column("org_limit", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hour"),
    )


def downgrade() -> None:
    op.drop_table("salesforce_api_usage")
    with op.batch_alter_table("writeback_outbox", schema=None) as batch_op:
        batch_op.drop_column("operation")
