"""console: plan facets (region, channel, account, product families) and the indexes
the overview dashboard's queries use

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 18:10:00

Plans made before this revision have no facets (their order snapshots may be
encrypted, and a migration has no keyring): the dashboard's facet filters skip them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLAN_INDEXES = {
    "ix_plans_created_at": "created_at",
    "ix_plans_completed_at": "completed_at",
    "ix_plans_region": "region",
    "ix_plans_channel": "channel",
    "ix_plans_account_id": "account_id",
    "ix_plans_definition": "definition",
}
STATE_UPDATED = "ix_plans_state_created_updated"  # open plans and cancellations per period


def upgrade() -> None:
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("channel", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("account_id", sa.String(length=18), nullable=True))
    for name, column in PLAN_INDEXES.items():
        op.create_index(name, "plans", [column])
    op.create_index(STATE_UPDATED, "plans", ["state", "created_at", "updated_at"])
    op.create_index("ix_steps_connector_plan", "steps", ["connector", "plan_id"])
    op.create_table(
        "plan_product_families",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.PrimaryKeyConstraint("plan_id", "family"),
    )
    op.create_index(
        "ix_plan_product_families_family", "plan_product_families", ["family", "plan_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_plan_product_families_family", table_name="plan_product_families")
    op.drop_table("plan_product_families")
    op.drop_index("ix_steps_connector_plan", table_name="steps")
    op.drop_index(STATE_UPDATED, table_name="plans")
    for name in PLAN_INDEXES:
        op.drop_index(name, table_name="plans")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_column("account_id")
        batch_op.drop_column("channel")
        batch_op.drop_column("region")
