"""The durable step worker.

A worker claims due steps with a lease, runs them, and commits each outcome in one
transaction with what it causes: next steps ready, plan state, write-backs, audit.
Outcomes that finish together are committed together, set-based: one transaction
and a fixed number of statements per batch (``_apply_batch``), not per step.
Any number of workers may share a PostgreSQL database: claims use
``FOR UPDATE SKIP LOCKED``, and an outcome is only committed while the worker
still holds the step's lease, so a step whose lease expired and was taken over is
never completed twice.

Wait steps park in ``waiting``; the worker matches them with Signals (on claim,
and by polling the signals table every ``signal_poll_s``), consuming the signal
in the step's transaction, and fails them as fallout at ``wait_until``.  A fatal
outcome puts the plan on hold (see ``state``); operators resolve it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, exists, or_, select, update
from sqlalchemy import insert as insert_into
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.aio import Beat, no_beat, sleep_until
from app.clock import utcnow
from app.config import WritebackSettings
from app.db.database import Database
from app.db.errors import unavailable
from app.db.models import (
    ConnectorAttempt,
    ConnectorCall,
    Plan,
    PlanState,
    Signal,
    Step,
    StepState,
)
from app.db.upsert import upsert
from app.logs import correlation_id
from app.metrics import STEP_DURATION, STEPS_EXECUTED
from app.orchestration.changes import continue_change
from app.orchestration.claims import lease_due_steps
from app.orchestration.compensation import apply_compensation, claim_compensations
from app.orchestration.executor import ClaimedStep, Outcome, StepExecutor, StepResult
from app.orchestration.external_ids import apply_step_expression, note_missing
from app.orchestration.jeopardy_watch import sweep
from app.orchestration.progress import STEPS, aware, lock_plan, lock_plans, settle, settle_many
from app.orchestration.status import write_step_state
from app.plans.definitions import PlanDefinition, StepDefinition
from app.plans.retry import RetryPolicy, honours_retry_after, policy_from_json
from app.salesforce import outbox
from app.supervisor import LoopFn, Supervisor

log = logging.getLogger("revflow.worker")

FROZEN_STATES = [PlanState.FREEZING, PlanState.FROZEN]
CALLS = cast(Table, ConnectorCall.__table__)
ATTEMPTS = cast(Table, ConnectorAttempt.__table__)
IDLE_BEAT_S = 0.5  # an idle loop still reports progress this often


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
        signal_poll_s: float = 0.5,
        jeopardy_sweep_s: float = 60.0,
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
        self.signal_poll_s = signal_poll_s
        self.jeopardy_sweep_s = jeopardy_sweep_s
        self._batch: list[tuple[ClaimedStep, StepResult]] = []  # being committed

    # -- claiming -----------------------------------------------------------

    async def claim(self, limit: int) -> list[ClaimedStep]:
        steps = await self._claim_steps(limit)
        comps = await claim_compensations(self.db, self.owner, self.lease, limit - len(steps))
        return steps + comps

    async def _claim_steps(self, limit: int) -> list[ClaimedStep]:
        now = utcnow()
        # a freezing or frozen plan (a change arrived) starts no step; a running step
        # whose lease expired is still taken over, so that it can finish
        held = exists().where(Plan.id == Step.plan_id, Plan.state.in_(FROZEN_STATES))
        due = or_(
            and_(Step.state.in_([StepState.READY, StepState.RETRYING]), Step.due_at <= now, ~held),
            and_(Step.state == StepState.RUNNING, Step.lease_expires_at < now),
        )
        rows, plans = await lease_due_steps(
            self.db,
            due,
            owner=self.owner,
            lease=self.lease,
            now=now,
            limit=limit,
            values={"state": StepState.RUNNING},
            columns=(
                Step.key,
                Step.kind,
                Step.connector,
                Step.action,
                Step.attempts,
                Step.idempotency_key,
                Step.input,
                Step.wait_key,
                Step.wait_until,
                Step.assignee,
                Step.retry_policy,
            ),
        )
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
                wait_key=r.wait_key,
                wait_until=aware(r.wait_until) if r.wait_until else None,
                assignee=r.assignee,
                retry_policy=r.retry_policy,
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
                    Step.state.in_([StepState.RUNNING, StepState.COMPENSATING]),
                )
                .values(lease_expires_at=utcnow() + self.lease)
            )

    # -- running ------------------------------------------------------------

    def loops(self) -> dict[str, tuple[LoopFn, float]]:
        """The worker's loops by name, each with its interval (the service supervises each)."""
        return {
            "worker": (self.claim_loop, self.poll_interval_s),
            "worker_commits": (self.commit_loop, self.poll_interval_s),
            "worker_leases": (self.lease_loop, self.lease.total_seconds() / 3),
            "waits": (self.waits_loop, self.signal_poll_s),
            "jeopardy": (self.jeopardy_loop, self.jeopardy_sweep_s),
        }

    async def run(self, stop: asyncio.Event) -> None:
        """All of the worker's loops under a supervisor of their own (for tests and tools)."""
        supervisor = Supervisor()
        for name, (loop, interval_s) in self.loops().items():
            supervisor.add(name, loop, interval_s=interval_s)
        supervisor.start(stop)
        await stop.wait()
        await supervisor.wait(self.lease.total_seconds())

    async def claim_loop(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Claim due steps and start them; on stop, let the running ones finish."""
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._running)
                claimed = await self.claim(free) if free > 0 else []
                for step in claimed:
                    if step.id in self._running:
                        # its outcome waits to be committed (the database was away long
                        # enough for the lease to lapse): the claim renewed our lease
                        continue
                    self._running[step.id] = asyncio.create_task(self._run_one(step))
                beat()
                if len(claimed) < max(free, 1):
                    self.wakeup.clear()
                    await sleep_until(self.poll_interval_s, self.wakeup, stop)
        finally:
            if stop.is_set() and self._running:
                await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def commit_loop(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Commit finished steps in batches: whatever finished while the last batch was written.

        A batch that cannot be committed because the database is unreachable stays
        (``_batch``) and is committed when the loop is restarted; the steps' leases are
        held meanwhile (``lease_loop``), so they are neither run again nor lost.
        """
        while not (stop.is_set() and not self._running and not self._batch):
            if not self._batch:
                try:
                    first = await asyncio.wait_for(self._done.get(), IDLE_BEAT_S)
                except TimeoutError:
                    beat()
                    continue
                self._batch = [first]
                while not self._done.empty():
                    self._batch.append(self._done.get_nowait())
            try:
                await self.complete_many(self._batch)
            except Exception as exc:
                if unavailable(exc):
                    raise  # kept in _batch for the restart
                log.exception("step outcomes could not be recorded")
            for step, _result in self._batch:
                self._running.pop(step.id, None)
                self._done.task_done()
            self._batch = []
            beat()

    async def lease_loop(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Extend the leases of the running steps (and those waiting to be committed)."""
        interval = self.lease.total_seconds() / 3
        while not (stop.is_set() and not self._running):
            await self.extend_leases()
            beat()
            if stop.is_set():  # the last steps are finishing: keep their leases
                await asyncio.sleep(min(interval, IDLE_BEAT_S))
            else:
                await sleep_until(interval, stop)

    async def waits_loop(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Complete waiting steps whose signal arrived; time out the expired ones."""
        while not stop.is_set():
            await self.poll_waits()
            beat()
            await sleep_until(self.signal_poll_s, stop)

    async def jeopardy_loop(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Re-check open plans' jeopardy, so a stuck plan turns late without a step finishing."""
        while not stop.is_set():
            await sweep(self.db, self.writeback)
            beat()
            await sleep_until(self.jeopardy_sweep_s, stop)

    async def run_until_idle(self, max_rounds: int = 10_000) -> int:
        """Claim and run steps until none is due (for tests and tools)."""
        done = 0
        for _ in range(max_rounds):
            resolved = await self.poll_waits()
            claimed = await self.claim(self.concurrency)
            if not claimed and not resolved:
                return done
            results = await asyncio.gather(*(self.executor.run(s) for s in claimed))
            await self.complete_many(list(zip(claimed, results, strict=True)))
            done += len(claimed)
        return done

    async def _run_one(self, step: ClaimedStep) -> None:
        """Execute a step and hand its outcome to the committer (the lease stays held)."""
        token = correlation_id.set(step.correlation_id)
        try:
            result = await self.executor.run(step)
            STEP_DURATION.observe(max(0.0, time.time() - result.started))
            await self._done.put((step, result))
        except Exception:  # the executor turns errors into outcomes; this is a bug
            log.exception("step execution crashed; it runs again when its lease expires")
            self._running.pop(step.id, None)
        finally:
            correlation_id.reset(token)

    # -- committing outcomes ---------------------------------------------------

    def _policy(self, step: ClaimedStep) -> RetryPolicy:
        """The step's own retry policy (Step.retry_policy), else its definition's."""
        if step.retry_policy:
            return policy_from_json(step.retry_policy)
        definition = self.definitions.get(step.definition)
        if definition is None:
            return RetryPolicy()
        try:
            return definition.step(step.key).retry
        except StopIteration:
            return RetryPolicy()

    def _step_definition(self, step: ClaimedStep) -> StepDefinition | None:
        definition = self.definitions.get(step.definition)
        if definition is None:
            return None
        try:
            return definition.step(step.key)
        except StopIteration:
            return None

    def _writes_erp_number(self, step: ClaimedStep) -> bool:
        sd = self._step_definition(step)
        return bool(sd and sd.writes_erp_number)

    async def complete(self, step: ClaimedStep, result: StepResult) -> bool:
        """Commit the outcome if this worker still holds the lease; False if it lost it."""
        return (await self.complete_many([(step, result)]))[0]

    async def complete_many(self, done: list[tuple[ClaimedStep, StepResult]]) -> list[bool]:
        """Commit several outcomes in one transaction (one per step if that fails)."""
        # the batch works on copies of the results: if its transaction fails, the
        # retry one by one starts from the executor's results again (a signal the
        # rolled-back batch matched to a waiting step is looked up anew, for example)
        work = [(step, replace(result, output=dict(result.output))) for step, result in done]
        for step, result in work:
            apply_step_expression(self._step_definition(step), step, result)
        try:
            async with self.db.write() as s:
                kept = await self._apply_batch(s, work)
        except Exception as exc:
            if len(done) == 1 or unavailable(exc):
                raise  # an outage: the caller keeps the outcomes and tries again
            log.exception("batch commit failed; committing outcomes one by one")
            kept = []
            for item in done:
                try:
                    kept.extend(await self.complete_many([item]))
                except Exception as exc:
                    if unavailable(exc):
                        raise
                    log.exception("outcome could not be recorded", extra={"step_id": item[0].id})
                    kept.append(False)
            return kept
        for (_step, result), (_s, committed) in zip(done, work, strict=True):
            vars(result).update(vars(committed))  # the outcome as committed
        for (_step, result), ok in zip(done, kept, strict=True):
            if ok:
                self.executed += 1
                STEPS_EXECUTED.labels(outcome=result.outcome.value).inc()
        if any(
            ok and r.outcome is Outcome.COMPLETED for (_s, r), ok in zip(done, kept, strict=True)
        ):
            self.wakeup.set()
        return kept

    async def _apply_batch(
        self, s: AsyncSession, done: list[tuple[ClaimedStep, StepResult]]
    ) -> list[bool]:
        """Commit a batch of outcomes set-based, in the caller's transaction.

        The plans are locked (in id order) and the steps this worker still leases are
        locked (``_fence``); outcomes whose lease was lost are discarded.  Then one
        UPDATE per outcome shape, one upsert of connector calls and one insert of
        attempts, the write-backs and audit entries (flushed together), one
        ``settle_many`` for the plans whose steps completed or failed (dependants
        ready, plan state, jeopardy), and ``continue_change`` for plans being changed.
        The statements per batch do not grow with its size.
        """
        now = utcnow()
        steps = [step for step, _ in done if not step.compensating]
        if self.db.is_sqlite:
            # the fence is the first write: it takes the write lock, so the plans read
            # after it are current even with other processes on the same file
            owned = await self._fence(s, [step.id for step in steps])
            plan_ids = {step.plan_id for step in steps if step.id in owned}
            plans = await lock_plans(s, plan_ids, True)
        else:
            # plans first, in id order, then steps: the lock order of every batch
            plans = await lock_plans(s, {step.plan_id for step, _ in done}, False)
            owned = await self._fence(s, [step.id for step in steps])
        kept: list[bool] = []
        applied: list[tuple[ClaimedStep, StepResult, Outcome, dict[str, object]]] = []
        for step, result in done:
            if step.compensating:
                kept.append(await self._apply_compensation(s, step, result, self._policy(step)))
            elif step.id not in owned:
                log.warning("lease lost; outcome discarded", extra={"step_id": step.id})
                kept.append(False)
            else:
                outcome, values = await self._outcome(s, step, result, now)
                applied.append((step, result, outcome, values))
                kept.append(True)
        if not applied:
            return kept
        await self._update_steps(s, [(step.id, values) for step, _r, _o, values in applied])
        calls = [(st, r, o) for st, r, o, _v in applied if st.kind == "callout"]
        await self._log_attempts(s, calls, now)
        settled: dict[int, str] = {}  # plan id -> key of the (last) step that finished
        touched: dict[int, None] = {}  # plans to move on if a change is in progress
        for step, result, outcome, values in applied:
            touched[step.plan_id] = None
            if outcome is Outcome.COMPLETED:
                for w in result.writes:
                    outbox.enqueue(s, w.sobject, w.record_id, w.fields, step.correlation_id)
                if self._writes_erp_number(step) and result.external_id:
                    outbox.enqueue(
                        s,
                        "Order",
                        step.order_id,
                        {self.writeback.erp_number_field: result.external_id},
                        step.correlation_id,
                    )
                note_missing(s, self._step_definition(step), step, result)
            if outcome in (Outcome.RETRY, Outcome.DEFER):
                continue
            new_state = str(values["state"])
            write_step_state(
                s, self.writeback, step.order_id, step.key, new_state, step.correlation_id
            )
            if outcome in (Outcome.FATAL, Outcome.WAIT):
                audit.record(
                    s,
                    "worker",
                    f"step.{new_state}",
                    plan_id=step.plan_id,
                    order_id=step.order_id,
                    correlation_id=step.correlation_id,
                    step=step.key,
                    error=result.error,
                    assignee=step.assignee,
                    attempts=step.attempt,
                )
            if outcome is not Outcome.WAIT:
                settled[step.plan_id] = step.key
        to_settle = [plans[pid] for pid in settled if pid in plans]
        details = {pid: {"step": key} for pid, key in settled.items()}
        await settle_many(s, to_settle, self.writeback, "worker", details=details)
        for pid in touched:
            plan = plans.get(pid)
            # a cancellation or amendment in progress moves on
            if plan is not None and await continue_change(s, plan, self.writeback):
                self.wakeup.set()
        return kept

    async def _fence(self, s: AsyncSession, step_ids: list[int]) -> set[int]:
        """Of ``step_ids``, those this worker still leases, locked for this transaction.

        PostgreSQL: ``SELECT ... FOR UPDATE``.  SQLite: a no-op UPDATE, which takes the
        database's write lock at once, so no other process can take a lease over
        between this check and the outcome's UPDATE.
        """
        if not step_ids:
            return set()
        mine = and_(
            Step.id.in_(step_ids), Step.lease_owner == self.owner, Step.state == StepState.RUNNING
        )
        if self.db.is_sqlite:
            q: Any = (
                update(Step)
                .where(mine)
                .values(lease_expires_at=Step.lease_expires_at)
                .returning(Step.id)
            )
        else:
            q = select(Step.id).where(mine).with_for_update()
        return set((await s.scalars(q)).all())

    async def _outcome(
        self, s: AsyncSession, step: ClaimedStep, result: StepResult, now: datetime
    ) -> tuple[Outcome, dict[str, object]]:
        """The outcome to commit and the step's new column values (``attempts`` set means
        "one less": a deferred step gives its attempt back).  A waiting step takes a
        signal that arrived meanwhile (consumed here: the step's lease is held)."""
        values: dict[str, object] = {}
        policy = self._policy(step)
        if result.outcome is Outcome.RETRY and result.error_type in policy.non_retryable:
            result.outcome = Outcome.FATAL
            result.error = f"non-retryable {result.error_type}: {result.error}"
        if result.outcome is Outcome.RETRY:
            retry_after = result.retry_after_s if _honours_retry_after(step) else None
            delay = policy.next_delay(step.attempt, retry_after, self._rng)
            if delay is None:
                result.outcome = Outcome.FATAL
                result.error = f"gave up after {step.attempt} attempts: {result.error}"
            else:
                values.update(
                    state=StepState.RETRYING,
                    due_at=now + timedelta(seconds=delay),
                    error=result.error,
                )
        wait_until = step.wait_until
        if result.outcome is Outcome.WAIT and step.kind == "wait":
            timeout_s = (step.input.get("wait") or {}).get("timeout_s")
            if wait_until is None and timeout_s:
                wait_until = now + timedelta(seconds=float(timeout_s))
            signal = await self._find_signal(s, step)
            if signal is not None:
                result.outcome = Outcome.COMPLETED
                result.output = {"signal": signal.payload, "signal_id": signal.id}
                await s.execute(
                    update(Signal).where(Signal.id == signal.id).values(consumed_by_step_id=step.id)
                )
            elif wait_until and now >= wait_until:
                result.outcome, result.error = _timed_out(step.input, step.wait_key)
        outcome = result.outcome
        if outcome is Outcome.COMPLETED:
            values.update(
                state=StepState.COMPLETED, output=result.output, error=None, finished_at=now
            )
        elif outcome is Outcome.FATAL:
            values.update(state=StepState.FAILED, error=result.error, finished_at=now)
        elif outcome is Outcome.WAIT:
            values.update(state=StepState.WAITING, due_at=wait_until, wait_until=wait_until)
        elif outcome is Outcome.DEFER:
            due = result.due_at or now
            values.update(state=StepState.READY, due_at=due, wait_until=due, attempts=-1)
        return outcome, values

    async def _update_steps(
        self, s: AsyncSession, changes: list[tuple[int, dict[str, object]]]
    ) -> None:
        """One executemany UPDATE per set of changed columns; the lease is released and
        the fence is repeated in the statement."""
        groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
        for step_id, values in changes:
            params = {f"b_{k}": v for k, v in values.items() if k != "attempts"}
            params["b_id"] = step_id
            groups.setdefault(tuple(sorted(values)), []).append(params)
        c = STEPS.c
        for columns, rows in groups.items():
            new: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
            for name in columns:
                if name == "attempts":
                    new[name] = c.attempts - 1
                else:
                    new[name] = bindparam(f"b_{name}", type_=c[name].type)
            await s.execute(
                update(STEPS)
                .where(
                    c.id == bindparam("b_id"),
                    c.lease_owner == self.owner,
                    c.state == StepState.RUNNING,
                )
                .values(new),
                rows,
            )

    async def _apply_compensation(
        self, s: AsyncSession, step: ClaimedStep, result: StepResult, policy: RetryPolicy
    ) -> bool:
        kept = await apply_compensation(
            s,
            step,
            result,
            owner=self.owner,
            policy=policy,
            rng=self._rng,
            writeback=self.writeback,
            is_sqlite=self.db.is_sqlite,
        )
        if kept and step.kind == "callout":
            await self._log_attempts(s, [(step, result, result.outcome)], utcnow())
        return kept

    async def _find_signal(self, s: AsyncSession, step: ClaimedStep) -> Any:
        q = (
            select(Signal.id, Signal.payload)
            .where(Signal.correlation_key == step.wait_key, Signal.consumed_by_step_id.is_(None))
            .order_by(Signal.id)
            .limit(1)
        )
        if not self.db.is_sqlite:
            q = q.with_for_update(skip_locked=True)
        return (await s.execute(q)).first()

    async def _log_attempts(
        self,
        s: AsyncSession,
        items: list[tuple[ClaimedStep, StepResult, Outcome]],
        now: datetime,
    ) -> None:
        """Upsert the connector calls (one per idempotency key) and insert the attempts."""
        if not items:
            return
        calls: list[dict[str, object]] = []
        for step, result, outcome in items:
            status = {Outcome.COMPLETED: "succeeded", Outcome.FATAL: "failed"}.get(
                outcome, "retrying"
            )
            calls.append(
                {
                    "step_id": step.id,
                    "connector": step.connector or "",
                    "action": step.action or "",
                    "idempotency_key": step.idempotency_key,
                    "correlation_id": step.correlation_id,
                    "status": status,
                    "external_id": result.external_id,
                    "created_at": now,
                }
            )
        insert = upsert(s)(CALLS)
        new_id = insert.excluded.external_id
        stmt = insert.on_conflict_do_update(
            index_elements=["idempotency_key"],
            set_={
                "status": insert.excluded.status,
                # an attempt without an external id keeps the one known
                "external_id": case(
                    (or_(new_id.is_(None), new_id == ""), CALLS.c.external_id), else_=new_id
                ),
            },
        ).returning(CALLS.c.id, CALLS.c.idempotency_key)
        call_ids: dict[str, int] = {}
        # ON CONFLICT DO UPDATE may touch a row once per statement: a key seen twice
        # in the batch (the same step retried and finished) goes in a later round
        todo = calls
        while todo:
            seen: set[object] = set()
            now_rows: list[dict[str, object]] = []
            later: list[dict[str, object]] = []
            for row in todo:
                (later if row["idempotency_key"] in seen else now_rows).append(row)
                seen.add(row["idempotency_key"])
            for r in (await s.execute(stmt, now_rows)).all():
                call_ids[r.idempotency_key] = r.id
            todo = later
        attempts = [
            {
                "call_id": call_ids[step.idempotency_key],
                "attempt": step.attempt,
                "outcome": outcome.value,
                "status_code": result.status_code,
                "error": result.error,
                "started_at": datetime.fromtimestamp(result.started, now.tzinfo)
                if result.started
                else now,
                "finished_at": now,
            }
            for step, result, outcome in items
        ]
        await s.execute(insert_into(ATTEMPTS), attempts)

    # -- waiting steps -----------------------------------------------------------

    async def poll_waits(self, limit: int = 100) -> int:
        """Complete waiting steps whose signal arrived; fail those past ``wait_until``.

        Each resolution commits with the consumed signal, the plan's progress and
        its write-backs.  Returns how many steps were resolved.
        """
        now = utcnow()
        matched = (
            select(Step.id, Step.plan_id, Step.key, Signal.id.label("signal_id"), Signal.payload)
            .join(Signal, Signal.correlation_key == Step.wait_key)
            .where(
                Step.state == StepState.WAITING,
                Step.kind == "wait",
                Signal.consumed_by_step_id.is_(None),
            )
            .order_by(Signal.id)
            .limit(limit)
        )
        expired = (
            select(Step.id, Step.plan_id, Step.key, Step.wait_key, Step.input)
            .where(
                Step.state == StepState.WAITING,
                Step.kind == "wait",
                Step.due_at.is_not(None),
                Step.due_at <= now,
            )
            .limit(limit)
        )
        if not self.db.is_sqlite:
            matched = matched.with_for_update(skip_locked=True)
            expired = expired.with_for_update(skip_locked=True)
        resolved = 0
        async with self.db.write() as s:
            steps_done: set[int] = set()
            signals_used: set[int] = set()
            for r in (await s.execute(matched)).all():
                if r.id in steps_done or r.signal_id in signals_used:
                    continue
                steps_done.add(r.id)
                signals_used.add(r.signal_id)
                output = {"signal": r.payload, "signal_id": r.signal_id}
                if await self._resolve_wait(s, r.id, StepState.COMPLETED, output=output):
                    await s.execute(
                        update(Signal)
                        .where(Signal.id == r.signal_id)
                        .values(consumed_by_step_id=r.id)
                    )
                    await self._after_wait(s, r.plan_id, r.key, "step.signalled", None)
                    resolved += 1
            for r in (await s.execute(expired)).all():
                if r.id in steps_done:
                    continue
                outcome, error = _timed_out(r.input or {}, r.wait_key)
                new = StepState.FAILED if outcome is Outcome.FATAL else StepState.COMPLETED
                result = None if error else {"timed_out": True}
                if await self._resolve_wait(s, r.id, new, output=result, error=error):
                    action = "step.failed" if error else "step.timed_out"
                    await self._after_wait(s, r.plan_id, r.key, action, error)
                    resolved += 1
        if resolved:
            self.wakeup.set()
        return resolved

    async def _resolve_wait(
        self,
        s: AsyncSession,
        step_id: int,
        state: StepState,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        done = await s.execute(
            update(Step)
            .where(Step.id == step_id, Step.state == StepState.WAITING)
            .values(state=state, output=output, error=error, finished_at=utcnow())
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    async def _after_wait(
        self, s: AsyncSession, plan_id: int, key: str, action: str, error: str | None
    ) -> None:
        plan = await lock_plan(s, plan_id, self.db.is_sqlite)
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


def _timed_out(step_input: dict[str, Any], wait_key: str | None) -> tuple[Outcome, str | None]:
    """A wait's timeout: fallout, or completion when its definition says ``on_timeout:
    complete``."""
    if (step_input.get("wait") or {}).get("on_timeout") == "complete":
        return Outcome.COMPLETED, None
    return Outcome.FATAL, f"wait timed out: no signal {wait_key!r} arrived in time"


def _honours_retry_after(step: ClaimedStep) -> bool:
    return honours_retry_after(step.retry_policy)
