"""steps: NOTIFY revflow_steps when a step becomes due (PostgreSQL)

Idle workers polled for steps ten times a second each.  These triggers send
``NOTIFY revflow_steps`` in the transaction that makes a step claimable (a plan's
steps inserted ready, a dependant made ready, a compensation started or retried);
PostgreSQL delivers it at commit to every process LISTENing (app/db/notify.py),
whose worker then claims.  Whoever makes the step due is covered, in
whatever module.  Identical notifications of one transaction are delivered once.
SQLite has no NOTIFY: its one process polls.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-04 20:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# claimable now (or within a second: the clocks of Revflow's hosts and the database's
# may differ a little); a retry or deferral due later is found by the workers' timer
DUE = (
    "NEW.state IN ('ready', 'retrying', 'compensating')"
    " AND NEW.due_at <= clock_timestamp() + interval '1 second'"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION revflow_notify_steps() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('revflow_steps', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER steps_due_on_insert AFTER INSERT ON steps FOR EACH ROW"
        f" WHEN ({DUE}) EXECUTE FUNCTION revflow_notify_steps()"
    )
    op.execute(
        "CREATE TRIGGER steps_due_on_update AFTER UPDATE OF state, due_at ON steps FOR EACH ROW"
        f" WHEN ((OLD.state IS DISTINCT FROM NEW.state OR OLD.due_at IS DISTINCT FROM"
        f" NEW.due_at) AND ({DUE})) EXECUTE FUNCTION revflow_notify_steps()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS steps_due_on_update ON steps")
    op.execute("DROP TRIGGER IF EXISTS steps_due_on_insert ON steps")
    op.execute("DROP FUNCTION IF EXISTS revflow_notify_steps()")
