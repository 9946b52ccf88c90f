from datetime import UTC, datetime, timedelta

from revflow.console.plan_actions import parse_selection
from revflow.console.plan_view import attempt_view, plan_actions, revision_diffs, step_actions

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_actions_offered_follow_the_state_machine() -> None:
    assert step_actions("failed", "on_hold") == ("retry", "skip", "redrive")
    assert step_actions("waiting", "in_progress") == ("complete", "skip")
    assert step_actions("skipped", "in_progress") == ("redrive",)
    assert step_actions("completed", "in_progress") == ()
    assert step_actions("failed", "failed") == ()  # a finished plan takes no action
    assert plan_actions("on_hold") == ("cancel",) and plan_actions("completed") == ()


def test_an_attempt_has_its_duration_and_a_redacted_error() -> None:
    a = attempt_view(1, "fatal", 401, "Bearer abcdefghijkl", T0, T0 + timedelta(seconds=2))
    assert a.duration_s == 2.0 and a.error == "Bearer ***"
    assert attempt_view(2, "retry", None, None, None, T0).duration_s is None


def test_each_revision_is_compared_with_the_one_before() -> None:
    diffs = revision_diffs(
        [(1, T0, {"Qty": 1}), (2, T0, {"Qty": 2}), (3, T0, {"Qty": 2, "password": "x"})]
    )
    assert [(d.from_id, d.to_id, [(c.path, c.old, c.new) for c in d.changes]) for d in diffs] == [
        (1, 2, [("Qty", 1, 2)]),
        (2, 3, [("password", None, "***")]),
    ]


def test_the_selection_keeps_well_formed_plan_step_pairs() -> None:
    assert parse_selection(["3:so", "x:so", "4:", "0:a", "5:a:b", str(2**31) + ":z"]) == [
        (3, "so"),
        (5, "a:b"),
    ]
