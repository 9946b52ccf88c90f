"""The fallout queue at ``/console/fallout``: failed steps grouped by error, and the actions.

    GET  /console/fallout                               the groups (viewer)
    POST /console/fallout/act                           an action on the checked steps
    GET  /console/fallout/{plan}/{step}/edit            the step's input to edit (operator)
    POST /console/fallout/{plan}/{step}/retry           retry with the edited input

Every action asks for a reason and runs through ``revflow.orchestration.operator`` with
the logged-in identity as the actor, so it is audited and shows in the plan's trail.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse

from revflow.console import fallout_repository
from revflow.console.context import context_of
from revflow.console.fallout_groups import group_by_error
from revflow.console.input_check import InputError, parse_input
from revflow.console.pages import PREFIX, Operator, Viewer, database, render
from revflow.console.plan_actions import ACTIONS, Outcome, parse_selection, run_action, run_bulk
from revflow.console.redact import redact, restore_redacted
from revflow.orchestration.actors import REASON_MAX

PlanId = Annotated[int, Path(ge=1, le=2**31 - 1)]
StepKey = Annotated[str, Path(min_length=1, max_length=100)]
Reason = Annotated[str, Form(max_length=REASON_MAX)]


async def _page(
    request: Request,
    *,
    connector: str = "",
    outcomes: list[Outcome] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    async with database(request).read() as s:
        found = await fallout_repository.failed_steps(s, connector=connector)
    rows = [replace(r, error=redact(r.error) if r.error else None) for r in found]
    groups = group_by_error(rows)
    return render(
        request,
        "fallout.html",
        status_code=status_code,
        title="Fallout",
        groups=groups,
        total=len(rows),
        connector=connector,
        connectors=sorted({r.connector for r in rows if r.connector}),
        actions=ACTIONS,
        outcomes=outcomes or [],
        error=error,
    )


def fallout_router() -> APIRouter:
    router = APIRouter(prefix=f"{PREFIX}/fallout", include_in_schema=False)

    @router.get("", response_class=HTMLResponse)
    async def fallout(request: Request, who: Viewer, connector: str = "") -> HTMLResponse:
        return await _page(request, connector=connector[:64])

    @router.post("/act", response_class=HTMLResponse)
    async def act(
        request: Request,
        who: Operator,
        action: Annotated[str, Form(max_length=20)] = "",
        reason: Reason = "",
        sel: Annotated[list[str] | None, Form()] = None,
    ) -> HTMLResponse:
        selection = parse_selection(sel or [])
        problem = ""
        if action not in ACTIONS:
            problem = "Choose an action."
        elif not selection:
            problem = "Select at least one failed step."
        elif not reason.strip() and action != "complete":
            problem = "Give a reason: it goes to the audit trail."
        if problem:
            return await _page(request, error=problem, status_code=422)
        outcomes = await run_bulk(
            database(request),
            context_of(request).writeback,
            action,
            selection,
            actor=who.subject,
            reason=reason.strip(),
        )
        return await _page(request, outcomes=outcomes)

    @router.get("/{plan_id}/{key}/edit", response_class=HTMLResponse)
    async def edit(request: Request, who: Operator, plan_id: PlanId, key: StepKey) -> HTMLResponse:
        async with database(request).read() as s:
            step = await fallout_repository.step_of(s, plan_id, key)
        if step is None:
            return render(
                request, "error.html", status_code=404, detail=f"plan {plan_id} has no step {key!r}"
            )
        text = json.dumps(redact(step.input or {}), indent=2, sort_keys=True, default=str)
        return _edit_form(request, plan_id, key, step.kind, step.state, step.error, text)

    @router.post("/{plan_id}/{key}/retry", response_class=HTMLResponse)
    async def retry_edited(
        request: Request,
        who: Operator,
        plan_id: PlanId,
        key: StepKey,
        input: Annotated[str, Form(max_length=300_000)] = "",
        reason: Reason = "",
    ) -> HTMLResponse:
        async with database(request).read() as s:
            step = await fallout_repository.step_of(s, plan_id, key)
        if step is None:
            return render(
                request, "error.html", status_code=404, detail=f"plan {plan_id} has no step {key!r}"
            )
        try:
            edited = parse_input(input, step.kind)
            if not reason.strip():
                raise InputError("Give a reason: it goes to the audit trail.")
        except InputError as exc:
            return _edit_form(
                request, plan_id, key, step.kind, step.state, step.error, input, str(exc), 422
            )
        outcome = await run_action(
            database(request),
            context_of(request).writeback,
            "retry",
            plan_id,
            key,
            actor=who.subject,
            reason=reason.strip(),
            input=restore_redacted(edited, step.input or {}),
        )
        if not outcome.ok:
            return _edit_form(
                request,
                plan_id,
                key,
                step.kind,
                step.state,
                step.error,
                input,
                outcome.message,
                409,
            )
        return await _page(request, outcomes=[outcome])

    return router


def _edit_form(
    request: Request,
    plan_id: int,
    key: str,
    kind: str,
    state: str,
    step_error: str | None,
    text: str,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "fallout_edit.html",
        status_code=status_code,
        title=f"Retry {key} with edited input",
        plan_id=plan_id,
        key=key,
        kind=kind,
        state=state,
        step_error=redact(step_error) if step_error else None,
        text=text,
        error=error,
    )
