"""Jeopardy: is a plan (or step) on time, at risk or late?  Pure functions.

A plan's expected finish is ``now`` plus the remaining critical path: the longest
dependency chain of expected durations of the steps not yet finished (a started
step counts only its remaining expected time).  It is ``late`` past its due date or
when the expected finish is after it, ``at_risk`` when the expected finish is
within ``margin`` of it, else ``on_time``.  Without a due date it is unknown (None).
A step is judged against its own expected duration (None without one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from revflow.clock import aware


class Jeopardy(StrEnum):
    ON_TIME = "on_time"
    AT_RISK = "at_risk"
    LATE = "late"


#: step states whose work is over (nothing remains on the critical path)
DONE = frozenset({"completed", "skipped", "cancelled", "compensated"})
#: step states whose clock runs from ``started_at``
ACTIVE = frozenset({"running", "waiting", "retrying", "compensating"})
STEP_RISK_SHARE = 0.8
END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class StepTiming:
    key: str
    state: str
    depends_on: tuple[str, ...] = ()
    expected_duration_s: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class Margin:
    """At risk within ``max(seconds, share × total expected duration)`` of the due date."""

    share: float = 0.2
    seconds: float = 0.0

    def of(self, total_s: float) -> float:
        return max(self.seconds, self.share * total_s)


def _critical_path(steps: Iterable[StepTiming], cost: dict[str, float]) -> float:
    """The longest chain of ``cost`` along ``depends_on`` (unknown keys ignored)."""
    deps = {s.key: s.depends_on for s in steps}
    memo: dict[str, float] = {}
    path: set[str] = set()  # the keys being resolved: a cycle stops at them

    # one set changed in place, not a new set per dependency: this runs for every new
    # plan (profiled at 2% of the main process's CPU with a set per call)
    def finish(key: str) -> float:
        if key not in memo:
            path.add(key)
            before = [finish(d) for d in deps[key] if d in deps and d not in path]
            path.discard(key)
            memo[key] = cost[key] + max(before, default=0.0)
        return memo[key]

    return max((finish(k) for k in deps), default=0.0)


def remaining_s(step: StepTiming, now: datetime) -> float:
    """Expected seconds of work left in the step."""
    expected = step.expected_duration_s or 0.0
    if step.state in DONE:
        return 0.0
    if step.state in ACTIVE and step.started_at is not None:
        return max(0.0, expected - (now - step.started_at).total_seconds())
    return expected


def expected_finish(steps: list[StepTiming], now: datetime) -> datetime:
    cost = {s.key: remaining_s(s, now) for s in steps}
    return now + timedelta(seconds=_critical_path(steps, cost))


def plan_jeopardy(
    due_at: datetime | None, now: datetime, steps: list[StepTiming], margin: Margin = Margin()
) -> Jeopardy | None:
    """The plan's jeopardy at ``now``; None without a due date."""
    if due_at is None:
        return None
    finish = expected_finish(steps, now)
    if now > due_at or finish > due_at:
        return Jeopardy.LATE
    total = _critical_path(steps, {s.key: s.expected_duration_s or 0.0 for s in steps})
    if finish > due_at - timedelta(seconds=margin.of(total)):
        return Jeopardy.AT_RISK
    return Jeopardy.ON_TIME


def step_jeopardy(step: StepTiming, now: datetime) -> Jeopardy | None:
    """The step against its expected duration; None without one."""
    expected = step.expected_duration_s
    if not expected or step.started_at is None:
        return None if not expected else Jeopardy.ON_TIME
    if step.state in DONE or step.state == "failed":
        end = step.finished_at or now
        late = (end - step.started_at).total_seconds() > expected
        return Jeopardy.LATE if late else Jeopardy.ON_TIME
    if step.state not in ACTIVE:
        return Jeopardy.ON_TIME
    elapsed = (now - step.started_at).total_seconds()
    if elapsed > expected:
        return Jeopardy.LATE
    return Jeopardy.AT_RISK if elapsed > STEP_RISK_SHARE * expected else Jeopardy.ON_TIME


def due_date(order: dict[str, Any], field: str, fallback: str = "EffectiveDate") -> datetime | None:
    """The order's requested date: ``field``, else ``fallback``; a date means its end (UTC)."""
    for name in (field, fallback):
        when = _parse(order.get(name))
        if when is not None:
            return when
    return None


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, END_OF_DAY)
    elif isinstance(value, str) and value:
        try:
            parsed = (
                datetime.combine(date.fromisoformat(value), END_OF_DAY)
                if len(value) == 10
                else datetime.fromisoformat(value.replace("Z", "+00:00"))
            )
        except ValueError:
            return None
    else:
        return None
    return aware(parsed)
