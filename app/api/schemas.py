"""Response shapes of the operator API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


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


class OrderOut(BaseModel):
    order_id: str
    plans: list[PlanOut]


class Problem(BaseModel):
    detail: str
