"""Point of no return and compensation order: pure functions on step views.

A cancellation is refused once any PONR step has started (an amendment only when
it touches one, see ``diff.blocking_ponr``).  Accepted, the
plan's completed steps that have a compensation are undone in reverse dependency
order: a step is compensated only when none of its dependants still waits to be.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from revflow.plans.state import StepState, StepView, dependants

# a PONR step in one of these states has not started: the plan can still change
NOT_STARTED = frozenset(
    {StepState.PENDING, StepState.READY, StepState.SKIPPED, StepState.CANCELLED}
)
REFUSED = "Change refused: "


@dataclass(frozen=True)
class ChangeView:
    key: str
    state: StepState
    depends_on: tuple[str, ...]
    ponr: bool = False
    compensable: bool = False  # has input["compensation"]
    note: str | None = None


def ponr_passed(steps: Iterable[ChangeView]) -> ChangeView | None:
    """The first PONR step that has started, if any."""
    return next((s for s in steps if s.ponr and s.state not in NOT_STARTED), None)


def refusal_text(change: str, step: ChangeView | None, plan_state: str) -> str:
    """What the Order's error field says when a change is refused."""
    if step is not None:
        why = f"point of no return passed (step {step.key} is {step.state})"
    else:
        why = f"the plan is already {plan_state}"
    return f"{REFUSED}{change} not possible: {why}"


def next_compensations(
    steps: Iterable[ChangeView], only: Collection[str] | None = None
) -> list[str]:
    """Completed, compensable steps none of whose dependants is still to be undone,
    running or compensating: the ones to compensate now.  ``only`` limits what is
    undone (an amendment undoes the steps it changes or removes)."""
    steps = list(steps)
    views = [StepView(s.key, s.state, s.depends_on) for s in steps]
    by_key = {s.key: s for s in steps}
    busy = {StepState.RUNNING, StepState.COMPENSATING}

    def _to_undo(step: ChangeView) -> bool:
        wanted = only is None or step.key in only
        return wanted and step.compensable and step.state is StepState.COMPLETED

    out = []
    for s in steps:
        if not _to_undo(s):
            continue
        later = [by_key[k] for k in dependants(views, s.key)]
        if not any(_to_undo(d) or d.state in busy for d in later):
            out.append(s.key)
    return out
