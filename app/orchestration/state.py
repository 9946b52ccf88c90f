"""The plan and step state machine: pure functions on plain data.

A step moves pending -> ready (when every dependency is completed or skipped)
-> running -> completed, or -> retrying -> running again, or -> failed (fatal).
A plan is in progress until every step is completed or skipped (completed), or a
step failed fatally (failed).  Nothing here does I/O; the worker applies the
transitions these functions return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.db.models import PlanState, StepState

DONE = frozenset({StepState.COMPLETED, StepState.SKIPPED})
FINAL_STEP = frozenset(
    {StepState.COMPLETED, StepState.SKIPPED, StepState.FAILED, StepState.CANCELLED}
)
FINAL_PLAN = frozenset({PlanState.COMPLETED, PlanState.FAILED, PlanState.CANCELLED})


class InvalidTransition(Exception):
    pass


_ALLOWED: dict[StepState, frozenset[StepState]] = {
    StepState.PENDING: frozenset({StepState.READY, StepState.SKIPPED, StepState.CANCELLED}),
    StepState.READY: frozenset({StepState.RUNNING, StepState.CANCELLED}),
    StepState.RUNNING: frozenset(
        {StepState.COMPLETED, StepState.RETRYING, StepState.FAILED, StepState.RUNNING}
    ),
    StepState.RETRYING: frozenset({StepState.RUNNING, StepState.CANCELLED}),
    StepState.COMPLETED: frozenset(),
    StepState.FAILED: frozenset({StepState.READY, StepState.SKIPPED, StepState.CANCELLED}),
    StepState.SKIPPED: frozenset(),
    StepState.CANCELLED: frozenset(),
}


def check_transition(current: StepState, new: StepState) -> None:
    if new not in _ALLOWED[current]:
        raise InvalidTransition(f"step cannot go from {current} to {new}")


@dataclass(frozen=True)
class StepView:
    key: str
    state: StepState
    depends_on: tuple[str, ...]


def newly_ready(steps: Iterable[StepView]) -> list[str]:
    """Keys of pending steps whose dependencies are all completed or skipped."""
    steps = list(steps)
    state = {s.key: s.state for s in steps}
    return [
        s.key
        for s in steps
        if s.state is StepState.PENDING and all(state[d] in DONE for d in s.depends_on)
    ]


def plan_state(steps: Iterable[StepView]) -> PlanState:
    """The plan state implied by its steps."""
    states = [s.state for s in steps]
    if any(s is StepState.FAILED for s in states):
        return PlanState.FAILED
    if states and all(s in DONE for s in states):
        return PlanState.COMPLETED
    if all(s is StepState.CANCELLED or s in DONE for s in states) and states:
        return PlanState.CANCELLED
    return PlanState.IN_PROGRESS


def advance(steps: Iterable[StepView]) -> tuple[dict[str, StepState], PlanState]:
    """After a step changed: which steps become ready, and the plan's new state."""
    steps = list(steps)
    ready = {key: StepState.READY for key in newly_ready(steps)}
    after = [StepView(s.key, ready.get(s.key, s.state), s.depends_on) for s in steps]
    return ready, plan_state(after)


def validate_dependencies(deps: Mapping[str, Iterable[str]]) -> list[str]:
    """Problems in a dependency graph: unknown steps and cycles."""
    problems = [
        f"step {key!r} depends on unknown step {d!r}"
        for key, ds in deps.items()
        for d in ds
        if d not in deps
    ]
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(key: str, path: list[str]) -> None:
        if key in done or key not in deps:
            return
        if key in visiting:
            problems.append("dependency cycle: " + " -> ".join([*path, key]))
            return
        visiting.add(key)
        for d in deps[key]:
            visit(d, [*path, key])
        visiting.discard(key)
        done.add(key)

    for key in deps:
        visit(key, [])
    return problems
