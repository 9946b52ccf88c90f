"""When an idle worker with notifications should poll anyway: at the next known due time.

Notifications (app/db/notify.py) announce steps that are due when their transaction
commits; a retry or a deferral made due later announces nothing when its time comes.
"""

from __future__ import annotations

from revflow.clock import aware, utcnow
from revflow.db.database import Database
from revflow.orchestration.claims import next_due_at


async def next_due_in(db: Database, at_most_s: float) -> float:
    """Seconds until the next step or compensation falls due, at most ``at_most_s``."""
    now = utcnow()
    async with db.read() as s:
        due = await next_due_at(s, now)
    if due is None:
        return at_most_s
    return min(at_most_s, max(0.0, (aware(due) - now).total_seconds()))
