"""The append-only audit log: every state change and operator action, with who and why."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import AuditEntry


def record(
    session: AsyncSession,
    actor: str,
    action: str,
    *,
    plan_id: int | None = None,
    order_id: str | None = None,
    correlation_id: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            plan_id=plan_id,
            order_id=order_id,
            correlation_id=correlation_id,
            detail=detail,
        )
    )
