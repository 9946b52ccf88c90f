"""Waiting steps: complete those whose signal arrived, time out the expired ones."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.db.database import Database
from revflow.db.models import StepState
from revflow.orchestration import repository
from revflow.orchestration.executor import Outcome
from revflow.orchestration.progress import settle
from revflow.orchestration.status import write_step_state


class Waits:
    def __init__(self, db: Database, writeback: WritebackSettings, wakeup: asyncio.Event) -> None:
        self.db = db
        self.writeback = writeback
        self.wakeup = wakeup

    async def poll(self, limit: int = 100) -> int:
        """Complete waiting steps whose signal arrived; fail those past ``wait_until``.

        Each resolution commits with the consumed signal, the plan's progress and
        its write-backs.  Returns how many steps were resolved.
        """
        now = utcnow()
        sqlite = self.db.is_sqlite
        resolved = 0
        async with self.db.write() as s:
            steps_done: set[int] = set()
            signals_used: set[int] = set()
            for r in await repository.signalled_waits(s, limit, sqlite):
                if r.id in steps_done or r.signal_id in signals_used:
                    continue
                steps_done.add(r.id)
                signals_used.add(r.signal_id)
                output = {"signal": r.payload, "signal_id": r.signal_id}
                if await _resolve(s, r.id, StepState.COMPLETED, output=output):
                    await repository.consume_signal(s, r.signal_id, r.id)
                    await self._after(s, r.plan_id, r.key, "step.signalled", None)
                    resolved += 1
            for r in await repository.expired_waits(s, now, limit, sqlite):
                if r.id in steps_done:
                    continue
                outcome, error = timed_out(r.input or {}, r.wait_key)
                new = StepState.FAILED if outcome is Outcome.FATAL else StepState.COMPLETED
                result = None if error else {"timed_out": True}
                if await _resolve(s, r.id, new, output=result, error=error):
                    action = "step.failed" if error else "step.timed_out"
                    await self._after(s, r.plan_id, r.key, action, error)
                    resolved += 1
        if resolved:
            self.wakeup.set()
        return resolved

    async def _after(
        self, s: AsyncSession, plan_id: int, key: str, action: str, error: str | None
    ) -> None:
        plan = await repository.lock_plan(s, plan_id, self.db.is_sqlite)
        if plan is None:
            return
        state = StepState.FAILED if error else StepState.COMPLETED
        write_step_state(s, self.writeback, plan.order_id, key, state, plan.correlation_id)
        audit.record(
            s,
            "worker",
            action,
            plan_id=plan.id,
            order_id=plan.order_id,
            correlation_id=plan.correlation_id,
            step=key,
            error=error,
        )
        await settle(s, plan, self.writeback, "worker", step=key)


async def _resolve(
    s: AsyncSession,
    step_id: int,
    state: StepState,
    output: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    values = {"state": state, "output": output, "error": error, "finished_at": utcnow()}
    return await repository.finish_wait(s, step_id, values)


def timed_out(step_input: dict[str, Any], wait_key: str | None) -> tuple[Outcome, str | None]:
    """A wait's timeout: fallout, or completion when its definition says ``on_timeout:
    complete``."""
    if (step_input.get("wait") or {}).get("on_timeout") == "complete":
        return Outcome.COMPLETED, None
    return Outcome.FATAL, f"wait timed out: no signal {wait_key!r} arrived in time"
