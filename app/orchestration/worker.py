"""The durable step worker.

A worker claims due steps with a lease, runs them, and commits each outcome in one
transaction with what it causes: next steps ready, plan state, write-backs, audit.
Any number of workers may share a PostgreSQL database: claims use
``FOR UPDATE SKIP LOCKED``, and an outcome is only committed while the worker
still holds the step's lease, so a step whose lease expired and was taken over is
never completed twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.aio import sleep_until
from app.clock import utcnow
from app.config import WritebackSettings
from app.db.database import Database
from app.db.models import ConnectorAttempt, ConnectorCall, Plan, PlanState, Step, StepState
from app.db.upsert import upsert
from app.logs import correlation_id
from app.metrics import STEP_DURATION, STEPS_EXECUTED
from app.orchestration.definitions import PlanDefinition
from app.orchestration.executor import ClaimedStep, Outcome, StepExecutor, StepResult
from app.orchestration.retry import RetryPolicy
from app.orchestration.state import StepView, advance
from app.orchestration.status import write_plan_state
from app.salesforce import outbox

log = logging.getLogger("revflow.worker")


class Worker:
    def __init__(
        self,
        db: Database,
        executor: StepExecutor,
        definitions: Mapping[str, PlanDefinition],
        writeback: WritebackSettings,
        *,
        concurrency: int = 32,
        lease_s: float = 30.0,
        poll_interval_s: float = 0.1,
        owner: str | None = None,
        wakeup: asyncio.Event | None = None,
    ) -> None:
        self.db = db
        self.executor = executor
        self.definitions = definitions
        self.writeback = writeback
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_s)
        self.poll_interval_s = poll_interval_s
        self.owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.wakeup = wakeup or asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._done: asyncio.Queue[tuple[ClaimedStep, StepResult]] = asyncio.Queue()
        self._rng = random.Random()
        self.executed = 0

    # -- claiming -----------------------------------------------------------

    async def claim(self, limit: int) -> list[ClaimedStep]:
        now = utcnow()
        due = or_(
            and_(Step.state.in_([StepState.READY, StepState.RETRYING]), Step.due_at <= now),
            and_(Step.state == StepState.RUNNING, Step.lease_expires_at < now),
        )
        # oldest plan first: orders finish one by one instead of all at the end
        pick = select(Step.id).where(due).order_by(Step.plan_id, Step.due_at).limit(limit)
        if not self.db.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        async with self.db.write() as s:
            ids = list((await s.scalars(pick)).all())
            if not ids:
                return []
            rows = (
                await s.execute(
                    update(Step)
                    .where(Step.id.in_(ids))
                    .values(
                        state=StepState.RUNNING,
                        lease_owner=self.owner,
                        lease_expires_at=now + self.lease,
                        attempts=Step.attempts + 1,
                        started_at=now,
                    )
                    .returning(
                        Step.id,
                        Step.plan_id,
                        Step.key,
                        Step.kind,
                        Step.connector,
                        Step.action,
                        Step.attempts,
                        Step.idempotency_key,
                        Step.input,
                    )
                )
            ).all()
            plans = {
                p.id: p
                for p in (
                    await s.execute(
                        select(Plan.id, Plan.order_id, Plan.correlation_id, Plan.definition).where(
                            Plan.id.in_({r.plan_id for r in rows})
                        )
                    )
                ).all()
            }
        return [
            ClaimedStep(
                id=r.id,
                plan_id=r.plan_id,
                key=r.key,
                kind=r.kind,
                connector=r.connector,
                action=r.action,
                attempt=r.attempts,
                idempotency_key=r.idempotency_key,
                input=r.input or {},
                order_id=plans[r.plan_id].order_id,
                correlation_id=plans[r.plan_id].correlation_id,
                definition=plans[r.plan_id].definition,
            )
            for r in rows
        ]

    async def extend_leases(self) -> None:
        ids = list(self._running)
        if not ids:
            return
        async with self.db.write() as s:
            await s.execute(
                update(Step)
                .where(
                    Step.id.in_(ids),
                    Step.lease_owner == self.owner,
                    Step.state == StepState.RUNNING,
                )
                .values(lease_expires_at=utcnow() + self.lease)
            )

    # -- running ------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(stop))
        committer = asyncio.create_task(self._commit_loop())
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._running)
                claimed = await self.claim(free) if free > 0 else []
                for step in claimed:
                    self._running[step.id] = asyncio.create_task(self._run_one(step))
                if len(claimed) < max(free, 1):
                    self.wakeup.clear()
                    await sleep_until(self.poll_interval_s, self.wakeup, stop)
        finally:
            heartbeat.cancel()
            if self._running:
                await asyncio.gather(*self._running.values(), return_exceptions=True)
            await self._done.join()
            committer.cancel()
            await asyncio.gather(committer, heartbeat, return_exceptions=True)

    async def _commit_loop(self) -> None:
        """Commit finished steps in batches: whatever finished while the last batch was written."""
        while True:
            batch = [await self._done.get()]
            while not self._done.empty():
                batch.append(self._done.get_nowait())
            try:
                await self.complete_many(batch)
            except Exception:
                log.exception("step outcomes could not be recorded")
            finally:
                for step, _result in batch:
                    self._running.pop(step.id, None)
                    self._done.task_done()

    async def run_until_idle(self, max_rounds: int = 10_000) -> int:
        """Claim and run steps until none is due (for tests and tools)."""
        done = 0
        for _ in range(max_rounds):
            claimed = await self.claim(self.concurrency)
            if not claimed:
                return done
            results = await asyncio.gather(*(self.executor.run(s) for s in claimed))
            await self.complete_many(list(zip(claimed, results, strict=True)))
            done += len(claimed)
        return done

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        interval = self.lease.total_seconds() / 3
        while not stop.is_set():
            await asyncio.sleep(interval)
            try:
                await self.extend_leases()
            except Exception:
                log.exception("lease extension failed")

    async def _run_one(self, step: ClaimedStep) -> None:
        """Execute a step and hand its outcome to the committer (the lease stays held)."""
        token = correlation_id.set(step.correlation_id)
        try:
            result = await self.executor.run(step)
            STEP_DURATION.observe(max(0.0, time.time() - result.started))
            await self._done.put((step, result))
        finally:
            correlation_id.reset(token)

    # -- committing outcomes ---------------------------------------------------

    def _policy(self, step: ClaimedStep) -> RetryPolicy:
        definition = self.definitions.get(step.definition)
        if definition is None:
            return RetryPolicy()
        return definition.step(step.key).retry

    def _writes_erp_number(self, step: ClaimedStep) -> bool:
        definition = self.definitions.get(step.definition)
        return bool(definition and definition.step(step.key).writes_erp_number)

    async def complete(self, step: ClaimedStep, result: StepResult) -> bool:
        """Commit the outcome if this worker still holds the lease; False if it lost it."""
        return (await self.complete_many([(step, result)]))[0]

    async def complete_many(self, done: list[tuple[ClaimedStep, StepResult]]) -> list[bool]:
        """Commit several outcomes in one transaction (one per step if that fails)."""
        try:
            async with self.db.write() as s:
                kept = [await self._apply(s, step, result) for step, result in done]
        except Exception:
            if len(done) == 1:
                raise
            log.exception("batch commit failed; committing outcomes one by one")
            kept = []
            for item in done:
                try:
                    kept.extend(await self.complete_many([item]))
                except Exception:
                    log.exception("outcome could not be recorded", extra={"step_id": item[0].id})
                    kept.append(False)
            return kept
        for (_step, result), ok in zip(done, kept, strict=True):
            if ok:
                self.executed += 1
                STEPS_EXECUTED.labels(outcome=result.outcome.value).inc()
        if any(
            ok and r.outcome is Outcome.COMPLETED for (_s, r), ok in zip(done, kept, strict=True)
        ):
            self.wakeup.set()
        return kept

    async def _apply(self, s: AsyncSession, step: ClaimedStep, result: StepResult) -> bool:
        now = utcnow()
        values: dict[str, object] = {"lease_owner": None, "lease_expires_at": None}
        if result.outcome is Outcome.RETRY:
            delay = self._policy(step).next_delay(step.attempt, result.retry_after_s, self._rng)
            if delay is None:
                result.outcome = Outcome.FATAL
                result.error = f"gave up after {step.attempt} attempts: {result.error}"
            else:
                values.update(
                    state=StepState.RETRYING,
                    due_at=now + timedelta(seconds=delay),
                    error=result.error,
                )
        outcome = result.outcome
        if outcome is Outcome.COMPLETED:
            values.update(
                state=StepState.COMPLETED, output=result.output, error=None, finished_at=now
            )
        elif outcome is Outcome.FATAL:
            values.update(state=StepState.FAILED, error=result.error, finished_at=now)
        claimed = await s.execute(
            update(Step)
            .where(
                Step.id == step.id, Step.lease_owner == self.owner, Step.state == StepState.RUNNING
            )
            .values(**values)
        )
        if claimed.rowcount == 0:  # type: ignore[attr-defined]
            log.warning("lease lost; outcome discarded", extra={"step_id": step.id})
            return False
        if step.kind == "callout":
            await self._log_attempt(s, step, result, outcome, now)
        if outcome is Outcome.COMPLETED and self._writes_erp_number(step) and result.external_id:
            outbox.enqueue(
                s,
                "Order",
                step.order_id,
                {self.writeback.erp_number_field: result.external_id},
                step.correlation_id,
            )
        if outcome is not Outcome.RETRY:
            await self._advance_plan(s, step, result.error if outcome is Outcome.FATAL else None)
        return True

    async def _log_attempt(
        self,
        s: AsyncSession,
        step: ClaimedStep,
        result: StepResult,
        outcome: Outcome,
        now: datetime,
    ) -> None:
        status = {Outcome.COMPLETED: "succeeded", Outcome.FATAL: "failed"}.get(outcome, "retrying")
        insert = upsert(s)(ConnectorCall).values(
            step_id=step.id,
            connector=step.connector or "",
            action=step.action or "",
            idempotency_key=step.idempotency_key,
            correlation_id=step.correlation_id,
            status=status,
            external_id=result.external_id,
            created_at=now,
        )
        changes: dict[str, object] = {"status": status}
        if result.external_id:
            changes["external_id"] = result.external_id
        call_id = await s.scalar(
            insert.on_conflict_do_update(
                index_elements=["idempotency_key"], set_=changes
            ).returning(ConnectorCall.id)
        )
        s.add(
            ConnectorAttempt(
                call_id=call_id,
                attempt=step.attempt,
                outcome=outcome.value,
                status_code=result.status_code,
                error=result.error,
                started_at=datetime.fromtimestamp(result.started, now.tzinfo)
                if result.started
                else now,
                finished_at=now,
            )
        )

    async def _advance_plan(self, s: AsyncSession, step: ClaimedStep, error: str | None) -> None:
        plan_q = select(Plan).where(Plan.id == step.plan_id)
        if not self.db.is_sqlite:
            plan_q = plan_q.with_for_update()  # serialise sibling completions
        plan = (await s.scalars(plan_q)).one()
        rows = (
            await s.execute(
                select(Step.key, Step.state, Step.depends_on).where(Step.plan_id == step.plan_id)
            )
        ).all()
        views = [StepView(r.key, StepState(r.state), tuple(r.depends_on)) for r in rows]
        ready, new_state = advance(views)
        if ready:
            await s.execute(
                update(Step)
                .where(Step.plan_id == step.plan_id, Step.key.in_(list(ready)))
                .values(state=StepState.READY, due_at=utcnow())
            )
        if new_state != plan.state:
            plan.state = new_state
            if new_state in (PlanState.COMPLETED, PlanState.FAILED):
                plan.completed_at = utcnow()
                plan.error = error
            write_plan_state(
                s, self.writeback, plan.order_id, new_state, plan.correlation_id, error
            )
            audit.record(
                s,
                "worker",
                f"plan.{new_state}",
                plan_id=plan.id,
                order_id=plan.order_id,
                correlation_id=plan.correlation_id,
                step=step.key,
                error=error,
            )
