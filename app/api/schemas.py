"""Request and response shapes of the operator API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from revflow.clock import aware
from revflow.orchestration import actors
from revflow.orchestration.actors import REASON_MAX

# a Salesforce record id (15 or 18 characters), in paths and queries
ORDER_ID = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
# a time in an answer: always with its zone (SQLite hands back naive UTC datetimes,
# which the document's date-time format does not allow)
Utc = Annotated[datetime, AfterValidator(aware)]
# documents that actor and reason may not be blank; check_actor says so with a 400
NOT_BLANK: dict[str, Any] = {"pattern": actors.NOT_BLANK}


class StepOut(BaseModel):
    key: str
    kind: str
    state: str
    depends_on: list[str]
    attempts: int
    connector: str | None
    action: str | None
    idempotency_key: str
    due_at: Utc | None
    started_at: Utc | None
    finished_at: Utc | None
    error: str | None
    output: dict[str, Any] | None
    mapping_hash: str | None
    wait_key: str | None = None
    wait_until: Utc | None = None
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
    created_at: Utc
    completed_at: Utc | None
    steps: list[StepOut]
    hold_reason: str | None = None
    due_at: Utc | None = None  # the order's requested date
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
    reason: str = Field(min_length=1, max_length=REASON_MAX, json_schema_extra=NOT_BLANK)


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
    at: Utc
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
    since: Utc | None
