"""Commit step outcomes: one transaction per batch, set-based, fenced by the lease."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.alerts.hooks import step_fallout
from revflow.alerts.service import raise_alerts
from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.db.database import Database
from revflow.db.errors import unavailable
from revflow.db.models import StepState
from revflow.metrics import STEPS_EXECUTED
from revflow.orchestration import call_log, claims, repository
from revflow.orchestration.changes import continue_change
from revflow.orchestration.compensation import apply_compensation
from revflow.orchestration.executor import ClaimedStep, Outcome, StepResult
from revflow.orchestration.external_ids import apply_step_expression, note_missing
from revflow.orchestration.progress import Chain, settle_many
from revflow.orchestration.status import write_step_state
from revflow.orchestration.worker.claim import claimed
from revflow.orchestration.worker.waits import timed_out
from revflow.plans.definitions import PlanDefinition, StepDefinition
from revflow.plans.retry import RetryPolicy, honours_retry_after, policy_from_json
from revflow.salesforce import outbox
from revflow.salesforce.targets import fields_for

log = logging.getLogger("revflow.worker")

Done = tuple[ClaimedStep, StepResult]

# A plan's steps chained in a row (see ``Committer._apply_batch``) before its next step goes
# back to the common claim, where older plans' due steps come first: chaining must not
# let a long plan keep a slot while other plans wait.
CHAIN_MAX = 8


class Committer:
    """Commits a worker's outcomes while it holds their leases (``owner``)."""

    def __init__(
        self,
        db: Database,
        definitions: Mapping[str, PlanDefinition],
        writeback: WritebackSettings,
        owner: str,
        wakeup: asyncio.Event,
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self.db = db
        self.lease = lease
        self.definitions = definitions
        self.writeback = writeback
        self.owner = owner
        self.wakeup = wakeup
        self.rng = random.Random()
        self.executed = 0

    async def complete_many(self, done: list[Done]) -> list[bool]:
        """Commit several outcomes in one transaction (one per step if that fails)."""
        return (await self.commit(done))[0]

    async def commit(
        self, done: list[Done], chain: int = 0
    ) -> tuple[list[bool], list[ClaimedStep]]:
        """``complete_many``, and up to ``chain`` successors the outcomes made due, leased
        to this worker in the same transaction (``_apply_batch``): the caller runs them."""
        # the batch works on copies of the results: if its transaction fails, the
        # retry one by one starts from the executor's results again (a signal the
        # rolled-back batch matched to a waiting step is looked up anew, for example)
        work = [(step, replace(result, output=dict(result.output))) for step, result in done]
        for step, result in work:
            apply_step_expression(self._step_definition(step), step, result)
        try:
            async with self.db.write() as s:
                kept, chained = await self._apply_batch(s, work, chain)
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
            return kept, []
        for (_step, result), (_s, committed) in zip(done, work, strict=True):
            vars(result).update(vars(committed))  # the outcome as committed
        for (_step, result), ok in zip(done, kept, strict=True):
            if ok:
                self.executed += 1
                STEPS_EXECUTED.labels(outcome=result.outcome.value).inc()
        completed = any(
            ok and r.outcome is Outcome.COMPLETED for (_s, r), ok in zip(done, kept, strict=True)
        )
        # the claim runs for successors not chained (none asked for, or fewer due than
        # asked: other plans' steps may be due for the free slots)
        if completed and (len(chained) < chain or not chain):
            self.wakeup.set()
        return kept, chained

    async def _apply_batch(
        self, s: AsyncSession, done: list[Done], chain: int = 0
    ) -> tuple[list[bool], list[ClaimedStep]]:
        """Commit a batch of outcomes set-based, in the caller's transaction.

        The plans are locked (in id order) and the steps this worker still leases are
        locked (``claims.fence``); outcomes whose lease was lost are discarded.  Then
        one UPDATE per outcome shape, one upsert of connector calls and one insert of
        attempts, the write-backs and audit entries (flushed together), one
        ``settle_many`` for the plans whose steps completed or failed (dependants
        ready, plan state, jeopardy), and ``continue_change`` for plans being changed.
        The statements per batch do not grow with its size.  On PostgreSQL the fence
        also reads the plans' steps for ``settle_many`` (``claims.fence_and_read``),
        and a batch of completed outcomes writes them with the call log in one
        statement (``call_log.release_and_record``): each is a round trip, and a
        batch of a few steps costs mostly its round trips.

        Chaining: up to ``chain`` of the steps this batch makes due are leased to this
        worker in the same transaction (``settle_many``'s ``Chain``) and returned, to
        run next without a claim's transaction or a wait for the notification that
        would wake the claim.  Their lease is a claim's: fenced at commit, extended
        while they run, and if this worker dies it lapses and another worker runs them
        with the same idempotency key.
        """
        now = utcnow()
        sqlite = self.db.is_sqlite
        steps = [step for step, _ in done if not step.compensating]
        rows: list[Any] | None = None  # the plans' steps, when read with the fence
        if sqlite:
            # the fence is the first write: it takes the write lock, so the plans read
            # after it are current even with other processes on the same file
            owned = await claims.fence(s, [step.id for step in steps], self.owner, True)
            plan_ids = {step.plan_id for step in steps if step.id in owned}
            plans = await repository.lock_plans(s, plan_ids, True)
        else:
            # plans first, in id order, then steps: the lock order of every batch
            plans = await repository.lock_plans(s, {step.plan_id for step, _ in done}, False)
            if len(steps) == len(done):
                # no compensation (which changes steps of its own): the steps to settle
                # are read with the fence, and settled with this batch's changes applied
                owned, rows = await claims.fence_and_read(
                    s, [step.id for step in steps], list(plans), self.owner
                )
            else:
                owned = await claims.fence(s, [step.id for step in steps], self.owner, False)
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
            return kept, []
        changes = [(step.id, values) for step, _r, _o, values in applied]
        calls = [(st, r, o) for st, r, o, _v in applied if st.kind == "callout"]
        await self._record(s, changes, calls, now)
        settled: dict[int, str] = {}  # plan id -> key of the (last) step that finished
        fallout = [
            step_fallout(st, r.error, r.error_type)
            for st, r, o, _v in applied
            if o is Outcome.FATAL
        ]
        touched: dict[int, None] = {}  # plans to move on if a change is in progress
        for step, result, outcome, values in applied:
            touched[step.plan_id] = None
            if outcome is Outcome.COMPLETED:
                self._write_back(s, step, result)
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
        depth = _chainable(applied)
        lease = Chain(depth, chain, self.owner, self.lease)
        await settle_many(
            s,
            to_settle,
            self.writeback,
            "worker",
            details=details,
            chain=lease,
            rows=rows,
            changed=dict(changes) if rows is not None else None,
        )
        await raise_alerts(s, fallout)  # in this transaction: the alert and its cause
        for pid in touched:
            plan = plans.get(pid)
            # a cancellation or amendment in progress moves on
            if plan is not None and await continue_change(s, plan, self.writeback):
                self.wakeup.set()
        chained = claimed(lease.leased, plans)
        return kept, [replace(st, chained=depth[st.plan_id] + 1) for st in chained]

    def _write_back(self, s: AsyncSession, step: ClaimedStep, result: StepResult) -> None:
        """A completed step's write-backs: its own, and the ERP number if it gives one."""
        for w in result.writes:
            outbox.enqueue(s, w.sobject, w.record_id, w.fields, step.correlation_id)
        sd = self._step_definition(step)
        if sd is not None and sd.writes_erp_number and result.external_id:
            target = fields_for(self.writeback, step.order_id)  # the Order's, or the Quote's
            fields = {target.erp_number_field: result.external_id}
            outbox.enqueue(s, target.sobject, step.order_id, fields, step.correlation_id)
        note_missing(s, sd, step, result)

    async def _record(
        self,
        s: AsyncSession,
        changes: list[tuple[int, dict[str, object]]],
        calls: list[tuple[ClaimedStep, StepResult, Outcome]],
        now: datetime,
    ) -> None:
        """Write the outcomes (releasing the leases) and log the connector calls."""
        if call_log.fits_one_statement(changes, calls, not self.db.is_sqlite):
            await call_log.release_and_record(s, self.owner, changes, calls, now)
            return
        await claims.release_steps(s, self.owner, changes)
        await self._log_attempts(s, calls, now)

    async def _log_attempts(
        self, s: AsyncSession, items: list[tuple[ClaimedStep, StepResult, Outcome]], now: datetime
    ) -> None:
        await call_log.record_attempts(s, items, now)

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
            retry_after = result.retry_after_s if honours_retry_after(step.retry_policy) else None
            delay = policy.next_delay(step.attempt, retry_after, self.rng)
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
            signal = await repository.first_signal(s, step.wait_key, self.db.is_sqlite)
            if signal is not None:
                result.outcome = Outcome.COMPLETED
                result.output = {"signal": signal.payload, "signal_id": signal.id}
                await repository.consume_signal(s, signal.id, step.id)
            elif wait_until and now >= wait_until:
                result.outcome, result.error = timed_out(step.input, step.wait_key)
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

    async def _apply_compensation(
        self, s: AsyncSession, step: ClaimedStep, result: StepResult, policy: RetryPolicy
    ) -> bool:
        kept = await apply_compensation(
            s,
            step,
            result,
            owner=self.owner,
            policy=policy,
            rng=self.rng,
            writeback=self.writeback,
            is_sqlite=self.db.is_sqlite,
        )
        if kept and step.kind == "callout":
            await self._log_attempts(s, [(step, result, result.outcome)], utcnow())
        return kept

    def _policy(self, step: ClaimedStep) -> RetryPolicy:
        """The step's own retry policy (Step.retry_policy), else its definition's."""
        if step.retry_policy:
            return policy_from_json(step.retry_policy)
        sd = self._step_definition(step)
        return sd.retry if sd is not None else RetryPolicy()

    def _step_definition(self, step: ClaimedStep) -> StepDefinition | None:
        definition = self.definitions.get(step.definition)
        if definition is None:
            return None
        try:
            return definition.step(step.key)
        except StopIteration:
            return None


def _chainable(
    applied: list[tuple[ClaimedStep, StepResult, Outcome, dict[str, object]]],
) -> dict[int, int]:
    """The plans whose successors may be chained (a step of theirs completed, fewer
    than ``CHAIN_MAX`` in a row), with the length of their chain so far."""
    return {
        st.plan_id: st.chained
        for st, _r, outcome, _v in applied
        if outcome is Outcome.COMPLETED and st.chained < CHAIN_MAX and not st.compensating
    }
