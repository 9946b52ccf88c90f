"""The plan page's content built from plain rows: pure (no I/O).

Which actions each step offers follows the state machine's rules
(``revflow.plans.state``): retry a failed step, skip a pending/ready/retrying/waiting
or failed one, complete a waiting one, redrive from a failed or skipped one; cancel a
plan that is not finished.  The server checks again when the action runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from revflow.console.record_diff import FieldChange, diff_records
from revflow.console.redact import redact
from revflow.plans.state import FINAL_PLAN, SKIPPABLE, PlanState, StepState


@dataclass(frozen=True)
class AttemptView:
    attempt: int
    outcome: str
    status_code: int | None
    error: str | None
    started_at: datetime | None
    duration_s: float | None


@dataclass(frozen=True)
class StepView:
    key: str
    kind: str
    state: str
    depends_on: tuple[str, ...]
    connector: str | None
    action: str | None
    attempts: int
    error: str | None
    jeopardy: str | None
    mapping_hash: str | None
    started_at: datetime | None
    finished_at: datetime | None
    note: str | None
    request: str  # the input, redacted, as indented JSON
    answer: str  # the output, redacted
    tries: list[AttemptView] = field(default_factory=list)
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RevisionDiff:
    from_id: int
    to_id: int
    taken_at: datetime
    changes: list[FieldChange]


def pretty(value: Any) -> str:
    if value in (None, {}, []):
        return ""
    return json.dumps(redact(value), indent=2, sort_keys=True, default=str)


def step_actions(state: str, plan_state: str) -> tuple[str, ...]:
    if plan_state in FINAL_PLAN:
        return ()
    st = StepState(state)
    out: list[str] = []
    if st is StepState.FAILED:
        out.append("retry")
    if st is StepState.WAITING:
        out.append("complete")
    if st in SKIPPABLE:
        out.append("skip")
    if st in (StepState.FAILED, StepState.SKIPPED):
        out.append("redrive")
    return tuple(out)


def plan_actions(plan_state: str) -> tuple[str, ...]:
    return () if PlanState(plan_state) in FINAL_PLAN else ("cancel",)


def attempt_view(
    attempt: int,
    outcome: str,
    status_code: int | None,
    error: str | None,
    started_at: datetime | None,
    finished_at: datetime | None,
) -> AttemptView:
    duration = (finished_at - started_at).total_seconds() if started_at and finished_at else None
    return AttemptView(
        attempt, outcome, status_code, redact(error) if error else None, started_at, duration
    )


def revision_diffs(revisions: Sequence[tuple[int, datetime, dict[str, Any]]]) -> list[RevisionDiff]:
    """Each revision of the order against the one before it."""
    return [
        RevisionDiff(a[0], b[0], b[1], diff_records(redact(a[2]), redact(b[2])))
        for a, b in zip(revisions, revisions[1:], strict=False)
    ]
