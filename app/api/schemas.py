"""Request and response shapes of the operator API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from revflow.orchestration.actors import REASON_MAX


class StepOut(BaseModel):
    key: str
    kind: str
    state: str
    depends_on: list[str]
    attempts: int
    connector: str | None
    action: str | None
    idempotency_key: str
    due_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    output: dict[str, Any] | None
    mapping_hash: str | None
    wait_key: str | None = None
    wait_until: datetime | None = None
    assignee: str | None = None
    note: str | None = None
    ponr: bool = False
    expected_duration_s: float | None = None
    jeopardy: str | None = None  # on_time | at_risk | late; None: unknown


class PlanOut(BaseModel):
    id: int
    order_id: str
    scenario: str
    definition: str
    correlation_id: str
    state: str
    error: str | None
    mapping_hashes: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None
    steps: list[StepOut]
    hold_reason: str | None = None
    due_at: datetime | None = None  # the order's requested date
    jeopardy: str | None = None  # on_time | at_risk | late; None: unknown
    version: int = 1  # 1 + the amendments applied
    change: dict[str, Any] | None = None  # the amendment or cancellation in progress


class OrderOut(BaseModel):
    order_id: str
    plans: list[PlanOut]


class Problem(BaseModel):
    detail: str


# what every route that needs an identity may answer (revflow.security.dependencies)
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no valid credentials (API key or session)"},
    403: {"model": Problem, "description": "the caller's role is too weak, or no CSRF token"},
}


class ActionIn(BaseModel):
    """Why (to the audit log, with the authenticated caller as the actor)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=REASON_MAX)


class RetryIn(ActionIn):
    input: dict[str, Any] | None = None  # replaces the step's input when given


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=REASON_MAX)
    output: dict[str, Any] | None = None


class RedriveIn(ActionIn):
    step: str = Field(min_length=1, max_length=100)  # the failed step to run again from


class ActionOut(BaseModel):
    plan_id: int
    action: str
    plan_state: str
    changed: dict[str, str]


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class FalloutOut(BaseModel):
    plan_id: int
    order_id: str
    plan_state: str
    step: str
    kind: str
    error: str | None
    attempts: int
    since: datetime | None
