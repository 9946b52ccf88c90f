"""Operator actions from the console: each in its own transaction, as the API's routes run
them (``revflow.orchestration.operator``), with the logged-in identity as the actor.

A bulk action runs one transaction per selected step, so one refusal does not undo the
others; each outcome says what happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from revflow.config import WritebackSettings
from revflow.db.database import Database
from revflow.orchestration import operator
from revflow.orchestration.errors import OperatorError

STEP_ACTIONS = ("retry", "skip", "complete", "redrive")
PLAN_ACTIONS = ("cancel",)
ACTIONS = STEP_ACTIONS + PLAN_ACTIONS


@dataclass(frozen=True)
class Outcome:
    plan_id: int
    step: str | None
    action: str
    ok: bool
    message: str


async def run_action(
    db: Database,
    writeback: WritebackSettings,
    action: str,
    plan_id: int,
    step: str | None,
    *,
    actor: str,
    reason: str,
    input: dict[str, Any] | None = None,
) -> Outcome:
    """One action; a refusal (``OperatorError``) is an outcome, not an exception."""
    if action not in ACTIONS:
        return Outcome(plan_id, step, action, False, f"unknown action {action!r}")
    if action in STEP_ACTIONS and not step:
        return Outcome(plan_id, step, action, False, f"{action} needs a step")
    try:
        async with db.write() as s:
            if action == "retry":
                result = await operator.retry(
                    s, writeback, plan_id, str(step), actor=actor, reason=reason, input=input
                )
            elif action == "skip":
                result = await operator.skip(
                    s, writeback, plan_id, str(step), actor=actor, reason=reason
                )
            elif action == "complete":
                result = await operator.complete(
                    s, writeback, plan_id, str(step), actor=actor, reason=reason
                )
            elif action == "redrive":
                result = await operator.redrive(
                    s, writeback, plan_id, str(step), actor=actor, reason=reason
                )
            else:
                result = await operator.cancel(s, writeback, plan_id, actor=actor, reason=reason)
    except OperatorError as exc:
        return Outcome(plan_id, step, action, False, exc.detail)
    changed = ", ".join(f"{k} → {v}" for k, v in result.changed.items()) or "nothing changed"
    return Outcome(plan_id, step, action, True, f"plan {result.plan_state}; {changed}")


def parse_selection(values: Iterable[str]) -> list[tuple[int, str]]:
    """``plan_id:step_key`` values of the checkboxes; malformed ones are dropped."""
    out: list[tuple[int, str]] = []
    for v in values:
        plan, _, key = v.partition(":")
        if plan.isdigit() and key and 0 < int(plan) < 2**31:
            out.append((int(plan), key[:100]))
    return out


async def run_bulk(
    db: Database,
    writeback: WritebackSettings,
    action: str,
    selection: list[tuple[int, str]],
    *,
    actor: str,
    reason: str,
) -> list[Outcome]:
    """``action`` on each selected step (a plan action once per plan)."""
    outcomes: list[Outcome] = []
    done_plans: set[int] = set()
    for plan_id, key in selection:
        if action in PLAN_ACTIONS:
            if plan_id in done_plans:
                continue
            done_plans.add(plan_id)
        outcomes.append(
            await run_action(db, writeback, action, plan_id, key, actor=actor, reason=reason)
        )
    return outcomes
