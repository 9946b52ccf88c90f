import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revflow.plans.state import (
    FINAL_PLAN,
    InvalidTransition,
    PlanState,
    StepState,
    StepView,
    advance,
    apply,
    cancel_plan,
    check_plan_transition,
    check_transition,
    complete_step,
    dependants,
    newly_ready,
    plan_state,
    redrive,
    retry_step,
    skip_step,
    validate_dependencies,
)


def chain(*states: StepState) -> list[StepView]:
    keys = [f"s{i}" for i in range(len(states))]
    return [
        StepView(k, s, (keys[i - 1],) if i else ())
        for i, (k, s) in enumerate(zip(keys, states, strict=True))
    ]


def test_first_step_is_ready_and_later_ones_wait():
    assert newly_ready(chain(StepState.PENDING, StepState.PENDING)) == ["s0"]


def test_completing_a_step_readies_its_dependant_only():
    ready, state = advance(chain(StepState.COMPLETED, StepState.PENDING, StepState.PENDING))
    assert ready == {"s1": StepState.READY}
    assert state is PlanState.IN_PROGRESS


def test_skipped_dependency_counts_as_done():
    assert newly_ready(chain(StepState.SKIPPED, StepState.PENDING)) == ["s1"]


def test_plan_completes_when_all_steps_done_and_holds_on_fatal_step():
    assert plan_state(chain(StepState.COMPLETED, StepState.SKIPPED)) is PlanState.COMPLETED
    assert plan_state(chain(StepState.COMPLETED, StepState.FAILED)) is PlanState.ON_HOLD
    assert plan_state(chain(StepState.FAILED, StepState.COMPLETED)) is PlanState.ON_HOLD
    assert plan_state(chain(StepState.COMPLETED, StepState.RUNNING)) is PlanState.IN_PROGRESS
    assert plan_state(chain(StepState.COMPLETED, StepState.CANCELLED)) is PlanState.CANCELLED


def test_final_plans_stay_final_and_frozen_plans_ready_nothing():
    steps = chain(StepState.COMPLETED, StepState.PENDING)
    assert advance(steps, PlanState.CANCELLED) == ({}, PlanState.CANCELLED)
    assert advance(steps, PlanState.FROZEN) == ({}, PlanState.FROZEN)


def test_cancel_gives_failed_only_with_fallout():
    changes, state = cancel_plan(chain(StepState.FAILED, StepState.PENDING), PlanState.ON_HOLD)
    assert changes == {"s1": StepState.CANCELLED} and state is PlanState.FAILED
    changes, state = cancel_plan(chain(StepState.COMPLETED, StepState.READY), PlanState.IN_PROGRESS)
    assert changes == {"s1": StepState.CANCELLED} and state is PlanState.CANCELLED
    with pytest.raises(InvalidTransition, match="running"):
        cancel_plan(chain(StepState.RUNNING), PlanState.IN_PROGRESS)
    with pytest.raises(InvalidTransition, match="plan is completed"):
        cancel_plan(chain(StepState.COMPLETED), PlanState.COMPLETED)


def test_operator_actions_are_checked():
    steps = chain(StepState.COMPLETED, StepState.FAILED, StepState.PENDING)
    assert retry_step(steps, "s1", PlanState.ON_HOLD) == {"s1": StepState.READY}
    with pytest.raises(InvalidTransition, match="only a failed step"):
        retry_step(steps, "s0", PlanState.ON_HOLD)
    assert skip_step(steps, "s1", PlanState.ON_HOLD) == {"s1": StepState.SKIPPED}
    with pytest.raises(InvalidTransition, match="is completed"):
        skip_step(steps, "s0", PlanState.ON_HOLD)
    with pytest.raises(InvalidTransition, match="only a waiting"):
        complete_step(steps, "s1", PlanState.ON_HOLD)
    assert complete_step(chain(StepState.WAITING), "s0", PlanState.IN_PROGRESS) == {
        "s0": StepState.COMPLETED
    }


def test_redrive_resets_the_step_and_what_follows_but_keeps_completed_steps():
    steps = [
        StepView("a", StepState.COMPLETED, ()),
        StepView("b", StepState.SKIPPED, ("a",)),
        StepView("c", StepState.COMPLETED, ("b",)),
        StepView("d", StepState.FAILED, ("c",)),
        StepView("e", StepState.PENDING, ("d",)),
        StepView("x", StepState.COMPLETED, ()),
    ]
    assert redrive(steps, "b", PlanState.ON_HOLD) == {
        "b": StepState.PENDING,
        "d": StepState.PENDING,
    }
    assert dependants(steps, "b") == {"c", "d", "e"}
    ready = [*steps[:4], StepView("e", StepState.READY, ("d",))]
    assert redrive(ready, "d", PlanState.ON_HOLD) == {"d": "pending", "e": "pending"}
    running = [*steps[:4], StepView("e", StepState.RUNNING, ("d",))]
    with pytest.raises(InvalidTransition, match="under way"):
        redrive(running, "b", PlanState.ON_HOLD)


def test_completed_step_cannot_run_again():
    try:
        check_transition(StepState.COMPLETED, StepState.RUNNING)
    except InvalidTransition:
        return
    raise AssertionError("a completed step was allowed to run again")


def test_dependency_problems_are_found():
    problems = validate_dependencies({"a": ["b"], "b": ["a"], "c": ["zzz"]})
    assert any("cycle" in p for p in problems)
    assert any("unknown step 'zzz'" in p for p in problems)
    assert validate_dependencies({"a": [], "b": ["a"]}) == []


KINDS = ("callout", "callout", "milestone", "wait", "manual")
OPERATOR = ("retry", "skip", "complete", "redrive", "cancel")


@st.composite
def dags(draw):
    """Random DAGs: step i depends on any subset of the steps before it."""
    n = draw(st.integers(1, 8))
    return {
        f"s{i}": (
            draw(st.sampled_from(KINDS)),
            tuple(sorted(draw(st.sets(st.sampled_from([f"s{j}" for j in range(i)]))))) if i else (),
        )
        for i in range(n)
    }


class Model:
    """A plan driven only through the state machine's functions, checking invariants."""

    def __init__(self, dag):
        self.kind = {k: kind for k, (kind, _) in dag.items()}
        self.deps = {k: deps for k, (_, deps) in dag.items()}
        self.state = dict.fromkeys(dag, StepState.PENDING)
        self.plan = PlanState.IN_PROGRESS
        self.ever_completed: set[str] = set()
        self.settle()

    def views(self):
        return [StepView(k, self.state[k], self.deps[k], self.kind[k]) for k in self.deps]

    def change(self, changes, plan=None):
        for view in apply(self.views(), changes):
            self.state[view.key] = view.state
        for k, new in changes.items():
            if new is StepState.COMPLETED:
                assert k not in self.ever_completed, f"{k} completed twice"
                self.ever_completed.add(k)
        self.settle(plan)

    def settle(self, forced=None):
        ready, new = advance(self.views(), self.plan)
        if forced is not None:
            ready, new = {}, forced
        for view in apply(self.views(), ready):
            self.state[view.key] = view.state
        check_plan_transition(self.plan, new)
        if forced is None:
            assert new is not PlanState.FAILED, "only an operator makes a plan failed"
        self.plan = new
        self.check()

    def check(self):
        states = set(self.state.values())
        if self.plan in FINAL_PLAN:
            assert not states & {StepState.READY, StepState.RUNNING, StepState.RETRYING}
            assert StepState.WAITING not in states
        elif StepState.FAILED in states:
            assert self.plan is PlanState.ON_HOLD, "fatal fallout must put the plan on hold"
        if self.plan is PlanState.COMPLETED:
            assert states <= {StepState.COMPLETED, StepState.SKIPPED}

    def in_state(self, *states):
        return [k for k in self.deps if self.state[k] in states]

    # events ----------------------------------------------------------------

    def claim(self, k):
        assert all(
            self.state[d] in (StepState.COMPLETED, StepState.SKIPPED) for d in self.deps[k]
        ), f"{k} ran before its dependencies were done"
        assert k not in self.ever_completed, f"completed step {k} ran again"
        self.change({k: StepState.RUNNING})

    def outcome(self, k, roll):
        kind = self.kind[k]
        if kind in ("wait", "manual"):
            new = StepState.WAITING
        elif kind == "milestone" or roll < 0.6:
            new = StepState.COMPLETED
        else:
            new = StepState.RETRYING if roll < 0.85 else StepState.FAILED
        self.change({k: new})

    def operator(self, action, k):
        try:
            if action == "retry":
                self.change(retry_step(self.views(), k, self.plan))
            elif action == "skip":
                self.change(skip_step(self.views(), k, self.plan))
            elif action == "complete":
                self.change(complete_step(self.views(), k, self.plan))
            elif action == "redrive":
                self.change(redrive(self.views(), k, self.plan))
            else:
                changes, final = cancel_plan(self.views(), self.plan)
                self.change(changes, final)
        except InvalidTransition:
            pass  # refused: nothing changed


def step_event(model, data, resolve=False):
    """One random event; in ``resolve`` mode the world is kind and operators fix fallout."""
    runnable = model.in_state(StepState.READY, StepState.RETRYING)
    running = model.in_state(StepState.RUNNING)
    waiting = model.in_state(StepState.WAITING)
    failed = model.in_state(StepState.FAILED)
    choices = [c for c, ok in (("claim", runnable), ("finish", running), ("wake", waiting)) if ok]
    if not resolve or failed:
        choices.append("operator")
    kind = data.draw(st.sampled_from(choices))
    if kind == "claim":
        model.claim(data.draw(st.sampled_from(runnable)))
    elif kind == "finish":
        model.outcome(
            data.draw(st.sampled_from(running)), 0.0 if resolve else data.draw(st.floats(0, 1))
        )
    elif kind == "wake":
        k = data.draw(st.sampled_from(waiting))
        timed_out = not resolve and model.kind[k] == "wait" and data.draw(st.booleans())
        if timed_out:
            model.change({k: StepState.FAILED})
        else:  # a signal arrives, or an operator completes the manual task
            model.operator("complete", k)
    elif resolve:
        model.operator(data.draw(st.sampled_from(("retry", "skip", "redrive"))), failed[0])
    else:
        model.operator(
            data.draw(st.sampled_from(OPERATOR)), data.draw(st.sampled_from(list(model.deps)))
        )


@settings(max_examples=300, deadline=None)
@given(dags(), st.data())
def test_random_event_sequences_keep_the_invariants_and_end_final(dag, data):
    """Random outcomes and operator actions on random DAGs.

    Invariants: no step runs before its dependencies are completed or skipped; a
    completed step never runs again; fatal fallout holds the plan (never fails it);
    once operators resolve fallout, every plan reaches a final state.
    """
    model = Model(dag)
    for _ in range(data.draw(st.integers(0, 60))):
        if model.plan in FINAL_PLAN:
            break
        step_event(model, data)
    for _ in range(50 * len(dag)):
        if model.plan in FINAL_PLAN:
            break
        step_event(model, data, resolve=True)
    assert model.plan in FINAL_PLAN, (model.plan, model.state)


@settings(max_examples=100, deadline=None)
@given(dags(), st.data())
def test_cancel_always_ends_a_plan_with_nothing_running(dag, data):
    model = Model(dag)
    for _ in range(data.draw(st.integers(0, 30))):
        if model.plan in FINAL_PLAN:
            break
        step_event(model, data)
    if model.plan in FINAL_PLAN or model.in_state(StepState.RUNNING):
        return
    had_fallout = bool(model.in_state(StepState.FAILED))
    changes, final = cancel_plan(model.views(), model.plan)
    model.change(changes, final)
    assert model.plan is (PlanState.FAILED if had_fallout else PlanState.CANCELLED)


@given(st.sampled_from(list(StepState)), st.sampled_from(list(StepState)))
def test_final_step_states_only_leave_for_redrive_compensation_or_amendment(a, b):
    exits = {
        StepState.COMPLETED: {StepState.COMPENSATING, StepState.PENDING, StepState.DISCARDED},
        StepState.COMPENSATED: {StepState.PENDING, StepState.DISCARDED},
        StepState.SKIPPED: {StepState.PENDING, StepState.DISCARDED},
        StepState.DISCARDED: {StepState.PENDING},
        StepState.FAILED: {
            StepState.READY,
            StepState.PENDING,
            StepState.SKIPPED,
            StepState.CANCELLED,
            StepState.DISCARDED,
        },
    }
    if a is StepState.CANCELLED or (a in exits and b not in exits[a]):
        with pytest.raises(InvalidTransition):
            check_transition(a, b)
