"""A plan's page at ``/console/plans/{id}``: timeline, steps and their attempts, mapping
versions, the order's revisions, jeopardy, the audit trail, and the operator's actions.

    GET  /console/plans/{id}        the page (viewer)
    POST /console/plans/{id}/act    action, step, reason (operator)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse

from revflow.clock import aware, utcnow
from revflow.console import plan_notes, plan_repository
from revflow.console.context import context_of
from revflow.console.pages import PREFIX, Operator, Viewer, database, render
from revflow.console.plan_actions import Outcome, run_action
from revflow.console.plan_view import (
    StepView,
    attempt_view,
    plan_actions,
    pretty,
    revision_diffs,
    step_actions,
)
from revflow.console.redact import redact
from revflow.console.timeline import TimelineStep, render_svg
from revflow.orchestration import repository
from revflow.orchestration.actors import REASON_MAX
from revflow.plans.state import FINAL_PLAN

PlanId = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def _page(
    request: Request,
    plan_id: int,
    *,
    outcomes: list[Outcome] | None = None,
    error: str = "",
    status_code: int = 200,
    draft: tuple[str, str, str] = ("", "markdown", ""),  # a refused comment: body, format, step
) -> HTMLResponse:
    async with database(request).read() as s:
        plan = await repository.get_plan(s, plan_id)
        if plan is None:
            return render(request, "error.html", status_code=404, detail=f"no plan {plan_id}")
        steps = await repository.plan_steps(s, plan_id)
        tries = await plan_repository.attempts_of_steps(s, [st.id for st in steps])
        revisions = await plan_repository.revisions(s, plan.order_id)
        trail = await repository.plan_audit(s, plan_id)
        notes = await plan_notes.load(s, plan_id)
    by_step: dict[int, list[plan_repository.AttemptRow]] = {}
    for t in tries:
        by_step.setdefault(t.step_id, []).append(t)
    views = [
        StepView(
            key=st.key,
            kind=st.kind,
            state=st.state,
            depends_on=tuple(st.depends_on or ()),
            connector=st.connector,
            action=st.action,
            attempts=st.attempts,
            error=redact(st.error) if st.error else None,
            jeopardy=st.jeopardy,
            mapping_hash=st.mapping_hash,
            started_at=aware(st.started_at),
            finished_at=aware(st.finished_at),
            note=st.note,
            request=pretty(st.input),
            answer=pretty(st.output),
            tries=[
                attempt_view(
                    t.attempt,
                    t.outcome,
                    t.status_code,
                    t.error,
                    aware(t.started_at),
                    aware(t.finished_at),
                )
                for t in by_step.get(st.id, [])
            ],
            actions=step_actions(st.state, plan.state),
        )
        for st in steps
    ]
    svg = render_svg(
        [
            TimelineStep(
                v.key, v.state, v.depends_on, v.started_at, v.finished_at, st.expected_duration_s
            )
            for v, st in zip(views, steps, strict=True)
        ],
        now=utcnow(),
        title=f"Plan {plan.id} timeline",
    )
    return render(
        request,
        "plan.html",
        status_code=status_code,
        title=f"Plan {plan.id}",
        plan=plan,
        plan_error=redact(plan.error) if plan.error else None,
        hold_reason=redact(plan.hold_reason) if plan.hold_reason else None,
        steps=views,
        svg=svg,
        plan_actions=plan_actions(plan.state),
        live=plan.state not in FINAL_PLAN,
        diffs=revision_diffs([(r.snapshot_id, r.taken_at, r.record) for r in revisions]),
        revisions=len(revisions),
        timeline=plan_notes.merge(
            [(a.at, a.actor, a.action, pretty(a.detail)) for a in trail], notes.comments
        ),
        plan_alerts=notes.alerts,
        alerts_total=notes.alerts_total,
        draft=draft,
        outcomes=outcomes or [],
        error=error,
    )


plan_page = _page  # what other routes of the page (comments) answer with


def plan_router() -> APIRouter:
    router = APIRouter(prefix=f"{PREFIX}/plans", include_in_schema=False)

    @router.get("/{plan_id}", response_class=HTMLResponse)
    async def plan_page(request: Request, who: Viewer, plan_id: PlanId) -> HTMLResponse:
        return await _page(request, plan_id)

    @router.post("/{plan_id}/act", response_class=HTMLResponse)
    async def act(
        request: Request,
        who: Operator,
        plan_id: PlanId,
        action: Annotated[str, Form(max_length=20)] = "",
        step: Annotated[str, Form(max_length=100)] = "",
        reason: Annotated[str, Form(max_length=REASON_MAX)] = "",
    ) -> HTMLResponse:
        if not reason.strip() and action != "complete":
            return await _page(
                request,
                plan_id,
                error="Give a reason: it goes to the audit trail.",
                status_code=422,
            )
        outcome = await run_action(
            database(request),
            context_of(request).writeback,
            action,
            plan_id,
            step or None,
            actor=who.subject,
            reason=reason.strip(),
        )
        return await _page(
            request, plan_id, outcomes=[outcome], status_code=200 if outcome.ok else 409
        )

    return router
