"""Jeopardy: on time, at risk or late by the critical path; the due date of an order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from revflow.plans.jeopardy import (
    Jeopardy,
    Margin,
    StepTiming,
    due_date,
    expected_finish,
    plan_jeopardy,
    step_jeopardy,
)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
H = 3600.0


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def chain(*states: str, started: datetime | None = None) -> list[StepTiming]:
    """Steps a -> b -> c..., one hour each."""
    keys = "abcdefgh"
    return [
        StepTiming(
            keys[i],
            st,
            (keys[i - 1],) if i else (),
            H,
            started if st in ("running", "waiting", "completed") else None,
            started + timedelta(hours=1) if started and st == "completed" else None,
        )
        for i, st in enumerate(states)
    ]


def test_no_due_date_is_unknown():
    assert plan_jeopardy(None, T0, chain("pending", "pending")) is None


def test_plan_on_time_at_risk_and_late_by_the_critical_path():
    steps = chain("pending", "pending")  # 2 h left; margin 20% of 2 h = 24 min
    assert plan_jeopardy(at(3), T0, steps) is Jeopardy.ON_TIME
    assert plan_jeopardy(at(2.3), T0, steps) is Jeopardy.AT_RISK
    assert plan_jeopardy(at(1.9), T0, steps) is Jeopardy.LATE
    assert plan_jeopardy(at(-0.1), T0, chain("completed", started=at(-2))) is Jeopardy.LATE


def test_the_longest_branch_counts_not_the_sum():
    steps = [
        StepTiming("a", "pending", (), H),
        StepTiming("b", "pending", ("a",), 2 * H),
        StepTiming("c", "pending", ("a",), H),
        StepTiming("d", "pending", ("b", "c"), None),
    ]
    assert expected_finish(steps, T0) == at(3)


def test_a_running_step_counts_its_remaining_time():
    steps = chain("completed", "running", "pending", started=T0)
    assert expected_finish(steps, at(0.75)) == at(1.0 + 1.0)  # b: 15 min left, c: 1 h
    overrun = chain("completed", "running", "pending", started=T0)
    assert expected_finish(overrun, at(1.5)) == at(2.5)  # b over time counts zero


def test_margin_setting_in_seconds():
    steps = chain("pending")
    assert plan_jeopardy(at(2), T0, steps, Margin(share=0.2)) is Jeopardy.ON_TIME
    assert plan_jeopardy(at(2), T0, steps, Margin(share=0, seconds=2 * H)) is Jeopardy.AT_RISK


def test_step_jeopardy():
    running = StepTiming("a", "running", (), 100.0, T0)
    assert step_jeopardy(running, T0 + timedelta(seconds=50)) is Jeopardy.ON_TIME
    assert step_jeopardy(running, T0 + timedelta(seconds=81)) is Jeopardy.AT_RISK
    assert step_jeopardy(running, T0 + timedelta(seconds=101)) is Jeopardy.LATE
    slow = StepTiming("a", "completed", (), 100.0, T0, T0 + timedelta(seconds=150))
    quick = StepTiming("a", "completed", (), 100.0, T0, T0 + timedelta(seconds=90))
    assert step_jeopardy(slow, at(5)) is Jeopardy.LATE
    assert step_jeopardy(quick, at(5)) is Jeopardy.ON_TIME
    assert step_jeopardy(StepTiming("a", "pending", (), 100.0), T0) is Jeopardy.ON_TIME
    assert step_jeopardy(StepTiming("a", "running", (), None, T0), at(5)) is None


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ({"EndDate": "2026-12-15", "EffectiveDate": "2026-12-01"}, datetime(2026, 12, 15)),
        ({"EndDate": None, "EffectiveDate": "2026-12-01"}, datetime(2026, 12, 1)),
        ({"EndDate": "2026-12-15T08:30:00.000+0000"}, datetime(2026, 12, 15, 8, 30)),
        ({"EffectiveDate": "not a date"}, None),
        ({}, None),
    ],
)
def test_due_date_from_the_order(order, expected):
    want = expected and expected.replace(tzinfo=UTC)
    if want and "T" not in str(order.get("EndDate") or ""):
        want = want.replace(hour=23, minute=59, second=59)
    assert due_date(order, "EndDate") == want


def test_a_cycle_in_an_unchecked_definition_ends_at_the_step_it_came_from():
    loop = [StepTiming("a", "pending", ("b",), H), StepTiming("b", "pending", ("a",), H)]
    assert expected_finish(loop, T0) == at(2)
    own = [StepTiming("c", "pending", ("c",), H)]  # a step depending on itself counts once
    assert expected_finish(own, T0) == at(1)
