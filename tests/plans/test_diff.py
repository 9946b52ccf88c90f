"""Diff of a plan with its amended order; PONR of an amendment; drafts as JSON."""

from __future__ import annotations

from revflow.plans.diff import (
    CurrentStep,
    PlanDiff,
    blocking_ponr,
    diff_plan,
    draft_from_json,
    draft_to_json,
    rerun_input,
    versioned_key,
)
from revflow.plans.state import StepState
from tests.plans import current, draft, undo

C, P, R, S = StepState.COMPLETED, StepState.PENDING, StepState.RUNNING, StepState.SKIPPED


def test_diff_finds_added_removed_and_changed_steps():
    have = [current("a", C), current("b", P, {"q": 1}), current("c", C), current("d", S)]
    want = [draft("a"), draft("b", {"q": 2}), draft("d"), draft("e")]
    diff = diff_plan(have, want)
    assert diff == PlanDiff(added=("e",), removed=("c",), changed=("b", "d"))
    assert diff.affected == {"b", "c", "d"}
    assert diff_plan(have[:2], [draft("a"), draft("b")]).empty


def test_diff_ignores_what_an_earlier_amendment_stamped_and_discarded_steps():
    stamped = rerun_input({"payload": {"q": 2}, "compensation": undo("x")}, 2)
    assert stamped["payload"]["revision"] == 2
    assert stamped["compensation"]["idempotency_key"] != "k-x"
    have = [CurrentStep("a", C, stamped), current("gone", StepState.DISCARDED)]
    assert diff_plan(have, [draft("a", {"q": 2}, compensation=undo("x"))]).empty
    # a discarded step that comes back is added again
    assert diff_plan(have, [draft("a", {"q": 2}, compensation=undo("x")), draft("gone")]).added


def test_ponr_blocks_only_the_steps_and_lines_an_amendment_touches():
    have = [
        current("ship@L1", R, ponr=True, scope_key="L1"),
        current("bill@L1", P, scope_key="L1"),
        current("ship@L2", P, ponr=True, scope_key="L2"),
    ]
    touches_l1 = PlanDiff(changed=("bill@L1",))
    touches_l2 = PlanDiff(changed=("ship@L2",))
    blocking = blocking_ponr(have, touches_l1)
    assert blocking is not None and blocking.key == "ship@L1"
    assert blocking_ponr(have, touches_l2) is None  # ship@L2 has not started
    assert blocking_ponr(have, PlanDiff(added=("x",))) is None


def test_versioned_keys_are_new_and_deterministic():
    assert versioned_key("k", 2) == versioned_key("k", 2) != versioned_key("k", 3) != "k"


def test_draft_survives_json():
    steps = [draft("a", deps=("b",), pause_until=None), draft("b", {"x": [1, 2]})]
    assert draft_from_json(draft_to_json(steps)) == steps
