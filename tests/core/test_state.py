from hypothesis import given
from hypothesis import strategies as st

from app.db.models import PlanState, StepState
from app.orchestration.state import (
    InvalidTransition,
    StepView,
    advance,
    check_transition,
    newly_ready,
    plan_state,
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


def test_plan_completes_when_all_steps_done_and_fails_on_fatal_step():
    assert plan_state(chain(StepState.COMPLETED, StepState.SKIPPED)) is PlanState.COMPLETED
    assert plan_state(chain(StepState.COMPLETED, StepState.FAILED)) is PlanState.FAILED
    assert plan_state(chain(StepState.COMPLETED, StepState.RUNNING)) is PlanState.IN_PROGRESS


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


@st.composite
def dags(draw):
    n = draw(st.integers(1, 8))
    deps = {
        f"s{i}": tuple(
            sorted(draw(st.sets(st.sampled_from([f"s{j}" for j in range(i)])))) if i else ()
        )
        for i in range(n)
    }
    return deps


@given(dags(), st.randoms(use_true_random=False))
def test_simulated_runs_respect_dependencies_and_finish(deps, rnd):
    """Run a plan to its end with random outcomes; check the invariants at every step."""
    state = {k: StepState.PENDING for k in deps}
    started_after: dict[str, set[str]] = {}
    completions: dict[str, int] = {}
    for _ in range(200):
        views = [StepView(k, state[k], deps[k]) for k in deps]
        ready, plan = advance(views)
        for k in ready:
            state[k] = StepState.READY
        if plan in (PlanState.COMPLETED, PlanState.FAILED):
            break
        runnable = [k for k in deps if state[k] in (StepState.READY, StepState.RETRYING)]
        assert runnable, "a plan that is not final must have work to do"
        k = rnd.choice(runnable)
        # a step never runs before its dependencies completed
        assert all(state[d] in (StepState.COMPLETED, StepState.SKIPPED) for d in deps[k])
        started_after[k] = {d for d in deps[k]}
        check_transition(state[k], StepState.RUNNING)
        roll = rnd.random()
        new = (
            StepState.COMPLETED
            if roll < 0.7
            else (StepState.RETRYING if roll < 0.95 else StepState.FAILED)
        )
        check_transition(StepState.RUNNING, new)
        state[k] = new
        if new is StepState.COMPLETED:
            completions[k] = completions.get(k, 0) + 1
    else:
        raise AssertionError("plan never reached a final state")
    assert all(c == 1 for c in completions.values())
    final = plan_state([StepView(k, state[k], deps[k]) for k in deps])
    assert final in (PlanState.COMPLETED, PlanState.FAILED)
