"""What plan and step states mean on the Salesforce Order: the configurable status map.

``WritebackSettings.status_map`` maps a plan state (``in_progress``, ``on_hold``,
``completed``, ``cancelled``, ``failed``...) to the Order status value, and may map
a step state as ``"<step key>.<state>"`` (``"create_invoice.completed": "Invoiced"``).
States without an entry write nothing.  The Order error field carries the hold
reason (or is cleared).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import WritebackSettings
from app.salesforce import outbox

ERROR_LIMIT = 32000


def plan_state_fields(
    settings: WritebackSettings, state: str, error: str | None = None
) -> dict[str, Any] | None:
    """The Order field values for a plan state; None when the map has no entry."""
    value = settings.status_map.get(state)
    if value is None:
        return None
    fields: dict[str, Any] = {settings.status_field: value}
    if settings.error_field:
        fields[settings.error_field] = error[:ERROR_LIMIT] if error else None
    return fields


def write_plan_state(
    session: AsyncSession,
    settings: WritebackSettings,
    order_id: str,
    state: str,
    correlation_id: str,
    error: str | None = None,
) -> None:
    fields = plan_state_fields(settings, state, error)
    if fields:
        outbox.enqueue(session, "Order", order_id, fields, correlation_id)


def write_step_state(
    session: AsyncSession,
    settings: WritebackSettings,
    order_id: str,
    step_key: str,
    state: str,
    correlation_id: str,
) -> None:
    """Enqueue the Order status for a step state when the map has ``"<key>.<state>"``."""
    value = settings.status_map.get(f"{step_key}.{state}")
    if value is not None:
        outbox.enqueue(session, "Order", order_id, {settings.status_field: value}, correlation_id)
