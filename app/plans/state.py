"""The plan and step state machine: pure functions on plain data.

Step transitions (``_ALLOWED``)::

    pending  -> ready (dependencies completed/skipped) | skipped | cancelled
    ready    -> running (claimed) | skipped | cancelled | pending (redrive)
    running  -> completed | retrying | failed (fatal) | waiting (wait/manual parked)
                | ready (a pause claimed early is put back) | running (lease taken over)
    retrying -> running | skipped | cancelled | pending (redrive)
    waiting  -> completed (signal or operator) | failed (wait timed out) | skipped
                | cancelled | pending (redrive)
    failed   -> ready/pending (operator retry, redrive) | skipped | cancelled
    skipped  -> pending (redrive)
    completed -> compensating -> compensated | failed
    completed, compensated -> pending (an amendment re-runs it with new input)
                            | discarded (an amendment removed it)
    discarded -> pending (a later amendment adds the line back)
    cancelled: final

Plan states (``_PLAN_ALLOWED``): pending -> in_progress; in_progress <-> on_hold;
in_progress/on_hold -> completed | cancelled | failed | freezing; freezing -> frozen;
frozen -> in_progress | cancelled | cancelling (the cancellation scenario's steps run;
a failed one waits in fallout) -> cancelled.  completed, cancelled and failed are final.

Fallout design: a fatally failed step puts its plan **on hold**, never straight to
``failed``.  A fatal error usually needs a person (bad data, a blocked customer) and
the operator can still fix it (retry with edited input, skip, redrive), so the plan
must stay open.  Independent branches keep running; only the failed step's
dependants wait.  A plan becomes ``failed`` only when an operator gives up, that is
cancels a plan that still has fatally failed steps; cancelling a plan without
fallout makes it ``cancelled``.  That keeps "Failed" on the Order meaning "a person
decided this order will not be fulfilled because of an error".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class PlanState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"  # a step failed fatally: fallout, waiting for an operator
    FREEZING = "freezing"  # an amendment arrived: running steps finish, none start
    FROZEN = "frozen"  # ready for the amended plan (compensation may run)
    CANCELLING = "cancelling"  # cancelled: its cancellation scenario's steps run
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    WAITING = "waiting"  # a wait or manual step parked until its signal or an operator
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    DISCARDED = "discarded"  # removed from the plan by an amendment (undone or never done)


# discarded steps left the plan in an amendment: nothing waits for them any more
DONE = frozenset({StepState.COMPLETED, StepState.SKIPPED, StepState.DISCARDED})
FINAL_STEP = frozenset(
    {
        StepState.COMPLETED,
        StepState.SKIPPED,
        StepState.FAILED,
        StepState.CANCELLED,
        StepState.COMPENSATED,
        StepState.DISCARDED,
    }
)
FINAL_PLAN = frozenset({PlanState.COMPLETED, PlanState.FAILED, PlanState.CANCELLED})
# steps an operator cancel stops (running steps must finish first)
CANCELLABLE = frozenset({StepState.PENDING, StepState.READY, StepState.RETRYING, StepState.WAITING})
SKIPPABLE = frozenset(
    {StepState.PENDING, StepState.READY, StepState.RETRYING, StepState.WAITING, StepState.FAILED}
)


class InvalidTransition(Exception):
    """A change the state machine does not allow; the message says why."""


_ALLOWED: dict[StepState, frozenset[StepState]] = {
    StepState.PENDING: frozenset({StepState.READY, StepState.SKIPPED, StepState.CANCELLED}),
    StepState.READY: frozenset(
        {StepState.RUNNING, StepState.SKIPPED, StepState.CANCELLED, StepState.PENDING}
    ),
    StepState.RUNNING: frozenset(
        {
            StepState.COMPLETED,
            StepState.RETRYING,
            StepState.FAILED,
            StepState.WAITING,
            StepState.READY,
            StepState.RUNNING,
        }
    ),
    StepState.RETRYING: frozenset(
        {StepState.RUNNING, StepState.SKIPPED, StepState.CANCELLED, StepState.PENDING}
    ),
    StepState.WAITING: frozenset(
        {
            StepState.COMPLETED,
            StepState.FAILED,
            StepState.SKIPPED,
            StepState.CANCELLED,
            StepState.PENDING,
        }
    ),
    # an amendment re-runs a changed step (pending) or drops a removed one (discarded)
    StepState.COMPLETED: frozenset(
        {StepState.COMPENSATING, StepState.PENDING, StepState.DISCARDED}
    ),
    StepState.FAILED: frozenset(
        {StepState.READY, StepState.PENDING, StepState.SKIPPED, StepState.CANCELLED}
    ),
    StepState.SKIPPED: frozenset({StepState.PENDING}),
    StepState.CANCELLED: frozenset(),
    StepState.COMPENSATING: frozenset({StepState.COMPENSATED, StepState.FAILED}),
    StepState.COMPENSATED: frozenset({StepState.PENDING, StepState.DISCARDED}),
    StepState.DISCARDED: frozenset({StepState.PENDING}),  # a removed line added back
}
# an amendment discards a removed step that has not started (or failed) as well
for _open_state in (*CANCELLABLE, StepState.FAILED, StepState.SKIPPED):
    _ALLOWED[_open_state] = _ALLOWED[_open_state] | {StepState.DISCARDED}

_PLAN_ALLOWED: dict[PlanState, frozenset[PlanState]] = {
    PlanState.PENDING: frozenset({PlanState.IN_PROGRESS, PlanState.ON_HOLD, PlanState.CANCELLED}),
    PlanState.IN_PROGRESS: frozenset(
        {
            PlanState.ON_HOLD,
            PlanState.COMPLETED,
            PlanState.CANCELLED,
            PlanState.FAILED,
            PlanState.FREEZING,
        }
    ),
    PlanState.ON_HOLD: frozenset(
        {
            PlanState.IN_PROGRESS,
            PlanState.COMPLETED,
            PlanState.CANCELLED,
            PlanState.FAILED,
            PlanState.FREEZING,
        }
    ),
    PlanState.FREEZING: frozenset({PlanState.FROZEN, PlanState.CANCELLED}),
    PlanState.FROZEN: frozenset({PlanState.IN_PROGRESS, PlanState.CANCELLED, PlanState.CANCELLING}),
    PlanState.CANCELLING: frozenset({PlanState.CANCELLED, PlanState.FAILED}),
    PlanState.COMPLETED: frozenset(),
    PlanState.FAILED: frozenset(),
    PlanState.CANCELLED: frozenset(),
}


def check_transition(current: StepState, new: StepState) -> None:
    if new not in _ALLOWED[current]:
        raise InvalidTransition(f"step cannot go from {current} to {new}")


def check_plan_transition(current: PlanState, new: PlanState) -> None:
    if current != new and new not in _PLAN_ALLOWED[current]:
        raise InvalidTransition(f"plan cannot go from {current} to {new}")


@dataclass(frozen=True)
class StepView:
    key: str
    state: StepState
    depends_on: tuple[str, ...]
    kind: str = ""


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
    """The plan state implied by its steps (before any operator gave up on it)."""
    states = [s.state for s in steps]
    if any(s is StepState.FAILED for s in states):
        return PlanState.ON_HOLD
    if states and all(s in DONE for s in states):
        return PlanState.COMPLETED
    if states and all(s in FINAL_STEP for s in states):
        return PlanState.CANCELLED
    return PlanState.IN_PROGRESS


def advance(
    steps: Iterable[StepView], current: PlanState = PlanState.IN_PROGRESS
) -> tuple[dict[str, StepState], PlanState]:
    """After a step changed: which steps become ready, and the plan's new state.

    A final plan stays final; a freezing or frozen plan readies nothing (the
    amendment decides what runs next).
    """
    steps = list(steps)
    if current in FINAL_PLAN or current in (PlanState.FREEZING, PlanState.FROZEN):
        return {}, current
    ready = {key: StepState.READY for key in newly_ready(steps)}
    after = [StepView(s.key, ready.get(s.key, s.state), s.depends_on, s.kind) for s in steps]
    if current is PlanState.CANCELLING:  # its cancellation steps run, then it is cancelled
        states = [s.state for s in after]
        done = all(s in FINAL_STEP and s is not StepState.FAILED for s in states)
        return ready, PlanState.CANCELLED if done else current
    return ready, plan_state(after)


# -- operator actions: the step changes each one makes, or InvalidTransition --------


def _find(steps: list[StepView], key: str) -> StepView:
    for s in steps:
        if s.key == key:
            return s
    raise KeyError(key)


def _open(current: PlanState) -> None:
    if current in FINAL_PLAN:
        raise InvalidTransition(f"plan is {current}; nothing can change any more")


def _deps_done(steps: list[StepView], step: StepView) -> bool:
    state = {s.key: s.state for s in steps}
    return all(state[d] in DONE for d in step.depends_on)


def retry_step(steps: Iterable[StepView], key: str, current: PlanState) -> dict[str, StepState]:
    """Run a fatally failed step again."""
    steps = list(steps)
    _open(current)
    step = _find(steps, key)
    if step.state is not StepState.FAILED:
        raise InvalidTransition(f"step {key!r} is {step.state}; only a failed step can be retried")
    return {key: StepState.READY if _deps_done(steps, step) else StepState.PENDING}


def skip_step(steps: Iterable[StepView], key: str, current: PlanState) -> dict[str, StepState]:
    """Mark a step skipped: its dependants may run as if it had completed."""
    steps = list(steps)
    _open(current)
    step = _find(steps, key)
    if step.state not in SKIPPABLE:
        raise InvalidTransition(
            f"step {key!r} is {step.state}; only a pending, ready, retrying, waiting or "
            "failed step can be skipped"
        )
    return {key: StepState.SKIPPED}


def complete_step(steps: Iterable[StepView], key: str, current: PlanState) -> dict[str, StepState]:
    """Complete a waiting step (a manual task, or a wait an operator resolves)."""
    steps = list(steps)
    _open(current)
    step = _find(steps, key)
    if step.state is not StepState.WAITING:
        raise InvalidTransition(
            f"step {key!r} is {step.state}; only a waiting manual task or wait can be completed"
        )
    return {key: StepState.COMPLETED}


def dependants(steps: Iterable[StepView], key: str) -> set[str]:
    """Every step that depends on ``key``, directly or through others."""
    steps = list(steps)
    found: set[str] = set()
    frontier = {key}
    while frontier:
        frontier = {s.key for s in steps if set(s.depends_on) & frontier} - found
        found |= frontier
    return found


_BUSY = frozenset({StepState.RUNNING, StepState.COMPENSATING})
# what a redrive puts back to pending after the step (completed steps are kept)
_RESETTABLE = frozenset(
    {StepState.FAILED, StepState.SKIPPED, StepState.READY, StepState.RETRYING, StepState.WAITING}
)


def redrive(steps: Iterable[StepView], key: str, current: PlanState) -> dict[str, StepState]:
    """Re-run a plan from a failed (or skipped) step: completed steps stay; the step and
    every dependant that is not completed go back to pending (ready when due).  Refused
    while a dependant is running."""
    steps = list(steps)
    _open(current)
    step = _find(steps, key)
    if step.state not in (StepState.FAILED, StepState.SKIPPED):
        raise InvalidTransition(
            f"step {key!r} is {step.state}; a plan is redriven from a failed or skipped step"
        )
    later = [s for s in steps if s.key in dependants(steps, key)]
    busy = [s.key for s in later if s.state in _BUSY]
    if busy:
        raise InvalidTransition(
            f"step(s) {', '.join(busy)} after {key!r} are under way; redrive when they end"
        )
    reset = {s.key: StepState.PENDING for s in later if s.state in _RESETTABLE}
    reset[key] = StepState.PENDING
    return reset


def cancel_plan(
    steps: Iterable[StepView], current: PlanState
) -> tuple[dict[str, StepState], PlanState]:
    """Stop a plan: open steps are cancelled.  The plan is ``failed`` if it still had
    fatally failed steps (the operator gave up on fallout), else ``cancelled``."""
    steps = list(steps)
    _open(current)
    busy = [s.key for s in steps if s.state in (StepState.RUNNING, StepState.COMPENSATING)]
    if busy:
        raise InvalidTransition(f"step(s) {', '.join(busy)} are running; cancel when they end")
    changes = {s.key: StepState.CANCELLED for s in steps if s.state in CANCELLABLE}
    failed = any(s.state is StepState.FAILED for s in steps)
    return changes, PlanState.FAILED if failed else PlanState.CANCELLED


def apply(steps: Iterable[StepView], changes: Mapping[str, StepState]) -> list[StepView]:
    """The steps after ``changes`` (each checked against the transition table)."""
    out = []
    for s in steps:
        new = changes.get(s.key)
        if new is not None and new is not s.state:
            check_transition(s.state, new)
            s = StepView(s.key, new, s.depends_on, s.kind)
        out.append(s)
    return out


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
