"""Run one claimed step and classify its outcome.  No database access here."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from connectors.base import CallContext, Connector
from connectors.errors import (
    AmbiguousError,
    ConnectorError,
    FatalError,
    RateLimitedError,
    RetryableError,
)


class Outcome(StrEnum):
    COMPLETED = "completed"
    RETRY = "retry"  # transient: try again after a delay
    FATAL = "fatal"  # business or configuration error: needs a person or new data


@dataclass(frozen=True)
class ClaimedStep:
    id: int
    plan_id: int
    key: str
    kind: str
    connector: str | None
    action: str | None
    attempt: int
    idempotency_key: str
    input: dict[str, Any]
    order_id: str
    correlation_id: str
    definition: str


@dataclass
class StepResult:
    outcome: Outcome
    output: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retry_after_s: float | None = None
    error_type: str | None = None
    status_code: int | None = None
    external_id: str | None = None
    started: float = 0.0


class StepExecutor:
    def __init__(self, connectors: Mapping[str, Connector], timeout_s: float = 30.0) -> None:
        self.connectors = connectors
        self.timeout_s = timeout_s

    async def run(self, step: ClaimedStep) -> StepResult:
        started = time.time()
        try:
            result = await self._run(step)
        except Exception as exc:  # a bug or an unexpected library error: retry, keep the text
            result = StepResult(
                Outcome.RETRY, error=f"{type(exc).__name__}: {exc}", error_type=type(exc).__name__
            )
        result.started = started
        return result

    async def _run(self, step: ClaimedStep) -> StepResult:
        if step.kind == "validate":
            errors = step.input.get("errors") or []
            if errors:
                return StepResult(Outcome.FATAL, error="; ".join(errors), error_type="validation")
            return StepResult(Outcome.COMPLETED)
        if step.kind == "callout":
            return await self._callout(step)
        return StepResult(
            Outcome.FATAL, error=f"unknown step kind {step.kind!r}", error_type="configuration"
        )

    async def _callout(self, step: ClaimedStep) -> StepResult:
        connector = self.connectors.get(step.connector or "")
        if connector is None:
            return StepResult(
                Outcome.FATAL,
                error=f"connector {step.connector!r} is not configured",
                error_type="configuration",
            )
        ctx = CallContext(
            idempotency_key=step.idempotency_key,
            correlation_id=step.correlation_id,
            attempt=step.attempt,
            action=step.action or "",
            timeout_s=self.timeout_s,
        )
        payload = step.input.get("payload") or {}
        try:
            found = (
                await connector.find_existing(ctx.action, payload, ctx)
                if step.attempt > 1
                else None
            )
            result = found or await connector.call(ctx.action, payload, ctx)
        except RateLimitedError as exc:
            return StepResult(
                Outcome.RETRY,
                error=str(exc),
                retry_after_s=exc.retry_after,
                error_type="rate_limited",
                status_code=exc.status_code,
            )
        except (RetryableError, AmbiguousError) as exc:
            return StepResult(
                Outcome.RETRY,
                error=str(exc),
                error_type=type(exc).__name__,
                status_code=exc.status_code,
            )
        except FatalError as exc:
            return StepResult(
                Outcome.FATAL,
                error=str(exc),
                error_type=type(exc).__name__,
                status_code=exc.status_code,
            )
        except ConnectorError as exc:
            return StepResult(Outcome.RETRY, error=str(exc), error_type=type(exc).__name__)
        return StepResult(
            Outcome.COMPLETED,
            output={
                "external_id": result.external_id,
                "response": result.response,
                "found_existing": found is not None,
            },
            external_id=result.external_id,
            status_code=result.status_code,
        )
