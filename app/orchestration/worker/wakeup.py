"""When an idle worker with notifications should poll anyway: at the next known due time.

Notifications (app/db/notify.py) announce steps that are due when their transaction
commits; a retry or a deferral made due later announces nothing when its time comes.
"""

from __future__ import annotations

from sqlalchemy import func, select

from revflow.clock import aware, utcnow
from revflow.db.database import Database
from revflow.db.models import Step, StepState

WAITING_FOR_TIME = [StepState.READY, StepState.RETRYING, StepState.COMPENSATING]


async def next_due_in(db: Database, at_most_s: float) -> float:
    """Seconds until the next step or compensation falls due, at most ``at_most_s``."""
    now = utcnow()
    query = select(func.min(Step.due_at)).where(Step.state.in_(WAITING_FOR_TIME), Step.due_at > now)
    async with db.read() as s:
        due = (await s.execute(query)).scalar()
    if due is None:
        return at_most_s
    return min(at_most_s, max(0.0, (aware(due) - now).total_seconds()))
