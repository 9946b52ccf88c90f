"""Run one claimed step and classify its outcome.  No database access here.

Step kinds: ``validate`` and ``callout`` (a connector action); ``milestone``
(completes at once); ``pause`` (completes at ``wait_until``, or ``input.pause.for_s``
after it was first claimed; claimed early it is deferred); ``wait`` (parks in
``waiting`` until a Signal with ``wait_key`` arrives, see the worker); ``manual``
(parks in ``waiting`` for an operator); ``auto``: input ``{"auto": {"action":
"update_fields", "fields": {...}, "object"?, "record_id"?}}`` enqueues a write-back,
``{"auto": {"action": "publish_event", "event": "X__e", "fields": {...}}}`` an event.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from revflow.clock import utcnow
from revflow.connectors.base import CallContext, Connector
from revflow.connectors.errors import (
    AmbiguousError,
    ConnectorError,
    EndpointDisabledError,
    FatalError,
    RateLimitedError,
    RetryableError,
)


class Outcome(StrEnum):
    COMPLETED = "completed"
    RETRY = "retry"  # transient: try again after a delay
    FATAL = "fatal"  # business or configuration error: needs a person or new data
    WAIT = "wait"  # park in `waiting` for a signal or an operator
    DEFER = "defer"  # not due yet (a pause): back to `ready` at `due_at`


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
    wait_key: str | None = None
    wait_until: datetime | None = None
    assignee: str | None = None
    retry_policy: dict[str, Any] | None = None
    compensating: bool = False  # runs input["compensation"] (see compensation.py)
    chained: int = 0  # steps of its plan this worker ran in a row before it, unclaimed


@dataclass(frozen=True)
class Write:
    """A write-back the step asks for, enqueued in the outcome's transaction."""

    sobject: str
    record_id: str
    fields: dict[str, Any]


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
    due_at: datetime | None = None  # for DEFER
    writes: list[Write] = field(default_factory=list)


class StepExecutor:
    def __init__(
        self,
        connectors: Mapping[str, Connector],
        timeout_s: float = 30.0,
        timeouts: Mapping[str, float] | None = None,
    ) -> None:
        """``timeout_s`` bounds each call; ``timeouts`` per connector name override it."""
        self.connectors = connectors
        self.timeout_s = timeout_s
        self.timeouts = dict(timeouts or {})

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
        if step.kind == "milestone":
            return StepResult(Outcome.COMPLETED)
        if step.kind == "pause":
            until = step.wait_until
            for_s = (step.input.get("pause") or {}).get("for_s")
            if until is None and for_s:
                until = utcnow() + timedelta(seconds=float(for_s))
            if until and utcnow() < until:
                return StepResult(Outcome.DEFER, due_at=until)
            return StepResult(Outcome.COMPLETED)
        if step.kind == "wait":
            if not step.wait_key:
                return StepResult(
                    Outcome.FATAL, error="wait step has no wait_key", error_type="configuration"
                )
            return StepResult(Outcome.WAIT)
        if step.kind == "manual":
            return StepResult(Outcome.WAIT)
        if step.kind == "auto":
            return self._auto(step)
        return StepResult(
            Outcome.FATAL, error=f"unknown step kind {step.kind!r}", error_type="configuration"
        )

    def _auto(self, step: ClaimedStep) -> StepResult:
        spec = step.input.get("auto") or step.input
        action = spec.get("action") or step.action
        fields = spec.get("fields")
        if not isinstance(fields, dict) or not fields:
            return _config_error(f"auto step {step.key!r} has no fields to write")
        if action == "update_fields":
            target = str(spec.get("object") or "Order")
            write = Write(target, str(spec.get("record_id") or step.order_id), fields)
        elif action == "publish_event":
            event = spec.get("event")
            if not isinstance(event, str) or not event.endswith("__e"):
                return _config_error(f"auto step {step.key!r} names no platform event (X__e)")
            # an outbox create (the name ends in __e): the flusher publishes it with
            # other events in one sObject Collections create; record_id is the Order
            write = Write(event, step.order_id, fields)
        else:
            return _config_error(f"unknown auto action {action!r}")
        return StepResult(Outcome.COMPLETED, output={"written": fields}, writes=[write])

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
            timeout_s=self.timeouts.get(step.connector or "", self.timeout_s),
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
        except EndpointDisabledError as exc:
            return _parked(step, exc)
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


def _parked(step: ClaimedStep, exc: EndpointDisabledError) -> StepResult:
    """Nothing was sent: the endpoint is disabled.  The step parks in ``waiting`` until
    an operator enables the endpoint and replays it (``app/webhooks/endpoints.py`` says
    why); a compensation is deferred an hour at a time instead (it stays compensating)."""
    if step.compensating:
        return StepResult(
            Outcome.DEFER,
            error=str(exc),
            error_type="endpoint_disabled",
            status_code=exc.status_code,
            due_at=utcnow() + timedelta(hours=1),
        )
    return StepResult(
        Outcome.WAIT, error=str(exc), error_type="endpoint_disabled", status_code=exc.status_code
    )


def _config_error(message: str) -> StepResult:
    return StepResult(Outcome.FATAL, error=message, error_type="configuration")
