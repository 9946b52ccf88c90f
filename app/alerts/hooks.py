"""The ``AlertEvent`` of each kind of problem, built where the problem is recorded.

Pure constructors: the recording code calls ``raise_alert(s, hooks.step_fallout(...))``
in its own transaction.  ``{order}`` in a title becomes the order's number (or id)
once the alert service has read the order.
"""

from __future__ import annotations

from typing import Protocol

from revflow.alerts.events import AlertEvent
from revflow.alerts.message import EventKind, Severity


class _Step(Protocol):
    @property
    def plan_id(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def connector(self) -> str | None: ...
    @property
    def action(self) -> str | None: ...
    @property
    def order_id(self) -> str: ...
    @property
    def definition(self) -> str: ...


def step_fallout(step: _Step, error: str | None, error_type: str | None) -> AlertEvent:
    """A step failed for good: its plan is on hold until an operator acts."""
    what = f" ({step.connector} {step.action})" if step.connector and step.action else ""
    return AlertEvent(
        kind=EventKind.STEP_FALLOUT,
        subject=f"plan:{step.plan_id}",
        title=f"Step {step.key} failed on order {{order}}",
        summary=(
            f"Step {step.key}{what} of plan {step.plan_id} failed and will not be retried; "
            "the plan is on hold until someone retries, skips or completes the step."
        ),
        plan_id=step.plan_id,
        plan_definition=step.definition,
        order_id=step.order_id,
        step=step.key,
        connector=step.connector,
        error_class=error_type,
        error_message=error,
    )


def jeopardy(
    plan_id: int, order_id: str, definition: str | None, verdict: str | None
) -> AlertEvent | None:
    """A plan turned at risk or late (None for on time)."""
    if verdict not in ("at_risk", "late"):
        return None
    kind = EventKind.JEOPARDY_LATE if verdict == "late" else EventKind.JEOPARDY_AT_RISK
    word = "is late" if verdict == "late" else "is at risk of missing its date"
    return AlertEvent(
        kind=kind,
        subject=f"plan:{plan_id}",
        title=f"Order {{order}} {word}",
        summary=f"Plan {plan_id} {word}: its expected finish is past (or close to) the due date.",
        plan_id=plan_id,
        plan_definition=definition,
        order_id=order_id,
        severity=Severity.ERROR if verdict == "late" else None,
    )


def endpoint_disabled(connector: str, reason: str) -> AlertEvent:
    return AlertEvent(
        kind=EventKind.WEBHOOK_ENDPOINT_DISABLED,
        subject=f"endpoint:{connector}",
        title=f"Webhook endpoint {connector} disabled",
        summary=(
            f"Revflow stopped sending to the {connector} webhook endpoint; its messages are "
            "parked until an admin enables it and replays them."
        ),
        connector=connector,
        error_class="EndpointDisabled",
        error_message=reason,
    )


def incident(kind: str, key: str, message: str) -> AlertEvent:
    """An incident: a permanent query error (``salesforce_permanent``), or a fault in
    ingestion (an expired replay id, a gap, a write-back nobody can see)."""
    event_kind = (
        EventKind.PERMANENT_QUERY_ERROR
        if kind == "salesforce_permanent"
        else EventKind.INGESTION_INCIDENT
    )
    return AlertEvent(
        kind=event_kind,
        subject=f"incident:{key}",
        title=f"Incident: {kind}",
        summary=message,
        error_class=kind,
        error_message=message,
    )


def writeback_refused(plan_id: int | None, order_id: str, code: str, message: str) -> AlertEvent:
    """Salesforce refused a write-back (a validation rule, a field error)."""
    return AlertEvent(
        kind=EventKind.VALIDATION_FAILURE,
        subject=f"plan:{plan_id}" if plan_id is not None else f"order:{order_id}",
        title="Salesforce refused the update of order {order}",
        summary=(
            "Salesforce refused Revflow's update of the order (a validation rule or a field "
            "error); the order does not show the plan's progress until the rule lets it."
        ),
        plan_id=plan_id,
        order_id=order_id,
        error_class=code,
        error_message=message,
    )


def budget_exhausted(calls: int, budget: int | None, work: str) -> AlertEvent:
    return AlertEvent(
        kind=EventKind.API_BUDGET_EXHAUSTED,
        subject="salesforce:budget",
        title="Revflow's Salesforce API budget is used up",
        summary=(
            f"Revflow made {calls} Salesforce API calls in 24 hours (budget {budget}); "
            f"non-urgent work ({work}) waits until older calls roll off."
        ),
        error_class="ApiBudgetExhausted",
        error_message=f"{calls} of {budget} calls",
    )


def loop_down(loop: str, error: str | None, down_s: float) -> AlertEvent:
    return AlertEvent(
        kind=EventKind.LOOP_DOWN,
        subject=f"loop:{loop}",
        title=f"Revflow's {loop} loop is down",
        summary=f"The {loop} loop has been failing for {down_s:.0f} s and is being restarted.",
        error_class="LoopDown",
        error_message=error,
    )
