"""What plan and step states mean on the Salesforce record: the configurable status map.

The record is the plan's Order or Quote (``salesforce.targets``: its id tells which,
and which fields it has).

``WritebackSettings.status_map`` maps a plan state (``in_progress``, ``on_hold``,
``completed``, ``cancelled``, ``failed``...) to the Order status value, and may map
a step state as ``"<step key>.<state>"`` (``"create_invoice.completed": "Invoiced"``).
States without an entry write nothing.  The Order error field carries the hold
reason (or is cleared).

With ``WritebackSettings.process_exceptions`` on, a plan going on hold (a step failed
fatally: fallout) also creates a ProcessException record attached to the Order,
through the outbox (a create, batched with others in Collections calls).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.config import WritebackSettings
from revflow.salesforce import outbox
from revflow.salesforce.targets import ORDER, fields_for

ERROR_LIMIT = 32000
MESSAGE_LIMIT = 255  # ProcessException.Message
DESCRIPTION_LIMIT = 32000  # ProcessException.Description


def plan_state_fields(
    settings: WritebackSettings, state: str, error: str | None = None, record_id: str = ""
) -> dict[str, Any] | None:
    """The record's field values for a plan state; None when the map has no entry."""
    target = fields_for(settings, record_id)
    value = target.status_map.get(state)
    if value is None:
        return None
    fields: dict[str, Any] = {target.status_field: value}
    if target.error_field:
        fields[target.error_field] = error[:ERROR_LIMIT] if error else None
    return fields


def write_plan_state(
    session: AsyncSession,
    settings: WritebackSettings,
    order_id: str,
    state: str,
    correlation_id: str,
    error: str | None = None,
    plan_id: int | None = None,
) -> None:
    sobject = fields_for(settings, order_id).sobject
    fields = plan_state_fields(settings, state, error, order_id)
    if fields:
        outbox.enqueue(session, sobject, order_id, fields, correlation_id)
    # ProcessException attaches to Orders (Order Management); a Quote's error field shows it
    if state == "on_hold" and error and settings.process_exceptions and sobject == ORDER:
        write_process_exception(session, settings, order_id, correlation_id, error, plan_id)


def process_exception_fields(
    settings: WritebackSettings,
    order_id: str,
    correlation_id: str,
    error: str,
    plan_id: int | None = None,
) -> dict[str, Any]:
    """A ProcessException for a hold reason ``"<step key>: <error>"``."""
    step_key, _, text = error.partition(": ")
    plan_ref = f"plan/{plan_id}" if plan_id is not None else correlation_id
    message = f"Revflow step {step_key} failed: {text or error}"
    return {
        "AttachedToId": order_id,
        "Category": settings.process_exception_category,
        "Severity": settings.process_exception_severity,
        "Priority": settings.process_exception_priority,
        "Status": "New",
        "Message": _clip(message, MESSAGE_LIMIT),
        "Description": _clip(error, DESCRIPTION_LIMIT),
        "ExternalReference": _clip(f"{plan_ref}/step/{step_key}", 255),
    }


def write_process_exception(
    session: AsyncSession,
    settings: WritebackSettings,
    order_id: str,
    correlation_id: str,
    error: str,
    plan_id: int | None = None,
) -> None:
    fields = process_exception_fields(settings, order_id, correlation_id, error, plan_id)
    outbox.create(
        session, "ProcessException", fields, about=order_id, correlation_id=correlation_id
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_step_state(
    session: AsyncSession,
    settings: WritebackSettings,
    order_id: str,
    step_key: str,
    state: str,
    correlation_id: str,
) -> None:
    """Enqueue the record's status for a step state when the map has ``"<key>.<state>"``."""
    target = fields_for(settings, order_id)
    value = target.status_map.get(f"{step_key}.{state}")
    if value is not None:
        fields = {target.status_field: value}
        outbox.enqueue(session, target.sobject, order_id, fields, correlation_id)
