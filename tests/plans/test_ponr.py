"""Point of no return and compensation order: pure functions on step views."""

from __future__ import annotations

from revflow.plans.ponr import ChangeView, next_compensations, ponr_passed, refusal_text
from revflow.plans.state import StepState

C, P, R = StepState.COMPLETED, StepState.PENDING, StepState.RUNNING


def test_ponr_passed_once_a_ponr_step_started():
    steps = [ChangeView("a", C, ()), ChangeView("inv", P, ("a",), ponr=True)]
    assert ponr_passed(steps) is None
    running = [steps[0], ChangeView("inv", R, ("a",), ponr=True)]
    assert ponr_passed(running) == running[1]
    assert "point of no return passed (step inv is running)" in refusal_text(
        "cancellation", running[1], "in_progress"
    )
    assert refusal_text("cancellation", None, "completed").startswith("Change refused: ")


def test_compensations_run_in_reverse_dependency_order():
    steps = [
        ChangeView("a", C, (), compensable=True),
        ChangeView("b", C, ("a",), compensable=True),
        ChangeView("c", C, ("b",)),  # nothing to undo
        ChangeView("d", C, ("a",), compensable=True),
    ]
    assert next_compensations(steps) == ["b", "d"]
    steps[1] = ChangeView("b", StepState.COMPENSATED, ("a",), compensable=True)
    assert next_compensations(steps) == ["d"]
    steps[3] = ChangeView("d", StepState.COMPENSATING, ("a",), compensable=True)
    assert next_compensations(steps) == []
    steps[3] = ChangeView("d", StepState.COMPENSATED, ("a",), compensable=True)
    assert next_compensations(steps) == ["a"]
