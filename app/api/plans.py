"""Plan endpoints: read a plan and its audit trail; operator actions on its steps.

Actions answer 404 for an unknown plan or step, 409 when the state machine does
not allow the change (the message says why), 400 for a bad plan id or step key (or an
action the domain refuses), 422 for a body of the wrong shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.api.schemas import (
    AUTH_ERRORS,
    ActionIn,
    ActionOut,
    AuditOut,
    CompleteIn,
    PlanOut,
    Problem,
    RedriveIn,
    RetryIn,
    StepOut,
)
from revflow.config import WritebackSettings
from revflow.db.database import Database
from revflow.db.models import Plan, Step
from revflow.orchestration import operator, repository
from revflow.orchestration.operator import ActionResult
from revflow.security.dependencies import require
from revflow.security.identity import Identity, Role

Viewer = Depends(require(Role.VIEWER))
Operator = Annotated[Identity, Depends(require(Role.OPERATOR))]

MAX_ID = 2**31 - 1  # plans.id is a 32-bit integer on PostgreSQL
ERRORS: dict[int | str, dict[str, Any]] = {
    **{code: {"model": Problem} for code in (400, 404, 409)},
    **AUTH_ERRORS,
}
# declared in the OpenAPI document and checked by FastAPI (400 when they do not fit)
PlanId = Annotated[int, Path(ge=1, le=MAX_ID, description="a plan's id")]
StepKey = Annotated[str, Path(min_length=1, max_length=100, description="a step's key")]


def step_out(st: Step) -> StepOut:
    return StepOut(
        key=st.key,
        kind=st.kind,
        state=st.state,
        depends_on=st.depends_on,
        attempts=st.attempts,
        connector=st.connector,
        action=st.action,
        idempotency_key=st.idempotency_key,
        due_at=st.due_at,
        started_at=st.started_at,
        finished_at=st.finished_at,
        error=st.error,
        output=st.output,
        mapping_hash=st.mapping_hash,
        wait_key=st.wait_key,
        wait_until=st.wait_until,
        assignee=st.assignee,
        note=st.note,
        ponr=bool(st.ponr),
        expected_duration_s=st.expected_duration_s,
        jeopardy=st.jeopardy,
    )


def plan_out(p: Plan, steps: list[Step]) -> PlanOut:
    return PlanOut(
        id=p.id,
        order_id=p.order_id,
        scenario=p.scenario,
        definition=p.definition,
        correlation_id=p.correlation_id,
        state=p.state,
        error=p.error,
        mapping_hashes=p.mapping_hashes,
        created_at=p.created_at,
        completed_at=p.completed_at,
        steps=[step_out(st) for st in steps if st.plan_id == p.id],
        hold_reason=p.hold_reason,
        due_at=p.due_at,
        jeopardy=p.jeopardy,
        version=p.version,
        change=_change(p.amendment),
    )


def _change(amendment: dict[str, Any] | None) -> dict[str, Any] | None:
    """What is being changed, without the drafts' payloads."""
    if not amendment:
        return None
    out = {k: v for k, v in amendment.items() if k not in ("steps", "scenario_steps")}
    out.setdefault("change", "amendment")
    out["steps"] = [s["key"] for s in amendment.get("steps") or []]
    out["scenario_steps"] = [s["key"] for s in amendment.get("scenario_steps") or []]
    return out


async def _run(
    db: Database, action: Callable[[AsyncSession], Awaitable[ActionResult]]
) -> ActionOut:
    """Run an operator action in its own transaction (a refusal rolls it back and is
    answered by ``revflow.api.errors``)."""
    async with db.write() as s:
        result = await action(s)
    return ActionOut(
        plan_id=result.plan_id,
        action=result.action,
        plan_state=result.plan_state,
        changed=result.changed,
    )


def plans_router(db: Database, writeback: WritebackSettings) -> APIRouter:
    router = APIRouter(prefix="/api/plans", tags=["plans"], responses=ERRORS)

    @router.get("/{plan_id}", response_model=PlanOut, dependencies=[Viewer])
    async def get_plan(plan_id: PlanId) -> PlanOut:
        """A plan with its steps."""
        async with db.read() as s:
            plan = await repository.get_plan(s, plan_id)
            if plan is None:
                raise HTTPException(404, f"no plan {plan_id}")
            steps = await repository.steps_of_plans(s, [plan_id])
        return plan_out(plan, steps)

    @router.get("/{plan_id}/audit", response_model=list[AuditOut], dependencies=[Viewer])
    async def get_audit(plan_id: PlanId) -> list[AuditOut]:
        """Everything that happened to a plan, oldest first: who, what, why."""
        async with db.read() as s:
            if await repository.get_plan(s, plan_id) is None:
                raise HTTPException(404, f"no plan {plan_id}")
            rows = await repository.plan_audit(s, plan_id)
            return [
                AuditOut(id=a.id, at=a.at, actor=a.actor, action=a.action, detail=a.detail)
                for a in rows
            ]

    @router.post("/{plan_id}/steps/{key}/retry", response_model=ActionOut)
    async def retry_step(plan_id: PlanId, key: StepKey, body: RetryIn, who: Operator) -> ActionOut:
        """Run a fatally failed step again, optionally with new input."""
        return await _run(
            db,
            lambda s: operator.retry(
                s, writeback, plan_id, key, actor=who.subject, reason=body.reason, input=body.input
            ),
        )

    @router.post("/{plan_id}/steps/{key}/skip", response_model=ActionOut)
    async def skip_step(plan_id: PlanId, key: StepKey, body: ActionIn, who: Operator) -> ActionOut:
        """Skip a step; what depends on it may run."""
        return await _run(
            db,
            lambda s: operator.skip(
                s, writeback, plan_id, key, actor=who.subject, reason=body.reason
            ),
        )

    @router.post("/{plan_id}/steps/{key}/complete", response_model=ActionOut)
    async def complete_step(
        plan_id: PlanId, key: StepKey, body: CompleteIn, who: Operator
    ) -> ActionOut:
        """Complete a waiting manual task, with optional output."""
        return await _run(
            db,
            lambda s: operator.complete(
                s,
                writeback,
                plan_id,
                key,
                actor=who.subject,
                reason=body.reason,
                output=body.output,
            ),
        )

    @router.post("/{plan_id}/redrive", response_model=ActionOut)
    async def redrive(plan_id: PlanId, body: RedriveIn, who: Operator) -> ActionOut:
        """Re-run the plan from a failed step; completed steps are kept."""
        return await _run(
            db,
            lambda s: operator.redrive(
                s, writeback, plan_id, body.step, actor=who.subject, reason=body.reason
            ),
        )

    @router.post("/{plan_id}/cancel", response_model=ActionOut)
    async def cancel(plan_id: PlanId, body: ActionIn, who: Operator) -> ActionOut:
        """Cancel the plan (failed if it had fallout, else cancelled)."""
        return await _run(
            db,
            lambda s: operator.cancel(s, writeback, plan_id, actor=who.subject, reason=body.reason),
        )

    return router
