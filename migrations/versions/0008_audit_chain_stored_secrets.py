"""audit hash chain (seq, prev_hash, hash; audit_chain_head) and stored_secrets

Existing audit entries are chained in id order, so `revflow audit verify` holds
from the first entry on.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_audit_log_seq", ["seq"])
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "stored_secrets",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    _chain_existing_entries()


def _chain_existing_entries() -> None:
    # the hash form is the service's (revflow.audit.chain.entry_hash, version 1)
    from revflow.audit.chain import entry_hash
    from revflow.clock import utcnow

    bind = op.get_bind()
    log = sa.table(
        "audit_log",
        sa.column("at", sa.DateTime(timezone=True)),
        *(sa.column(c) for c in ("id", "actor", "action", "plan_id", "order_id")),
        sa.column("correlation_id"),
        sa.column("detail", sa.JSON()),
        sa.column("seq"),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    seq, prev = 0, GENESIS
    rows = bind.execute(sa.select(log).order_by(log.c.id)).mappings().all()
    for row in rows:
        seq += 1
        digest = entry_hash(prev, seq, dict(row))
        bind.execute(
            log.update().where(log.c.id == row["id"]).values(seq=seq, prev_hash=prev, hash=digest)
        )
        prev = digest
    head = sa.table(
        "audit_chain_head",
        *(sa.column(c) for c in ("id", "seq", "hash")),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    bind.execute(head.insert().values(id=1, seq=seq, hash=prev, updated_at=utcnow()))


def downgrade() -> None:
    op.drop_table("stored_secrets")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_log_seq", type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
