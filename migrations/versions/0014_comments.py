"""comments: notes on plans and steps, with their optional Chatter mirror

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 18:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("step_key", sa.String(length=100), nullable=True),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mirror_state", sa.String(length=16), nullable=True),
        sa.Column("mirror_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mirror_attempts", sa.Integer(), nullable=False),
        sa.Column("mirror_lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mirror_error", sa.Text(), nullable=True),
        sa.Column("chatter_id", sa.String(length=18), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_comments_plan_id", "comments", ["plan_id"])
    op.create_index("ix_comments_mirror_due", "comments", ["mirror_state", "mirror_due_at"])


def downgrade() -> None:
    op.drop_index("ix_comments_mirror_due", table_name="comments")
    op.drop_index("ix_comments_plan_id", table_name="comments")
    op.drop_table("comments")
