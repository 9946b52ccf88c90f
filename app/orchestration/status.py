"""What a plan's state means on the Salesforce Order: the configurable status map."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import WritebackSettings
from app.salesforce import outbox


def plan_state_fields(
    settings: WritebackSettings, state: str, error: str | None = None
) -> dict[str, Any] | None:
    """The Order field values for a plan state; None when the map has no entry."""
    value = settings.status_map.get(state)
    if value is None:
        return None
    fields: dict[str, Any] = {settings.status_field: value}
    if settings.error_field:
        fields[settings.error_field] = error[:32000] if error else None
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
